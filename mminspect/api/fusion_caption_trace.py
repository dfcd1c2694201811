"""Glass box on one cross-attention head of the captioner: how a word's map over the patches is
computed, number by number, from the weights.

    tr = trace_cross_head("fusion-caption", img, layer=1, head=2)
    tr.read, tr.steps          # the token each step read ([START], ...) and the word it wrote
    tr.q [step, d]             # queries from the WORDS:   x (the words' normed states) @ W_q + b_q
    tr.k, tr.v [patch, d]      # keys, values from the PATCHES: memory @ W_k + b_k (and W_v)
    tr.scores [step, patch]    # q · k;  tr.weights = softmax(scores * scale) over the 64 patches
    tr.context [step, d]       # weights @ v;  tr.output [step, D] = context @ W_o[head slice]
    tr.max_error               # the recomputation against the model's own map and output

Unlike a self-attention head (the "How attention works" tab), the queries and the keys come
from two different sequences: the rows are the caption's steps, the columns the image's 64
patches, and each row's softmax runs over the patches alone (it sums to 1). The caption is the
model's own greedy caption (or starts with `prefix`), as in `caption_scene`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..capture.cross_attention import record_calls
from ..models.clip_base import PatchGrid
from ..types import InputError
from .fusion_caption import _greedy, _prefix_words, as_captioner


@dataclass(frozen=True)
class CrossHeadTrace:
    """One cross-attention head, step by step (S steps, P patches, D = width, d = D / heads).

    x [S, D]: the words' states entering the cross-attention (after its LayerNorm); memory
    [P, D]: the encoder's output (the patches); q [S, d], k [P, d], v [P, d]; scores [S, P]
    = q @ k.T; scale = 1/sqrt(d); weights [S, P] = softmax(scores * scale) (rows sum to 1);
    context [S, d] = weights @ v; output [S, D] = context @ W_o[:, head slice].T (the output
    bias [D] is added once for all heads); weights_error = max |weights - the model's own
    map|; output_error = max |every head's output + bias - the model's cross-attention output|."""

    read: tuple[str, ...]
    steps: tuple[str, ...]
    patches: tuple[str, ...]
    layer: int
    head: int
    n_heads: int
    x: np.ndarray
    memory: np.ndarray
    q: np.ndarray
    k: np.ndarray
    v: np.ndarray
    scores: np.ndarray
    scale: float
    weights: np.ndarray
    context: np.ndarray
    output: np.ndarray
    out_bias: np.ndarray
    weights_error: float
    output_error: float
    model_name: str = ""

    @property
    def max_error(self) -> float:
        return max(self.weights_error, self.output_error)


def _head_part(w: tuple[torch.Tensor, torch.Tensor], rows: slice, inputs: torch.Tensor) -> torch.Tensor:
    """inputs @ W[rows].T + b[rows]: one head's slice of a linear map."""
    return inputs @ w[0][rows].T + w[1][rows]


@torch.no_grad()
def trace_cross_heads(model, image, prefix: str = "") -> list[list[CrossHeadTrace]]:
    """Every cross-attention head ([layer][head]) traced on one forward over the caption."""
    adapter = as_captioner(model)
    seen = adapter.image_array(image)
    memory = adapter.model.memory(adapter.pixels(seen))                  # [1, patch, D]
    ids = _greedy(adapter, memory, adapter.prefix_ids(_prefix_words(prefix)))
    read = ids[:, :-1]
    with record_calls(adapter.cross_attention_modules()) as calls:
        adapter.model.decode(read, memory)
    vocab = adapter.vocabulary()
    cfg = adapter.cfg
    labels = tuple(PatchGrid(rows=cfg.grid, cols=cfg.grid, patch_size=cfg.patch,
                             image_size=(cfg.image_size, cfg.image_size), has_cls=False).token_labels())
    words = tuple(vocab[i] for i in read[0].tolist()), tuple(vocab[i] for i in ids[0, 1:].tolist())
    H, d = adapter.n_heads, cfg.width // adapter.n_heads
    out = []
    for layer in range(adapter.n_layers):
        (x, mem), (model_out, model_probs) = calls[layer]
        x, mem = x[0], mem[0]                                              # [S, D], [P, D]
        w = adapter.cross_weights(layer)
        traces, total = [], w["out"][1].clone()                            # the bias, once
        for h in range(H):
            rows = slice(h * d, (h + 1) * d)
            q, k, v = _head_part(w["q"], rows, x), _head_part(w["k"], rows, mem), _head_part(w["v"], rows, mem)
            scores = q @ k.T                                               # [S, P]
            weights = (scores / math.sqrt(d)).softmax(-1)
            context = weights @ v                                          # [S, d]
            output = context @ w["out"][0][:, rows].T                      # [S, D]
            total = total + output
            traces.append(dict(q=q, k=k, v=v, scores=scores, weights=weights, context=context, output=output,
                               weights_error=float((weights - model_probs[0, h]).abs().max())))
        output_error = float((total - model_out[0]).abs().max())
        out.append([CrossHeadTrace(read=words[0], steps=words[1], patches=labels, layer=layer, head=h,
                                   n_heads=H, x=x.cpu().numpy(), memory=mem.cpu().numpy(),
                                   scale=1 / math.sqrt(d), out_bias=w["out"][1].cpu().numpy(),
                                   output_error=output_error, model_name=adapter.name,
                                   **{key: (t.cpu().numpy() if torch.is_tensor(t) else t) for key, t in tr.items()})
                    for h, tr in enumerate(traces)])
    return out


def trace_cross_head(model, image, layer: int, head: int, prefix: str = "") -> CrossHeadTrace:
    """One cross-attention head of the captioner traced (see `trace_cross_heads`)."""
    adapter = as_captioner(model)
    for name, value, n in (("layer", layer, adapter.n_layers), ("head", head, adapter.n_heads)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value < n:
            raise InputError(f"{name}={value!r}: the captioner's decoder has {name}s 0..{n - 1}.")
    return trace_cross_heads(adapter, image, prefix)[int(layer)][int(head)]


def top_patches(trace: CrossHeadTrace, step: int, k: int = 5) -> list[dict]:
    """The step's k patches of largest weight: q·k, × scale, the weight, and how far the value
    it passes on moves the context (|weight · v|)."""
    if not -len(trace.steps) <= step < len(trace.steps):
        raise InputError(f"Step {step!r} does not exist; the caption has {len(trace.steps)} steps.")
    order = np.argsort(-trace.weights[step], kind="stable")[:k]
    return [{"patch": trace.patches[p], "q·k": float(trace.scores[step, p]),
             "× scale": float(trace.scores[step, p] * trace.scale), "weight": float(trace.weights[step, p]),
             "|weight · v|": float(np.linalg.norm(trace.weights[step, p] * trace.v[p]))} for p in order]
