"""Compare two results of the same kind: two texts, two models, or both (`mi.compare`).

    a = mi.inspect_text(model, "The movie was good.")
    b = mi.inspect_text(model, "The movie was not good.")
    diff = mi.compare(a, b)
    diff.alignment.labels          # ['[CLS]', 'the', 'movie', 'was', '+not', 'good', '.', '[SEP]']
    diff.top_heads                 # [(layer, head, Jensen–Shannon in nats), ...] most changed first

The comparison only reads the two results (numpy): it runs no model, so it costs a few
milliseconds on top of the two runs that made them.
"""
from __future__ import annotations

import numpy as np

from ..explain.compare_align import align_tokens, relative_depth
from ..explain.compare_attention import attention_distance, top_heads
from ..types import ClipView, InputError, TextView, TokenAttribution
from ..types.compare import Comparison


def _lens_ranks(view: TextView, index: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """int [len(rows), pos]: the view's lens rank of its own final token, rows picked, on the
    aligned axis (-1 in gaps)."""
    have = index >= 0
    out = np.full((len(rows), len(index)), -1, np.int64)
    out[:, have] = view.lens.final_rank[rows][:, index[have]]
    return out


def _top(labels, probs) -> tuple[str, float] | None:
    return (labels[int(np.argmax(probs))], float(np.max(probs))) if len(labels) else None


def _prediction_change(a: TextView, b: TextView) -> tuple[list[str], float | None]:
    """Sentences (and the first one's number) that say how the prediction moved from A to B."""
    pa, pb = a.prediction, b.prediction
    out, delta = [], None
    if pa.kind != pb.kind:
        return [f"A is a {pa.kind} model and B a {pb.kind} model: their predictions are not "
                "the same kind of number, so only the internals are compared."], None
    if len(pa.labels) and pa.labels == pb.labels:
        label, p = _top(pa.labels, pa.label_probs)
        q = float(pb.label_probs[pa.labels.index(label)])
        delta = q - p
        top_b, _ = _top(pb.labels, pb.label_probs)
        out.append(f"P({label}) {p:.2f} → {q:.2f} ({delta:+.2f}); top label: {label} → {top_b}.")
    elif len(pa.labels) or len(pb.labels):
        out.append("A and B score different labels, so their label probabilities are not compared.")
    if pa.similarity is not None and pb.similarity is not None:
        d = pb.similarity - pa.similarity
        delta = d if delta is None else delta
        out.append(f"Cosine similarity to the second text {pa.similarity:.3f} → {pb.similarity:.3f} ({d:+.3f}).")
    if pa.fills and pb.fills:
        fa, fb = pa.fills[0], pb.fills[0]
        q = float(fb.probs[fb.tokens.index(fa.tokens[0])]) if fa.tokens[0] in fb.tokens else 0.0
        delta = q - float(fa.probs[0]) if delta is None else delta
        what = "next token" if pa.kind == "causal_lm" else "filler"
        out.append(f"Top {what}: {fa.tokens[0]!r} ({fa.probs[0]:.2f}) → {fb.tokens[0]!r} "
                   f"({fb.probs[0]:.2f}); B gives {fa.tokens[0]!r} {q:.2f}"
                   f"{'' if fa.tokens[0] in fb.tokens else ' or less (not in its top list)'}.")
    if not out:
        out.append("Neither side carries a prediction to compare (a sentence encoder without "
                   "labels or a second text): only the internals are compared.")
    return out, delta


def _compare_views(a: TextView, b: TextView, k: int) -> Comparison:
    al = align_tokens(a.tokens, b.tokens)
    la, lb = a.attention.n_layers, b.attention.n_layers
    layer_map = relative_depth(la, lb)
    notes = []
    if la != lb:
        notes.append(f"A has {la} layers and B {lb}: each layer of A is compared with the layer "
                     "of B at the same relative depth (first with first, last with last): "
                     + ", ".join(f"A{i}↔B{j}" for i, j in enumerate(layer_map)) + ".")
    if a.attention.n_heads != b.attention.n_heads:
        notes.append(f"A has {a.attention.n_heads} heads per layer and B {b.attention.n_heads}: "
                     "heads cannot be paired, so each layer compares its mean over heads.")
    if al.n_edits > 0.5 * len(al.ops):
        notes.append(f"{al.n_edits} of {len(al.ops)} aligned tokens differ: the texts (or the two "
                     "tokenizers) are far apart, so few rows are compared like with like.")
    head_js, row_js = attention_distance(a.attention.weights, b.attention.weights, al, layer_map)
    ranks_a = ranks_b = None
    if a.lens is not None and b.lens is not None:
        rows_b = np.concatenate([[0], layer_map + 1])      # the embeddings row, then the layers
        ranks_a = _lens_ranks(a, al.a_index, np.arange(la + 1))
        ranks_b = _lens_ranks(b, al.b_index, rows_b)
    elif (a.lens is None) != (b.lens is None):
        notes.append("Only one side carries the layer-by-layer view, so lens ranks are not compared.")
    prediction, delta = _prediction_change(a, b)
    return Comparison(kind="text", a=a, b=b, alignment=al, layer_map=layer_map, head_js=head_js,
                      row_js=row_js, layer_js=head_js.mean(1), top_heads=top_heads(head_js, k),
                      lens_rank_a=ranks_a, lens_rank_b=ranks_b, prediction=prediction,
                      prediction_delta=delta, notes=notes)


def _compare_attributions(a: TokenAttribution, b: TokenAttribution) -> Comparison:
    # Words, compared case-blind: "The" at the start of one text and "the" inside the other
    # are the same word for a reader.
    al = align_tokens([w.lower() for w in a.words], [w.lower() for w in b.words])
    al = type(al)(tokens_a=list(a.words), tokens_b=list(b.words), a_index=al.a_index,
                  b_index=al.b_index, ops=al.ops)
    wa = np.where(al.a_index >= 0, a.word_scores[np.maximum(al.a_index, 0)], np.nan)   # [pos]
    wb = np.where(al.b_index >= 0, b.word_scores[np.maximum(al.b_index, 0)], np.nan)   # [pos]
    notes = []
    if (a.method, a.target) != (b.method, b.target):
        notes.append(f"A explains {a.target} with {a.method} and B {b.target} with {b.method}: "
                     "the scores are in different units, compare their signs and ranks only.")
    d = b.target_value - a.target_value
    prediction = [f"Target ({a.target}) {a.target_value:.3f} → {b.target_value:.3f} ({d:+.3f})."]
    return Comparison(kind="attribution", a=a, b=b, alignment=al, word_a=wa, word_b=wb,
                      word_diff=wa - wb, prediction=prediction, prediction_delta=d, notes=notes)


def compare(a, b, top_k: int = 5) -> Comparison:
    """A against B, for two results of the same kind: two `inspect_text` views (attention
    distance per layer and head, the heads that changed most, lens ranks, the prediction) or
    two `attribute_text` maps (attribution per aligned word and A − B), or two `inspect_clip`
    views of the same prompts (prediction, image-tower attention, relevance maps). The inputs are
    aligned token by token (words for attributions) by edit distance; models of different
    depths are aligned by relative depth. Runs no model."""
    if isinstance(a, TextView) and isinstance(b, TextView):
        return _compare_views(a, b, top_k)
    if isinstance(a, TokenAttribution) and isinstance(b, TokenAttribution):
        return _compare_attributions(a, b)
    if isinstance(a, ClipView) and isinstance(b, ClipView):
        from .compare_images import compare_clip_views
        return compare_clip_views(a, b, top_k)
    raise InputError(f"compare needs two results of the same kind (two inspect_text views, two "
                     f"attribute_text maps or two inspect_clip views), got {type(a).__name__} and {type(b).__name__}.")
