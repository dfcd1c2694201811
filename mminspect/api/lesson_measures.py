"""The named measures behind the lessons: each computes a lesson's answer live, from the real
model, and says the number in a sentence. A lesson file names one (`measure = "top_key"`).

A measure is `fn(adapter, state: LessonState) -> Measured`, registered in `MEASURES` with the
answers it can give (`outcomes`: the lesson's choices must include them) or, when the choices
come from the run (the tokens, the prompts), which ones (`run_choices`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..explain import head_summary
from .lesson_types import LessonError, LessonState, Measured
from .compare_lesson import ROW_PLACES, changed_rows
from .fusion_lesson import CHANGED, WHICH, attention_vs_ablation, patches_read_words, pointing_contrast
from .fusion_lesson import SAME as SAME_HEAD

PREFIXES = ("Ġ", "▁", "##")


@dataclass(frozen=True)
class Measure:
    fn: Callable[[object, LessonState], Measured]
    outcomes: tuple[str, ...] | None       # the answers it gives; None: choices from the run
    run_choices: str = ""                  # "keys" | "prompts" when outcomes is None
    doc: str = ""


# ---- shared pieces --------------------------------------------------------------------------
def key_choices(tokens) -> tuple[str, ...]:
    """One choice per token; a repeated token gets its occurrence ("the", "the #2")."""
    seen: dict[str, int] = {}
    out = []
    for t in tokens:
        seen[t] = seen.get(t, 0) + 1
        out.append(t if seen[t] == 1 else f"{t} #{seen[t]}")
    return tuple(out)


def _bare(token: str) -> str:
    for p in PREFIXES:
        token = token.removeprefix(p)
    return token.removesuffix("</w>").lower()


def query_index(tokens, query: str | None) -> int:
    """The position of `query` among the tokens (first match; case and word-piece marks
    ignored); the first non-special token when no query is given."""
    if query is None:
        return 1 if len(tokens) > 2 else 0
    for match in (lambda t: t == query, lambda t: _bare(t) == _bare(query)):
        hits = [i for i, t in enumerate(tokens) if match(t)]
        if hits:
            return hits[0]
    raise LessonError(f"The query token {query!r} is not among the tokens: {' '.join(tokens)}.")


def entropy_rows(w: np.ndarray) -> np.ndarray:
    """Entropy in nats of each row of a [query, key] weight matrix (0 log 0 = 0)."""
    w = np.asarray(w, np.float64)
    return -(w * np.log(np.where(w > 0, w, 1.0))).sum(-1)


def softmax_rows(scores: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Softmax over the visible keys of every row (masked keys get 0)."""
    z = np.where(mask, np.asarray(scores, np.float64), -np.inf)
    z = np.exp(z - z.max(-1, keepdims=True))
    return z / z.sum(-1, keepdims=True)


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation (no tie correction: the values here are real numbers)."""
    ra, rb = (np.argsort(np.argsort(np.asarray(v, np.float64))).astype(np.float64) for v in (a, b))
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return float((ra * rb).sum() / np.sqrt((ra ** 2).sum() * (rb ** 2).sum()))


def _trace(adapter, st: LessonState):
    from .trace import trace_head
    if st.tower == "image":
        from .examples import load_example
        return trace_head(adapter, image=load_example(st.example).image, tower="image",
                          layer=st.layer, head=st.head)
    return trace_head(adapter, st.text, layer=st.layer, head=st.head,
                      tower="text" if "image" in adapter.modalities else None)


# ---- the measures ---------------------------------------------------------------------------
def top_key(adapter, st: LessonState) -> Measured:
    """Which key the query gives the most weight to, in the real head."""
    tr = _trace(adapter, st)
    q = query_index(tr.tokens, st.query)
    row = tr.weights[q]                                                 # [key]
    order = np.argsort(-row)
    choices = key_choices(tr.tokens)
    top, second = int(order[0]), int(order[1]) if len(order) > 1 else int(order[0])
    text = (f"In layer {tr.layer}, head {tr.head}, “{tr.tokens[q]}” gives {row[top]:.2f} of its "
            f"attention to “{choices[top]}” (next: “{choices[second]}”, {row[second]:.2f}). The "
            f"head's output for it is that mix of value vectors, through W_O: "
            f"{tr.output.shape[1]} numbers added to its residual stream (max error against the "
            f"model: {tr.max_error:.1e}).")
    return Measured(answer=choices[top], value=float(row[top]), text=text, choices=choices,
                    evidence={"trace": tr, "query": q})


def scale_entropy(adapter, st: LessonState) -> Measured:
    """Mean entropy of the head's weight rows with ÷√d (the real ones) and without."""
    tr = _trace(adapter, st)
    q = query_index(tr.tokens, st.query)
    without = softmax_rows(tr.scores, tr.mask)                          # [query, key]
    h_with, h_without = entropy_rows(tr.weights).mean(), entropy_rows(without).mean()
    answer = ("sharper" if h_without < h_with - 1e-3 else
              "flatter" if h_without > h_with + 1e-3 else "no change")
    text = (f"Mean entropy over the {len(tr.tokens)} query rows: {h_with:.3f} nats with ÷√{tr.d_head} "
            f"(the real head), {h_without:.3f} nats without (all on one key would be 0; evenly "
            f"spread, {np.log(len(tr.tokens)):.3f}). The top weight of “{tr.tokens[q]}” goes "
            f"from {tr.weights[q].max():.2f} to {without[q].max():.2f}.")
    return Measured(answer=answer, value=float(h_without), text=text, choices=(),
                    evidence={"trace": tr, "query": q, "with": float(h_with)})


HEAD_KINDS = ("parks on [CLS]/[SEP]", "looks at the previous token", "looks at itself",
              "spreads out")


def head_kind(adapter, st: LessonState) -> Measured:
    """What a head mostly does, from the head summary of the real attention."""
    from .text import inspect_text
    view = inspect_text(adapter, st.text)
    s = head_summary(view.attention)
    shares = {HEAD_KINDS[0]: s.special[st.layer, st.head], HEAD_KINDS[1]: s.previous[st.layer, st.head],
              HEAD_KINDS[2]: s.self_[st.layer, st.head]}
    kind, share = max(shares.items(), key=lambda kv: kv[1])
    answer = kind if share >= 0.35 else HEAD_KINDS[3]
    text = (f"Layer {st.layer}, head {st.head}, averaged over the {len(view.attention.tokens)} "
            "queries: " + ", ".join(f"{100 * v:.0f} % {k.split(' ', 1)[1]}" for k, v in shares.items())
            + f"; entropy {s.entropy[st.layer, st.head]:.2f} nats.")
    return Measured(answer=answer, value=float(share), text=text, choices=(),
                    evidence={"summary": s, "layer": st.layer, "head": st.head})


FUTURE_BINS = ("none", "less than a quarter", "a quarter to a half", "more than half")


def word_rows(adapter, tokens) -> np.ndarray:
    """bool [token]: True for the words, False for the tokenizer's special tokens ([CLS],
    [SEP], <|endoftext|>...), which are not words a question can name."""
    tok = getattr(adapter, "text", None) or adapter          # mini-CLIP: its MiniLM text tower
    special = set(getattr(getattr(tok, "tokenizer", None), "all_special_tokens", ()) or ())
    return np.array([t not in special for t in tokens], bool)


def future_share(adapter, st: LessonState) -> Measured:
    """The share of the head's attention that goes to LATER tokens (what a causal mask
    hides), averaged over the WORDS as queries: the question asks about words, so the [CLS]
    row (which sees every token after it) and the [SEP] row are left out of the average."""
    tr = _trace(adapter, st)
    q = query_index(tr.tokens, st.query)
    later = np.triu(np.ones_like(tr.mask), k=1)                          # [query, key] key > query
    per_query = (tr.weights * later).sum(-1)                             # [query]
    words = word_rows(adapter, tr.tokens)                                # [query]
    share = per_query[words].mean() if words.any() else per_query[:-1].mean()
    every = per_query[:-1].mean()                # every query but the last (it has no later key)
    answer = FUTURE_BINS[0 if share < 1e-6 else 1 if share < 0.25 else 2 if share < 0.5 else 3]
    causal = softmax_rows(tr.scores * tr.scale, tr.mask & ~later.astype(bool))  # [query, key]
    text = (f"Averaged over the {int(words.sum())} words as queries, this head gives "
            f"{100 * share:.1f} % of its attention to later tokens (counting the special tokens' "
            f"rows too it would be {100 * every:.1f} %: [CLS] comes first, so everything it sees "
            f"is later). A decoder's causal mask sets those weights to 0 before the softmax, so "
            f"the rest is renormalised: “{tr.tokens[q]}” would give {causal[q, q]:.2f} to itself "
            f"instead of {tr.weights[q, q]:.2f}, and the first token can only see itself (1.00).")
    return Measured(answer=answer, value=float(share), text=text, choices=(),
                    evidence={"tokens": tr.tokens, "every_query": float(every),
                              "title": f"Weights of “{tr.tokens[q]}”: "
                              "as the encoder computes them, and with a causal mask", "series": {
                        f"weights of “{tr.tokens[q]}” (both ways)": tr.weights[q],
                        "with a causal mask": causal[q]}})


def clip_pick(adapter, st: LessonState) -> Measured:
    """Which prompt mini-CLIP picks: cosine -> x logit scale -> softmax over the prompts."""
    from .clip import inspect_clip
    from .examples import load_example
    if st.example is None:
        raise LessonError("clip_pick needs an example image: set [state] example.")
    prompts = [p.strip() for p in st.text.splitlines() if p.strip()]
    view = inspect_clip(adapter, load_example(st.example).image, prompts)
    cos, logits, probs = view.cosine[0], view.logits[0], view.probs[0]   # [prompt]
    top = int(np.argmax(probs))
    steps = "; ".join(f"“{p}”: {c:.3f} → {lg:.2f} → {100 * pr:.1f} %"
                      for p, c, lg, pr in zip(view.prompts, cos, logits, probs))
    text = (f"cosine → × logit scale {view.logit_scale:.1f} → softmax: {steps}. A cosine gap of "
            f"{np.sort(cos)[-1] - np.sort(cos)[-2]:.3f} between the top two becomes "
            f"{100 * (np.sort(probs)[-1] - np.sort(probs)[-2]):.0f} points of probability.")
    return Measured(answer=view.prompts[top], value=float(probs[top]), text=text,
                    choices=tuple(view.prompts), evidence={"clip": view})


SAME = ("the same word", "a different word")


BASELINE_WORDS = {"pad": "[PAD]", "mask": "[MASK]", "zero": "zeros"}


def attention_vs_attribution(adapter, st: LessonState) -> Measured:
    """The word that receives the most attention (all layers and heads) against the word with
    the largest attribution IN SIZE (|integrated gradients|: a word that pushes the score down
    counts as much as one that pushes it up) for the same prediction. Also measured: the rank
    correlation with the signed attribution, and with |attribution| under each baseline
    (what a removed word becomes), because integrated gradients depend on it."""
    from .attribution import attribute_text
    from .text import inspect_text
    view = inspect_text(adapter, st.text, compare_to=st.compare_to)
    maps = view.attention
    received = maps.weights.astype(np.float64).mean((0, 1, 2))           # [key]
    words = np.flatnonzero(~maps.special)                                # the non-special tokens
    attrs = {b: attribute_text(adapter, st.text, compare_to=st.compare_to, faithfulness=False,
                               both_sides=False, baseline=b) for b in BASELINE_WORDS}
    attr = attrs["pad"]                                                  # the lesson's own
    a_top = int(words[np.argmax(received[words])])
    b_top = int(words[np.argmax(np.abs(attr.scores[words]))])
    rho = {b: rank_correlation(received[words], np.abs(a.scores[words])) for b, a in attrs.items()}
    signed = rank_correlation(received[words], attr.scores[words])
    tok = maps.tokens
    text = (f"Most attention (all {maps.n_layers} layers × {maps.n_heads} heads) goes to "
            f"“{tok[a_top]}” ({received[a_top]:.3f}); the largest attribution in size, "
            f"|attribution| ({attr.target}, baseline [PAD]), is “{tok[b_top]}” "
            f"({attr.scores[b_top]:+.3f}). Rank correlation over the words between attention "
            f"and |attribution|: ρ = {rho['pad']:+.2f}; with the signed attribution (a word "
            f"that lowers the score counts against): ρ = {signed:+.2f}. The |attribution| "
            f"depends on what a removed word becomes (the baseline): ρ = "
            + ", ".join(f"{rho[b]:+.2f} with {w}" for b, w in BASELINE_WORDS.items())
            + f". ([CLS]/[SEP] receive {received[maps.special].sum():.2f} of the attention.)")
    return Measured(answer=SAME[0] if a_top == b_top else SAME[1], value=rho["pad"], text=text,
                    choices=(), evidence={"tokens": [tok[i] for i in words], "rho": rho,
                                          "rho_signed": signed, "title":
                                          "Per word: attention received vs attribution", "series": {
                        "attention received": received[words],
                        "attribution (integrated gradients, signed)": attr.scores[words]}})


def embedding_sum(adapter, st: LessonState) -> Measured:
    """Word, position (and segment) embeddings: added into one vector, not concatenated."""
    from .trace import trace_embeddings
    emb = trace_embeddings(adapter, st.text)
    d = emb.total.shape[1]
    err = float(np.abs(sum(emb.parts.values()) - emb.total).max())
    added = all(p.shape[1] == d for p in emb.parts.values()) and err < 1e-4
    text = (f"{len(emb.parts)} parts ({', '.join(emb.parts)}), each {d} numbers per token; the sum "
            f"has {d} numbers (max |sum − Σ parts| = {err:.1e}), not {len(emb.parts) * d}. "
            f"Layer 0 receives it after LayerNorm (max error against the model {emb.max_error:.1e}).")
    return Measured(answer=EMBED[0] if added else EMBED[1], value=float(d), text=text, choices=(),
                    evidence={"embeddings": emb})


EMBED = ("added into one vector", "concatenated side by side")

MEASURES: dict[str, Measure] = {
    "top_key": Measure(top_key, None, "keys", "which key the query gives the most weight"),
    "scale_entropy": Measure(scale_entropy, ("sharper", "flatter", "no change"), "",
                             "mean entropy of the head's weights with and without ÷√d"),
    "head_kind": Measure(head_kind, HEAD_KINDS, "", "what the head mostly attends to (head summary)"),
    "future_share": Measure(future_share, FUTURE_BINS, "",
                            "share of attention on later tokens (hidden by a causal mask)"),
    "clip_pick": Measure(clip_pick, None, "prompts", "the prompt mini-CLIP picks, step by step"),
    "attention_vs_attribution": Measure(attention_vs_attribution, SAME, "",
                                        "top word by attention vs by attribution"),
    "embedding_sum": Measure(embedding_sum, EMBED, "", "how the embedding parts are combined"),
    "changed_rows": Measure(changed_rows, ROW_PLACES, "", "whose attention moves most from text A to B"),
    "patches_read_words": Measure(patches_read_words, CHANGED, "",
                                  "fusion: do the patch vectors change with the caption, in each model"),
    "pointing_contrast": Measure(pointing_contrast, WHICH, "",
                                 "fusion: object words' maps on their objects, concatenation vs cross-attention"),
    "attention_vs_ablation": Measure(attention_vs_ablation, SAME_HEAD, "",
                                     "fusion: the head that reads the picture most vs the one that matters most"),
}
