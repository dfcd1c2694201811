"""Cross-attention of an encoder–decoder (T5 family): for each token the decoder writes,
which source tokens it read, layer by layer and head by head.

    view = mi.cross_attention(model, "translate English to German: The house is wonderful.")
    view.cross_attention            # float32 [layer, head, target_token, source_token]
    view = mi.cross_attention(model, source, target_text="Das Haus ist wunderbar.")  # teacher-forced

Two ways to get a target: the model writes it (greedy, at most `max_new_tokens` tokens, its
attention recorded step by step as it wrote), or you give it and the decoder reads it all
at once (teacher forcing). On the same tokens the two give the same attention: a step of
greedy decoding sees exactly the tokens before it, as a teacher-forced row does.
"""
from __future__ import annotations

from ..models import load
from ..types import InputError
from ..types.seq2seq import CrossAttentionView, DecoderLens
from .limits import Limits, check_text, limits

DEFAULT_NEW_TOKENS = 16


def adapter_with(model, kind: str, refusal: str):
    """The adapter (a registry name is loaded) if it is of `kind` (its flag: "seq2seq",
    "vlm"); else an InputError: its name, then `refusal`."""
    adapter = load(model) if isinstance(model, str) else model
    if not getattr(adapter, kind, False):
        raise InputError(f"{getattr(adapter, 'name', type(adapter).__name__)} {refusal}")
    return adapter


def as_seq2seq_adapter(model):
    return adapter_with(model, "seq2seq", "has no decoder that reads an encoder, so it has no "
                        "cross-attention; choose an encoder–decoder such as 't5-small'.")


def _new_tokens(max_new_tokens, lim: Limits) -> int:
    """The cap on target tokens: given, or the default, never above the host's limit."""
    if max_new_tokens is None:
        return min(DEFAULT_NEW_TOKENS, lim.max_new_tokens)
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise InputError(f"max_new_tokens must be a whole number of at least 1, got {max_new_tokens!r}.")
    if max_new_tokens > lim.max_new_tokens:
        raise InputError(f"max_new_tokens is {max_new_tokens}; the limit is {lim.max_new_tokens} "
                         "(MMINSPECT_MAX_NEW_TOKENS). Ask for fewer tokens.")
    return max_new_tokens


def _text(text, lim: Limits, what: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"{what} is empty. Type a sentence, e.g. "
                         "'translate English to German: The house is wonderful.'")
    check_text(text, lim, what)
    return text


def _source_ids(adapter, text: str) -> list[int]:
    ids = adapter.token_ids(text)
    if len(ids) > adapter.max_source_tokens:
        raise InputError(f"The source text is {len(ids)} tokens; this model reads at most "
                         f"{adapter.max_source_tokens} here. Paste a shorter passage.")
    return ids


def _target_ids(adapter, text: str, cap: int) -> list[int]:
    ids = adapter.token_ids(text)                        # the words, then the end token </s>
    if len(ids) > cap:
        raise InputError(f"The target text is {len(ids)} tokens (the end token </s> included); "
                         f"at most {cap} are read (max_new_tokens). Shorten it or raise "
                         "max_new_tokens.")
    return ids


def teacher_forced(adapter, source_text: str, source_ids: list[int], target_ids: list[int],
                   generated: bool = False, stopped: str = "given",
                   logit_lens: bool = False) -> CrossAttentionView:
    """The view of a target given as ids, read in one pass (no limits checked here: callers
    check them first)."""
    att = adapter.teacher_forced(source_ids, target_ids)
    return _view(adapter, source_text, source_ids, target_ids, att, generated, stopped, logit_lens)


def _lens(adapter, source_ids, target_ids) -> DecoderLens:
    got = adapter.decoder_lens(source_ids, target_ids)
    return DecoderLens(top_ids=got["top_ids"], top_probs=got["top_probs"],
                       target_probs=got["target_probs"],
                       top_tokens=[[adapter.tokens(row) for row in layer] for layer in got["top_ids"].tolist()])


def _view(adapter, source_text, source_ids, target_ids, att, generated, stopped,
          logit_lens: bool) -> CrossAttentionView:
    return CrossAttentionView(
        model=adapter.name, source_text=source_text, source_tokens=adapter.tokens(source_ids),
        target_tokens=adapter.tokens(target_ids),
        decoder_tokens=adapter.tokens([adapter.start_id, *target_ids[:-1]]),
        target_ids=list(target_ids), generated=generated, stopped=stopped,
        encoder_attention=att["encoder"], decoder_attention=att["decoder"],
        cross_attention=att["cross"],
        lens=_lens(adapter, source_ids, target_ids) if logit_lens else None)


def cross_attention(model, source_text: str, target_text: str | None = None,
                    max_new_tokens: int | None = None, logit_lens: bool = False) -> CrossAttentionView:
    """Encoder, decoder and cross-attention of every layer and head for one source text.

    model: a loaded encoder–decoder adapter or a registry name ("t5-small").
    target_text: None: the model writes the target (greedy, at most `max_new_tokens`
    tokens, default 16); a string: the decoder reads it (teacher forcing), </s> appended.
    logit_lens: also read each decoder layer through the output head (`view.lens`, one more
    teacher-forced pass on the target).
    """
    lim = limits()                  # every limit before any model work (api/limits.py)
    source_text = _text(source_text, lim, "The source text")
    if target_text is not None:
        target_text = _text(target_text, lim, "The target text")
    cap = _new_tokens(max_new_tokens, lim)
    adapter = as_seq2seq_adapter(model)
    source_ids = _source_ids(adapter, source_text)
    if target_text is not None:
        return teacher_forced(adapter, source_text, source_ids, _target_ids(adapter, target_text, cap),
                              logit_lens=logit_lens)
    written, att = adapter.generate(source_ids, cap)
    stopped = "end" if written and written[-1] == adapter.end_id else "max_new_tokens"
    return _view(adapter, source_text, source_ids, written, att, True, stopped, logit_lens)
