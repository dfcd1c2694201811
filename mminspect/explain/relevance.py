"""Gradient-weighted attention relevance for image-text models (Chefer, Gur & Wolf 2021,
"Generic attention-model explainability for interpreting bi-modal and encoder-decoder
transformers"), for the image tower and the prompt's words, on any `CLIPAdapter`.

For one tower: R = I; for each layer (bottom up) Ā = mean_heads(clamp(∂s/∂A ⊙ A, min=0)),
R = R + Ā @ R. That is the "relevance" entry (ALL layers, the paper's rule); the
"relevance_last" entry uses the last layer only (`start=-1`: R = I + Ā_last), the default of
the authors' CLIP notebook (`start_layer=-1`); the two maps can disagree a lot. The image
map is the row of the pooled token (CLS) over the patches; the word map is the row of the
text's pooled token (EOT for CLIP, the mean over tokens for mini-CLIP's mean-pooled MiniLM).
Which tokens are pooled is the adapter's answer (`text_pool_weights`, `image_pool_weights`):
a family quirk, not this file's. The score s is the prompt's logit:
logit_scale * cosine(image, text).

Ways to get ∂s/∂A for P prompts, numerically equal (tested):
- `relevance_per_prompt`: the published recipe: for each prompt a full forward of both towers
  and a full backward (weight gradients included), as the notebooks do.
- `relevance_batched` (ours), gradients of the attention maps only, never of the weights:
  "vjp": ONE image forward; the P gradients as one batched vector-Jacobian product
  (`autograd.grad(scores, attentions, grad_outputs=I_P, is_grads_batched=True)`, a vmap over
  the backward), so the image tower runs forward once instead of P times;
  "copies": P copies of the image as one batch, one backward of the summed scores (copies
  never interact, so copy p's gradient is exactly prompt p's).
  Texts: one padded batch (HF CLIP, open_clip; else one forward per prompt), and one backward
  for all (each text feeds only its own score); text i's maps are its [:n_i, :n_i] block.
  `relevance_from` does the same from towers that already ran (an Inspect's one pass).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch import nn

from ..models.base import Encoded
from ..models.clip_base import CLIPAdapter, TowerOutput
from .towers import text_forward_all

F = torch.nn.functional


@dataclass(frozen=True)
class Relevance:
    """image: float [prompt, token] relevance of every image token for the pooled image token
    (CLS row of R); text: per prompt, float [token] (the pooled text row of R); scores: [prompt]
    logits that were explained; text_embeddings: [prompt, embed] unit text embeddings (reused
    by the similarity maps, so the text tower runs once per prompt); patch_features: [patch,
    embed] of the image (the same for every copy), for the similarity maps. numpy, detached."""

    image: np.ndarray
    text: list[np.ndarray]
    scores: np.ndarray
    text_embeddings: np.ndarray | None = None
    patch_features: np.ndarray | None = None


def propagate(attentions: Sequence[torch.Tensor], grads: Sequence[torch.Tensor],
              start: int = 0) -> torch.Tensor:
    """Chefer's rule over layers. attentions / grads: per layer [batch, head, q, k] ->
    R [batch, q, k]. start: the first layer used (negative counts from the end); the
    reference notebook's default for CLIP is -1, the last layer only (R = I + Ā_last)."""
    b, n = attentions[0].shape[0], attentions[0].shape[-1]
    r = torch.eye(n, dtype=attentions[0].dtype, device=attentions[0].device).repeat(b, 1, 1)
    first = start % len(attentions) if start < 0 else start
    for a, g in list(zip(attentions, grads))[first:]:
        cam = (g * a).clamp(min=0).mean(1)                   # [batch, q, k]
        r = r + cam @ r                                      # [batch, q, k]
    return r


def _rows(r: torch.Tensor, weights: np.ndarray) -> np.ndarray:
    """R [batch, q, k] and pooling weights [q] -> [batch, k]: the pooled token's relevance row."""
    w = torch.as_tensor(weights, dtype=r.dtype, device=r.device)
    return (w @ r).detach().cpu().numpy().astype(np.float64)         # [batch, k]


def image_forward_copies(adapter: CLIPAdapter, pixels: torch.Tensor, n: int
                         ) -> tuple[torch.Tensor, list[tuple], torch.Tensor]:
    """n copies of one image [1, 3, H, W] through the image tower with the graph kept.
    Returns (embeddings [n, embed], groups, patch features [patch, embed] of copy 0): each
    group is (attentions per layer [b, h, q, k], first copy index). One batched forward when
    the adapter runs batches, else one per copy."""
    try:
        out = adapter.image_forward_batch(pixels.repeat(n, 1, 1, 1), keep_graph=True)
        return out.embedding, [(out.layer_attentions, 0)], out.patch_features[0]
    except NotImplementedError:
        outs: list[TowerOutput] = [adapter.image_forward(pixels, keep_graph=True) for _ in range(n)]
        return (torch.stack([o.embedding for o in outs]),
                [(o.layer_attentions, i) for i, o in enumerate(outs)], outs[0].patch_features)


def _grads(outputs: torch.Tensor, leaves: Sequence[torch.Tensor], **kw) -> list[torch.Tensor]:
    """Gradients of `outputs` w.r.t. the attention maps only (no weight gradients are computed
    or stored); zeros for a map the output does not depend on."""
    gs = torch.autograd.grad(outputs, leaves, allow_unused=True, **kw)
    return [torch.zeros_like(a) if g is None else g for a, g in zip(leaves, gs)]


def _image_rows_vjp(adapter: CLIPAdapter, pixels: torch.Tensor, t: torch.Tensor,
                    image: TowerOutput | None = None, start: int = 0
                    ) -> tuple[torch.Tensor, np.ndarray, torch.Tensor]:
    """One image forward (the caller's `image` when it already ran one with keep_graph); the P
    per-prompt gradients as one batched vector-Jacobian product (`is_grads_batched`: vmap over
    the backward, one row of the identity per prompt)."""
    out = adapter.image_forward(pixels, keep_graph=True) if image is None else image
    img = F.normalize(out.embedding, dim=-1)                                 # [embed]
    scores = adapter.logit_scale * (t @ img)                                 # [prompt]
    p = len(scores)
    eye = torch.eye(p, dtype=scores.dtype, device=scores.device)            # [prompt, prompt]
    grads = _grads(scores, out.layer_attentions, grad_outputs=eye, is_grads_batched=True,
                   retain_graph=True)                                        # each [prompt, 1, h, q, k]
    attns = [a.detach().expand(p, -1, -1, -1) for a in out.layer_attentions]  # [prompt, h, q, k]
    rows = _rows(propagate(attns, [g[:, 0] for g in grads], start), adapter.image_pool_weights())
    return scores, rows, out.patch_features


def _image_rows_copies(adapter: CLIPAdapter, pixels: torch.Tensor, t: torch.Tensor,
                       image: TowerOutput | None = None, start: int = 0
                       ) -> tuple[torch.Tensor, np.ndarray, torch.Tensor]:
    """P copies of the image in one batch (one forward per copy when the adapter cannot
    batch); copies never interact, so the gradient of the summed scores w.r.t. copy p's
    attention is prompt p's. `image` is not used: the copies are their own forward."""
    p = len(t)
    emb, groups, patches = image_forward_copies(adapter, pixels, p)          # [prompt, embed]
    scores = adapter.logit_scale * (F.normalize(emb, dim=-1) * t).sum(-1)    # [prompt]
    leaves = [a for attns, _ in groups for a in attns]
    grads = _grads(scores.sum(), leaves, retain_graph=True)
    rows, k = np.zeros((p, adapter.patch_grid.n_tokens)), 0
    for attns, first in groups:
        r = _rows(propagate(attns, grads[k:k + len(attns)], start), adapter.image_pool_weights())
        rows[first:first + len(r)] = r                                       # [b, token]
        k += len(attns)
    return scores, rows, patches


STRATEGIES = {"vjp": _image_rows_vjp, "copies": _image_rows_copies}


def _text_rows(adapter: CLIPAdapter, scores: torch.Tensor, groups: list[tuple],
               encs: Sequence[Encoded], start: int = 0) -> list[np.ndarray]:
    """Word relevance of every prompt [token] each. Each text's attention feeds only its own
    score, so one plain backward of the summed scores gives every prompt's gradients."""
    leaves = [a for attns, _ in groups for a in attns]
    grads, k, text = _grads(scores.sum(), leaves), 0, []
    for attns, first in groups:
        gs, k = grads[k:k + len(attns)], k + len(attns)
        for i in range(len(attns[0])):
            e = encs[first + i]
            n = e.inputs["input_ids"].shape[1]                               # its own block
            r = propagate([a[i:i + 1, :, :n, :n] for a in attns],
                          [g[i:i + 1, :, :n, :n] for g in gs], start)        # [1, token, token]
            text.append(_rows(r, adapter.text_pool_weights(e))[0])
    return text


def relevance_from(adapter: CLIPAdapter, pixels: torch.Tensor, t: torch.Tensor,
                   groups: list[tuple], encs: Sequence[Encoded], image: TowerOutput | None = None,
                   words: bool = True, strategy: str = "vjp", start: int = 0) -> Relevance:
    """Relevance of one image [1, 3, H, W] for every prompt from texts that already ran:
    t: unit text embeddings [prompt, embed] and their attention groups (`text_forward_all`,
    in the graph when words=True). image: that image's forward with keep_graph, if the caller
    ran one (the "vjp" strategy then runs no image forward of its own). start: the first
    layer propagated (0: all layers, Chefer et al.'s rule; -1: the last layer only)."""
    try:
        scores, rows, patches = STRATEGIES[strategy](adapter, pixels, t, image, start)
    except RuntimeError:
        if strategy != "vjp":
            raise
        scores, rows, patches = _image_rows_copies(adapter, pixels, t, start=start)
    text = _text_rows(adapter, scores, groups, encs, start) if words else []
    return Relevance(image=rows, text=text, scores=scores.detach().cpu().numpy(),
                     text_embeddings=t.detach().cpu().numpy(),
                     patch_features=patches.detach().cpu().numpy())


def relevance_batched(adapter: CLIPAdapter, pixels: torch.Tensor, encs: Sequence[Encoded],
                      words: bool = True, strategy: str = "vjp", start: int = 0) -> Relevance:
    """Ours: relevance of one image [1, 3, H, W] for every prompt, sharing the work.

    strategy "vjp" (default): one image forward and one batched backward for all prompts;
    "copies": P copies of the image as one batch and one backward. Both give the per-prompt
    recipe's maps; "vjp" falls back to "copies" if an operator has no batching rule."""
    t, groups = text_forward_all(adapter, encs, keep_graph=words)          # [prompt, embed]
    return relevance_from(adapter, pixels, t, groups, encs, words=words, strategy=strategy,
                          start=start)


def _parameters(adapter: CLIPAdapter) -> list[torch.Tensor]:
    mods = [m for m in vars(adapter).values() if isinstance(m, nn.Module)]
    return [q for m in mods for q in m.parameters() if q.requires_grad]


def relevance_per_prompt(adapter: CLIPAdapter, pixels: torch.Tensor, encs: Sequence[Encoded],
                         words: bool = True, start: int = 0) -> Relevance:
    """The published recipe, the reference: per prompt, a forward of both towers and a full
    backward (weight gradients too, as `loss.backward()` would; returned, not stored on the
    shared model)."""
    params = _parameters(adapter)
    pool = adapter.image_pool_weights()
    image, text, scores = [], [], []
    for e in encs:
        img = adapter.image_forward(pixels, keep_graph=True)
        txt = adapter.text_forward(e, keep_graph=True)
        s = adapter.logit_scale * F.cosine_similarity(img.embedding, txt.embedding, dim=-1)
        leaves = [*img.layer_attentions, *txt.layer_attentions]
        grads = torch.autograd.grad(s, leaves + params, allow_unused=True)[:len(leaves)]
        grads = [torch.zeros_like(a) if g is None else g for a, g in zip(leaves, grads)]
        n = len(img.layer_attentions)
        image.append(_rows(propagate(img.layer_attentions, grads[:n], start), pool)[0])
        if words:
            text.append(_rows(propagate(txt.layer_attentions, grads[n:], start),
                              adapter.text_pool_weights(e))[0])
        scores.append(float(s.detach()))
    return Relevance(image=np.stack(image), text=text, scores=np.array(scores))
