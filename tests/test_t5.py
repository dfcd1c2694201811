"""T5-style encoder–decoders: cross-attention captured per layer and head, checked against
transformers' own `output_attentions` and against a recomputation from the weights, on a
tiny random T5 built here (no download)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import mminspect.api.seq2seq as s2s
from mminspect.models import registry
from mminspect.models.hf_t5 import HFT5Adapter
from mminspect.types import InputError
from mminspect.types.seq2seq import CrossAttentionView

PIECES = ["▁the", "▁cat", "▁sat", "▁on", "▁mat", "▁a", "▁dog", "▁red", "▁blue", "▁is", "▁.",
          "▁house", "▁big", "s", "▁"]
SOURCE = "the cat sat on the mat"


def build_tiny_t5(folder):
    """A random T5ForConditionalGeneration (2 + 2 layers, 2 heads) and its SentencePiece-style
    tokenizer saved to `folder`, as a hub checkpoint looks (the browser test opens it too)."""
    from transformers import T5Config, T5ForConditionalGeneration, T5TokenizerFast
    folder.mkdir(parents=True, exist_ok=True)
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)] + [(p, -1.0 - i) for i, p in enumerate(PIECES)]
    T5TokenizerFast(vocab=vocab, extra_ids=0).save_pretrained(folder)
    cfg = T5Config(vocab_size=len(vocab), d_model=16, d_kv=8, d_ff=32, num_layers=2,
                   num_decoder_layers=2, num_heads=2, decoder_start_token_id=0, pad_token_id=0,
                   eos_token_id=1)
    torch.manual_seed(0)
    T5ForConditionalGeneration(cfg).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_t5_dir(tmp_path_factory):
    return build_tiny_t5(tmp_path_factory.mktemp("tiny_t5"))


@pytest.fixture(scope="module")
def t5(tiny_t5_dir):
    return registry.load(str(tiny_t5_dir))


def test_a_saved_t5_folder_opens_as_the_t5_family(t5):
    assert isinstance(t5, HFT5Adapter) and t5.family == "hf_t5"
    assert t5.model.config._attn_implementation == "eager"
    assert t5.sizes() == {"layers": 2, "decoder_layers": 2, "d_model": 16, "heads": 2}


def test_t5_small_is_a_curated_hub_entry_that_downloads_on_first_use():
    row = {r["name"]: r for r in registry.list_models()}["t5-small"]
    assert row["family"] == "hf_t5" and not row["bundled"] and row["modality"] == "seq2seq"
    assert "downloads on first use" in row["label"]
    assert registry._hub_family("google-t5/t5-small") == "hf_t5"


def own_attentions(t5, source_ids, target_ids):
    """transformers' own output_attentions, the decoder input built by T5's _shift_right."""
    labels = torch.tensor([target_ids])
    out = t5.model(input_ids=torch.tensor([source_ids]), labels=labels, output_attentions=True)
    return out


def test_teacher_forced_attention_equals_transformers_own(t5):
    target = "a red dog is big"
    view = s2s.cross_attention(t5, SOURCE, target_text=target)
    src, tgt = t5.token_ids(SOURCE), t5.token_ids(target)
    out = own_attentions(t5, src, tgt)
    for mine, theirs in ((view.cross_attention, out.cross_attentions),
                         (view.decoder_attention, out.decoder_attentions),
                         (view.encoder_attention, out.encoder_attentions)):
        np.testing.assert_allclose(mine, torch.stack(theirs)[:, 0].detach().numpy(), atol=1e-6)
    assert view.cross_attention.shape == (2, 2, len(tgt), len(src))
    assert view.target_tokens[-1] == "</s>" and view.decoder_tokens[0] == "<pad>"
    assert view.decoder_tokens[1:] == view.target_tokens[:-1] and view.stopped == "given"


def test_cross_attention_equals_a_recomputation_from_the_weights(t5):
    """softmax(q k^T) from each cross-attention's own q and k projections (T5 does not scale
    by 1/sqrt(d) and its cross-attention has no position bias), fed by the inputs a hook
    recorded: an independent route to the same numbers."""
    seen = []

    def record(module, args, kwargs):
        seen.append((module, args[0] if args else kwargs["hidden_states"], kwargs["key_value_states"]))

    blocks = t5.model.decoder.block
    hooks = [b.layer[1].EncDecAttention.register_forward_pre_hook(record, with_kwargs=True) for b in blocks]
    try:
        view = s2s.cross_attention(t5, SOURCE, target_text="the big house")
    finally:
        for h in hooks:
            h.remove()
    assert len(seen) == len(blocks)
    for layer, (attn, hidden, memory) in enumerate(seen):
        h, d = attn.n_heads, attn.key_value_proj_dim
        q = attn.q(hidden)[0].view(-1, h, d).transpose(0, 1)              # [head, T, d]
        k = attn.k(memory)[0].view(-1, h, d).transpose(0, 1)              # [head, S, d]
        expected = torch.softmax(q @ k.transpose(1, 2), -1).detach().numpy()   # [head, T, S]
        np.testing.assert_allclose(view.cross_attention[layer], expected, atol=1e-5)


def test_each_cross_attention_row_sums_to_one_over_the_source_tokens(t5):
    view = s2s.cross_attention(t5, SOURCE, target_text="a dog")
    assert view.source_tokens == t5.tokens(t5.token_ids(SOURCE))        # no padding columns
    assert "<pad>" not in view.source_tokens
    np.testing.assert_allclose(view.cross_attention.sum(-1), 1.0, atol=1e-5)
    assert np.allclose(np.triu(view.decoder_attention, k=1), 0)        # causal decoder


def test_generated_and_teacher_forced_paths_agree_on_the_same_tokens(t5):
    written = s2s.cross_attention(t5, SOURCE, max_new_tokens=6)
    assert written.generated and len(written.target_ids) >= 3, written.target_ids   # a real test
    assert written.stopped == ("end" if written.target_ids[-1] == t5.end_id else "max_new_tokens")
    forced = s2s.teacher_forced(t5, SOURCE, t5.token_ids(SOURCE), written.target_ids)
    for name in ("encoder_attention", "decoder_attention", "cross_attention"):
        np.testing.assert_allclose(getattr(written, name), getattr(forced, name), atol=1e-5)
    out = t5.model.generate(input_ids=torch.tensor([t5.token_ids(SOURCE)]), max_new_tokens=6,
                            do_sample=False)
    assert written.target_ids == out[0, 1:].tolist()


def test_read_by_gives_one_target_tokens_row_per_head(t5):
    view = s2s.cross_attention(t5, SOURCE, target_text="a red cat")
    np.testing.assert_array_equal(view.read_by(1, layer=0), view.cross_attention[0, :, 1])


@pytest.mark.parametrize("kwargs, words", [
    ({"source_text": ""}, "source text is empty"),
    ({"source_text": "   "}, "source text is empty"),
    ({"source_text": None}, "source text is empty"),
    ({"source_text": SOURCE, "target_text": ""}, "target text is empty"),
    ({"source_text": SOURCE, "max_new_tokens": 0}, "at least 1"),
    ({"source_text": SOURCE, "max_new_tokens": "4"}, "at least 1"),
    ({"source_text": SOURCE, "max_new_tokens": 10_000}, "the limit is"),
    ({"source_text": SOURCE, "target_text": "the cat " * 20, "max_new_tokens": 4}, "at most 4 are read"),
])
def test_bad_inputs_are_refused_with_a_clear_message(t5, kwargs, words):
    with pytest.raises(InputError, match=words):
        s2s.cross_attention(t5, **kwargs)


def test_a_source_over_the_character_limit_is_refused_before_the_model_runs(t5, monkeypatch):
    monkeypatch.setenv("MMINSPECT_MAX_CHARS", "10")
    with pytest.raises(InputError, match="limit is 10"):
        s2s.cross_attention(t5, SOURCE)


def test_a_source_over_the_token_limit_is_refused(t5, monkeypatch):
    monkeypatch.setattr(t5, "max_source_tokens", 3)
    with pytest.raises(InputError, match="at most 3"):
        s2s.cross_attention(t5, SOURCE)


def test_a_model_without_a_decoder_is_refused(tiny_bert):
    with pytest.raises(InputError, match="no cross-attention"):
        s2s.cross_attention(tiny_bert, SOURCE)


def test_the_text_tab_functions_refuse_an_encoder_decoder(t5):
    from mminspect.api import inspect_text
    with pytest.raises(InputError, match="does not read text"):
        inspect_text(t5, SOURCE)


def test_the_view_refuses_attention_whose_rows_do_not_sum_to_one():
    a = np.full((1, 1, 2, 3), 1 / 3, np.float32)                  # [layer, head, T, S]
    kw = dict(model="m", source_text="x", source_tokens=["a", "b", "c"], target_tokens=["x", "y"],
              decoder_tokens=["<pad>", "x"], target_ids=[5, 6], generated=False, stopped="given",
              encoder_attention=np.full((1, 1, 3, 3), 1 / 3), decoder_attention=np.tril(np.ones((1, 1, 2, 2))) / [[1], [2]])
    assert CrossAttentionView(**kw, cross_attention=a).n_heads == 1
    with pytest.raises(ValueError, match="sum to 1"):
        CrossAttentionView(**kw, cross_attention=a * 2)
    with pytest.raises(ValueError, match=r"\[layer, head, 2, 3\]"):
        CrossAttentionView(**kw, cross_attention=a.transpose(0, 1, 3, 2))


def test_the_decoder_lens_last_layer_is_the_models_own_output(t5):
    target = "a red dog"
    view = s2s.cross_attention(t5, SOURCE, target_text=target, logit_lens=True)
    src, tgt = t5.token_ids(SOURCE), t5.token_ids(target)
    probs = own_attentions(t5, src, tgt).logits[0].softmax(-1).detach().numpy()   # [T, vocab]
    lens = view.lens
    assert lens.top_ids.shape == (2, len(tgt), 5) and lens.target_probs.shape == (2, len(tgt))
    np.testing.assert_allclose(lens.target_probs[-1], probs[np.arange(len(tgt)), tgt], atol=1e-5)
    np.testing.assert_array_equal(lens.top_ids[-1, :, 0], probs.argmax(-1))
    assert lens.top_tokens[-1][0][0] == t5.tokens([int(probs[0].argmax())])[0]
    assert np.all(np.diff(lens.top_probs, axis=-1) <= 0)                   # best first
    assert not np.allclose(lens.target_probs[0], lens.target_probs[-1])    # a layer of its own


def test_the_lens_comes_with_a_written_target_too_and_only_when_asked(t5):
    view = s2s.cross_attention(t5, SOURCE, max_new_tokens=4, logit_lens=True)
    assert view.lens.target_probs.shape == (2, len(view.target_ids))
    assert s2s.cross_attention(t5, SOURCE, max_new_tokens=4).lens is None


def test_a_view_with_its_lens_saves_and_loads_back_equal(t5, tmp_path):
    from mminspect.api import load_result, save_result
    from mminspect.types.serialize import results_equal
    view = s2s.cross_attention(t5, SOURCE, target_text="a dog", logit_lens=True)
    back = load_result(save_result(view, tmp_path / "t5.json"))
    assert type(back) is CrossAttentionView and results_equal(view, back)
    assert not results_equal(view, s2s.cross_attention(t5, SOURCE, target_text="a cat", logit_lens=True))
