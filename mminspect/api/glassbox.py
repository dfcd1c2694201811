"""Break attention on purpose, and check a student's own attention function, on real weights.

    mi.list_attention_variants("minilm")                 # {name: the mistake in one sentence}
    b = mi.break_attention("minilm", "The cat sat on the mat.", "no_scale", compare_to="A cat.")
    b.weights_error, b.output_error, b.prediction_change
    print(mi.check_attention(my_attention, "minilm", layer=0))

The variants are `explain.attention_variants` (one readable function each). The prediction
change uses the broken attention in EVERY layer (`capture.layer_io.replace_attention`: each
layer's output replaced by the variant computed from that layer's own input in that forward).
"""
from __future__ import annotations

import math

import torch

from ..capture.layer_io import replace_attention, zero_output
from ..explain.attention_variants import (ADVICE, ATTENTION_VARIANTS, EMBEDDING_VARIANTS,
                                          correct_attention, variants_for)
from ..explain.head_trace import attention_mask, max_abs_diff
from ..models.attention_sites import n_heads_of, read_layer_weights
from ..types import InputError
from ..types.trace import AttentionCheck, BrokenAttention
from .limits import check_text, limits
from .trace import Tower, resolve_tower, run_layer

TOLERANCE = 1e-4
DEFAULT_TEXT = "The cat sat on the mat."


def list_attention_variants(model="minilm") -> dict[str, str]:
    """{variant: the mistake in one sentence} for the variants that apply to this model
    (decoders: "no_causal_mask"; encoders: "causal_mask_added"; "correct_attention" first)."""
    t = resolve_tower(model, DEFAULT_TEXT)
    return {name: entry[1] for name, entry in variants_for(t.causal).items()}


def _variant(t: Tower, variant: str):
    allowed = variants_for(t.causal)
    if variant not in allowed:
        known = ", ".join(allowed)
        why = " (it applies to the other kind of model)" if variant in ATTENTION_VARIANTS else ""
        raise InputError(f"No attention variant {variant!r} for {t.name}{why}; choose one of: {known}.")
    return allowed[variant][0]


# ----- the prediction, real and broken, in words --------------------------------------------

def _run(adapter, enc) -> object:
    return adapter.run(enc, hidden_states=True)


def _sentence(adapter, enc) -> torch.Tensor:
    out = _run(adapter, enc)
    return adapter.pool(out.hidden_states[-1], enc.inputs["attention_mask"])[0]   # [d_model]


class _Measure:
    """How a model's prediction is read and compared: next token (decoders), class
    (classifiers), or the sentence embedding (everything else)."""

    def __init__(self, adapter, enc, compare_to: str | None):
        self.adapter, self.enc = adapter, enc
        self.other = adapter.encode(compare_to) if compare_to else None
        self.kind = {"causal_lm": "next_token", "classifier": "class"}.get(adapter.kind, "embedding")

    def read(self) -> dict:
        a, enc = self.adapter, self.enc
        if self.kind == "embedding":
            emb = _sentence(a, enc)                                       # [d_model]
            other = _sentence(a, self.other) if self.other is not None else None
            return {"emb": emb, "other": other}
        logits = _run(a, enc).logits[0]
        logits = logits[-1] if self.kind == "next_token" else logits      # [vocab] or [class]
        return {"probs": logits.float().softmax(-1)}

    def describe(self, real: dict, broken: dict) -> tuple[str, str, float, str]:
        """(real in words, broken in words, change, what the change measures, similarity to
        the second text real and broken: nan without one)."""
        if self.kind == "embedding":
            cos = torch.nn.functional.cosine_similarity
            change = 1.0 - float(cos(real["emb"], broken["emb"], dim=0))
            measure = "1 - cosine of the sentence embedding, broken vs real"
            if real["other"] is None:
                return ("the sentence embedding", "the sentence embedding, broken", change,
                        measure, math.nan, math.nan)
            s_real = float(cos(real["emb"], real["other"], dim=0))
            s_broken = float(cos(broken["emb"], broken["other"], dim=0))
            return (f"similarity to the second text {s_real:.3f}",
                    f"similarity to the second text {s_broken:.3f} ({s_broken - s_real:+.3f})",
                    change, measure, s_real, s_broken)
        p_real, p_broken = real["probs"], broken["probs"]
        top = int(p_real.argmax())
        top_b = int(p_broken.argmax())
        name = self._label
        change = float(p_broken[top] - p_real[top])
        what = "next token" if self.kind == "next_token" else "class"
        return (f"{what} {name(top)!r} (p={float(p_real[top]):.3f})",
                f"{what} {name(top_b)!r} (p={float(p_broken[top_b]):.3f}); {name(top)!r} now "
                f"p={float(p_broken[top]):.3f}",
                change, f"change of the real top {what}'s probability (broken - real)",
                math.nan, math.nan)

    def _label(self, i: int) -> str:
        if self.kind == "next_token":
            return self.adapter.decode([i])
        names = self.adapter.label_names()
        return names[i] if i < len(names) else str(i)


def _standard_scale(t: Tower, run) -> None:
    """The variants scale by 1/sqrt(d_head); a model that scales otherwise (GPT-2 configs with
    scale_attn_by_inverse_layer_idx) would make even the reference look wrong."""
    d = run.x.shape[-1] // run.n_heads
    if abs(run.scale - d ** -0.5) > 1e-6 * d ** -0.5:
        raise InputError(f"{t.name} scales its attention scores by {run.scale:.4g}, not "
                         f"1/sqrt(d_head) = {d ** -0.5:.4g}; the written-out attention functions "
                         "assume the standard scale. trace_head shows this model's own numbers.")


def _everywhere(t: Tower, fn):
    """A context manager: `fn` replaces the attention of every layer of the tower."""
    blocks = t.blocks
    weights = [read_layer_weights(b, t.spec).as_args() for b in blocks]
    heads = [n_heads_of(b, t.spec) for b in blocks]
    causal = t.causal

    def compute(layer: int, x: torch.Tensor) -> torch.Tensor:
        mask = attention_mask(x.shape[0], causal, x.device)                # [T, T]
        return fn(x, *weights[layer], heads[layer], mask)                  # [T, D]

    return replace_attention(blocks, [t.part(i, "pre_norm") for i in range(len(blocks))],
                             [t.part(i, "out_hook") for i in range(len(blocks))], compute,
                             batch_first=t.batch_first)


def _positions(t: Tower):
    path = t.spec["position"]
    if path is None:
        raise InputError(f"{t.name}: its position embeddings are a bare parameter here, so the "
                         "'no_position_embeddings' mistake cannot be simulated.")
    return zero_output(t.root.get_submodule(path))


def break_attention(model, text: str = DEFAULT_TEXT, variant: str = "no_scale", layer: int = 0,
                    head: int = 0, *, compare_to: str | None = None) -> BrokenAttention:
    """One classic mistake on the real weights (`list_attention_variants(model)`), measured:
    the traced head's weights and the layer's attention output against the real ones (the
    mistake in this layer only, on its real input), and the model's prediction with the
    mistake in every layer (sentence embedding for embedding models, next token for decoders,
    class for classifiers; `compare_to`: a second text whose similarity is reported)."""
    t = resolve_tower(model, text)
    if t.enc is None or not hasattr(t.adapter, "pool"):
        raise InputError(f"break_attention runs on text models (MiniLM, BERT, GPT-2...); "
                         f"{t.name} is not one. Use trace_head for CLIP-style towers.")
    fn = _variant(t, variant)
    if compare_to is not None:
        check_text(compare_to, limits(), "The second text")
    run = run_layer(t, layer)
    _standard_scale(t, run)
    if not isinstance(head, int) or not 0 <= head < run.n_heads:
        raise InputError(f"head={head!r}: each layer of {t.name} has heads 0..{run.n_heads - 1}.")
    real_weights = run.attentions[head]                                   # [T, T]
    if variant in EMBEDDING_VARIANTS:
        with _positions(t):
            broken_run = run_layer(t, layer)
        w_broken, out_broken = broken_run.attentions[head], broken_run.attn_out
        broken_ctx = _positions(t)
    else:
        rec: dict = {}
        with torch.no_grad():
            out_broken = fn(run.x, *run.weights.as_args(), run.n_heads, run.mask, trace=rec)
        w_broken = rec["weights"][head] if rec["weights"].shape[0] == run.n_heads else rec["weights"][0]
        broken_ctx = _everywhere(t, fn)
    per_head = variant in EMBEDDING_VARIANTS or rec["weights"].shape[0] == run.n_heads
    measure = _Measure(t.adapter, t.enc, compare_to)
    real = measure.read()
    with broken_ctx:
        broken = measure.read()
    said_real, said_broken, change, how, sim_real, sim_broken = measure.describe(real, broken)
    np_ = lambda a: a.detach().cpu().numpy()  # noqa: E731
    return BrokenAttention(
        variant=variant, description=ATTENTION_VARIANTS[variant][1],
        weights_error=max_abs_diff(w_broken, real_weights) if per_head else math.nan,
        output_error=max_abs_diff(out_broken, run.attn_out), prediction_real=said_real,
        prediction_broken=said_broken, prediction_change=change, prediction_measure=how,
        layer=layer, head=head, model_name=t.name, tokens=tuple(t.tokens),
        weights_real=np_(real_weights), weights_broken=np_(w_broken),
        output_real=np_(run.attn_out), output_broken=np_(out_broken),
        similarity_real=sim_real, similarity_broken=sim_broken)


# ----- check a student's function -------------------------------------------------------------

def _call(fn, args, what: str) -> torch.Tensor:
    """fn(*args) as a float32 tensor, or an InputError that names what went wrong."""
    try:
        with torch.no_grad():
            out = fn(*[a.clone() if torch.is_tensor(a) else a for a in args])
    except Exception as e:  # the user's code: any failure is reported, not raised as-is
        name = getattr(fn, "__name__", "your function")
        raise InputError(f"{name} raised {type(e).__name__}: {e} ({what}). It is called as "
                         "fn(x, W_q, b_q, W_k, b_k, W_v, b_v, W_o, b_o, n_heads, mask) with "
                         "torch float32 tensors: x [T, D], W_* [D, D] used as x @ W + b, "
                         "b_* [D], mask bool [T, T] (True = may see).") from e
    try:
        out = torch.as_tensor(out, dtype=torch.float32)
    except (TypeError, ValueError, RuntimeError) as e:
        raise InputError(f"The function returned {type(out).__name__}, not an array of numbers "
                         f"({what}); return the attention output [T, D].") from e
    return out


def check_attention(fn, model="minilm", layer: int = 0, text: str = DEFAULT_TEXT, *,
                    image=None, tower: str | None = None) -> AttentionCheck:
    """Run YOUR attention function in this process on one real layer's input and weights.

    fn(x, W_q, b_q, W_k, b_k, W_v, b_v, W_o, b_o, n_heads, mask) -> output [T, D] (see
    `explain.attention_variants` for the orientation; torch float32 in, torch or numpy out).
    Reports the total and per-head max error against the model's own attention output,
    passed (<= 1e-4), and the known mistake its output matches best, with advice."""
    if not callable(fn):
        raise InputError(f"check_attention needs a function, got {type(fn).__name__}.")
    t = resolve_tower(model, text, image, tower)
    run = run_layer(t, layer)
    _standard_scale(t, run)
    args = (run.x, *run.weights.as_args(), run.n_heads, run.mask)
    out = _call(fn, args, f"on {t.name} layer {layer}")
    want = tuple(run.attn_out.shape)
    if tuple(out.shape) != want:
        raise InputError(f"The function returned shape {tuple(out.shape)}; the attention output "
                         f"is [T, D] = {want} (one row per token, output bias included).")
    total = max_abs_diff(out, run.attn_out)
    # head h alone: W_o with the other heads' rows zeroed and no bias -> that head's output
    D, H = want[1], run.n_heads
    d = D // H
    w_o, zero_b = run.weights.W_o, torch.zeros_like(run.weights.b_o)
    head_errors = []
    for h in range(H):
        only = torch.zeros_like(w_o)
        only[h * d:(h + 1) * d] = w_o[h * d:(h + 1) * d]                  # [D, D] head h's rows
        a = (*args[:7], only, zero_b, H, run.mask)
        head_errors.append(max_abs_diff(_call(fn, a, f"head {h} alone"),
                                        correct_attention(*a)))
    distances = {}
    with torch.no_grad():
        for name, (variant_fn, _, _) in variants_for(t.causal, attention_only=True).items():
            distances[name] = max_abs_diff(out, variant_fn(*args))
    best = min(distances, key=distances.get)
    passed = total <= TOLERANCE
    if passed:
        best, hint = "correct_attention", ADVICE["correct_attention"]
    elif distances[best] <= TOLERANCE:
        hint = (f"Its output matches the mistake '{best}' (max difference "
                f"{distances[best]:.1e}): {ATTENTION_VARIANTS[best][1]} {ADVICE[best]}")
    else:
        hint = (f"It matches none of the known mistakes; the nearest is '{best}' (max difference "
                f"{distances[best]:.2g}). Check the shapes step by step against "
                "mi.trace_head (q, k, v, scores, weights, context).")
    return AttentionCheck(model_name=t.name, layer=layer, n_heads=H, head_errors=head_errors,
                          max_error=total, tolerance=TOLERANCE, passed=passed, matches=best,
                          match_error=distances[best], hint=hint)
