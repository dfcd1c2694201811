"""Every image-text map, registered in one dict: each entry holds its own function and its
parameters as data. `compute` is the one-map entry point the API and the pointing game share.

    out = compute(adapter, pixels, encs=[enc_a], method="relevance")          # why A
    out = compute(adapter, pixels, encs=[enc_a, enc_b], method="relevance")   # why A rather than B
    outs = IMAGE_METHODS["relevance"].from_pass(adapter, towers, encs)       # every prompt at once

A method's `fn(query, params, progress)` explains one prompt (or a contrast); `from_pass`, where
a method has one, gives the maps of every prompt for the first image of a `TowerPass` (the one
forward of both towers an Inspect runs), with no forward of its own.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch

from ..models.base import Encoded
from ..models.clip_base import CLIPAdapter, TowerOutput
from ..types import InputError, Progress
from .attribution import Param, resolve_params
from .dense_maps import dense_maps
from .grad_eclip import grad_eclip_image, grad_eclip_words
from .image_maps import (attention_maps, patch_row, pool_to_patches, raw_attention_map,
                         rollout_map, similarity_maps, upsample)
from .pixel_attribution import gradient_shap, integrated_gradients, logit_function, occlusion
from .legrad import legrad
from .relevance import relevance_batched, relevance_from
from .towers import TowerPass

F = torch.nn.functional


@dataclass(frozen=True)
class MapOutput:
    """patch_scores [rows, cols]; pixel_scores [H, W] (patch blocks for patch-level methods);
    text: word scores over the first prompt's tokens [token] (the relevance entries and
    Grad-ECLIP; None for the others); target_value:
    the explained logit (difference for a contrast); delta / n_steps: completeness info."""

    patch_scores: np.ndarray
    pixel_scores: np.ndarray
    target_value: float
    text: np.ndarray | None = None
    delta: float | None = None
    n_steps: int | None = None
    notes: list[str] = field(default_factory=list)


def text_embeddings(adapter: CLIPAdapter, encs: Sequence[Encoded]) -> torch.Tensor:
    """Unit text embeddings [prompt, embed] through the same text_forward the maps use."""
    with torch.no_grad():
        return F.normalize(torch.stack([adapter.text_forward(e).embedding for e in encs]), dim=-1)


@dataclass
class ImageQuery:
    """One map to compute: pixels [1, 3, H, W]; encs [A] explains logit(A), [A, B] explains
    logit(A) - logit(B); text: their unit embeddings [k, embed] when the caller has them
    (computed on first use otherwise: relevance runs its own text pass, with the graph)."""

    adapter: CLIPAdapter
    pixels: torch.Tensor
    encs: Sequence[Encoded]
    text: torch.Tensor | None = None

    @property
    def weights(self) -> torch.Tensor:
        return torch.tensor([1.0, -1.0][:len(self.encs)])                    # [k]

    def texts(self) -> torch.Tensor:
        if self.text is None:
            self.text = text_embeddings(self.adapter, self.encs)             # [k, embed]
        return self.text

    def forward(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """pixels [n, 3, H, W] -> the explained target [n], with gradients."""
        return logit_function(self.adapter, self.texts(), self.weights)

    def plain_pass(self) -> tuple[float, TowerOutput]:
        """One image forward without gradients: the target's value, and the attentions and
        patch features the gradient-free maps read (so they need no second forward)."""
        with torch.no_grad():
            out = self.adapter.image_forward(self.pixels)
            img = F.normalize(out.embedding, dim=-1)                          # [embed]
            value = self.adapter.logit_scale * (self.texts() @ img) @ self.weights.to(img)
        return float(value), out

    def value(self) -> float:
        with torch.no_grad():
            return float(self.forward()(self.pixels)[0])


def _difference(a: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """A's map, minus B's when there is a B (a contrast)."""
    return a - rest[0] if len(rest) else a


def map_relevance(q: ImageQuery, p: dict, progress: Progress | None, start: int = 0) -> MapOutput:
    rel = relevance_batched(q.adapter, q.pixels, q.encs, words=True, start=start)
    patch = patch_row(q.adapter.patch_grid, _difference(rel.image[0], rel.image[1:]))
    return MapOutput(patch, upsample(patch, q.adapter.patch_grid),
                     float(rel.scores @ q.weights.numpy()), text=rel.text[0])


def map_relevance_last(q: ImageQuery, p: dict, progress: Progress | None) -> MapOutput:
    return map_relevance(q, p, progress, start=-1)


def map_legrad(q: ImageQuery, p: dict, progress: Progress | None) -> MapOutput:
    patch = legrad(q.adapter, q.pixels, q.texts(), q.weights, layers=p["layers"])
    return MapOutput(patch, upsample(patch, q.adapter.patch_grid), q.value())


def map_grad_eclip(q: ImageQuery, p: dict, progress: Progress | None) -> MapOutput:
    patch, _ = grad_eclip_image(q.adapter, q.pixels, q.texts(), q.weights)
    value, out = q.plain_pass()
    notes, words = [], None
    try:
        words = grad_eclip_words(q.adapter, q.encs[0], F.normalize(out.embedding, dim=-1),
                                 text_layers=p["text_layers"])
    except InputError as e:          # a text tower the site table does not know: image map only
        notes.append(f"No word map: {e}")
    return MapOutput(patch, upsample(patch, q.adapter.patch_grid), value, text=words, notes=notes)


def _dense(variant: str):
    def map_dense(q: ImageQuery, p: dict, progress: Progress | None) -> MapOutput:
        value = q.value()
        sims = dense_maps(q.adapter, q.pixels, q.texts(), variant)          # [k, rows, cols]
        patch = _difference(sims[0], sims[1:])
        return MapOutput(patch, upsample(patch, q.adapter.patch_grid), value)
    map_dense.__name__ = f"map_{variant}"
    return map_dense


def map_similarity(q: ImageQuery, p: dict, progress: Progress | None) -> MapOutput:
    value, out = q.plain_pass()
    sims = similarity_maps(q.adapter, q.pixels, q.texts(), out.patch_features)   # [k, rows, cols]
    patch = _difference(sims[0], sims[1:])
    return MapOutput(patch, upsample(patch, q.adapter.patch_grid), value)


def map_rollout(q: ImageQuery, p: dict, progress: Progress | None) -> MapOutput:
    value, out = q.plain_pass()
    patch = rollout_map(attention_maps(q.adapter, q.pixels, out), q.adapter.patch_grid)
    return MapOutput(patch, upsample(patch, q.adapter.patch_grid), value)


def map_raw_attention(q: ImageQuery, p: dict, progress: Progress | None) -> MapOutput:
    value, out = q.plain_pass()
    patch = raw_attention_map(attention_maps(q.adapter, q.pixels, out), q.adapter.patch_grid)
    return MapOutput(patch, upsample(patch, q.adapter.patch_grid), value)


def map_integrated_gradients(q: ImageQuery, p: dict, progress: Progress | None) -> MapOutput:
    px, delta = integrated_gradients(q.forward(), q.pixels, n_steps=p["n_steps"], progress=progress)
    return MapOutput(pool_to_patches(px, q.adapter.patch_grid), px, q.value(), delta=delta,
                     n_steps=p["n_steps"])


def map_occlusion(q: ImageQuery, p: dict, progress: Progress | None) -> MapOutput:
    win = p["window"] or q.adapter.patch_grid.patch_size
    px = occlusion(q.forward(), q.pixels, window=win, stride=max(1, win // 2))
    return MapOutput(pool_to_patches(px, q.adapter.patch_grid), px, q.value())


def map_gradient_shap(q: ImageQuery, p: dict, progress: Progress | None) -> MapOutput:
    px, delta = gradient_shap(q.forward(), q.pixels, n_samples=p["n_samples"], stdevs=p["stdevs"])
    return MapOutput(pool_to_patches(px, q.adapter.patch_grid), px, q.value(), delta=delta)


def relevance_from_pass(adapter: CLIPAdapter, towers: TowerPass, encs: Sequence[Encoded],
                        start: int = 0) -> list[MapOutput]:
    """Relevance of every prompt for the pass's first image: one batched backward through the
    pass's own graph (it must have run with keep_graph)."""
    rel = relevance_from(adapter, towers.pixels[:1], towers.text, towers.text_groups, encs,
                         image=towers.images[0], start=start)
    g = adapter.patch_grid
    return [MapOutput(patch_row(g, r), upsample(patch_row(g, r), g), float(s), text=t)
            for r, s, t in zip(rel.image, rel.scores, rel.text)]


def relevance_last_from_pass(adapter: CLIPAdapter, towers: TowerPass, encs: Sequence[Encoded]
                             ) -> list[MapOutput]:
    return relevance_from_pass(adapter, towers, encs, start=-1)


def similarity_from_pass(adapter: CLIPAdapter, towers: TowerPass, encs: Sequence[Encoded]
                         ) -> list[MapOutput]:
    """Patch-text similarity of every prompt for the pass's first image, from its patch
    features and text embeddings (no forward)."""
    first = towers.images[0]
    text = towers.text.detach()                                               # [prompt, embed]
    sims = similarity_maps(adapter, towers.pixels[:1], text, first.patch_features)
    with torch.no_grad():
        logits = adapter.logit_scale * (text @ F.normalize(first.embedding, dim=-1))  # [prompt]
    g = adapter.patch_grid
    return [MapOutput(s, upsample(s, g), float(v)) for s, v in zip(sims, logits)]


@dataclass(frozen=True)
class ImageMethod:
    """name, label for people, its function, parameters, and what the method is: `prompt`
    False = the map ignores the prompt (rollout, raw attention); `signed` = negative values
    mean "against". from_pass: (adapter, TowerPass, encs) -> one MapOutput per prompt for
    the pass's first image, where the method can share an Inspect's forward; such methods
    explain "A rather than B" as map(A) - map(B), so a contrast reuses those maps."""

    name: str
    label: str
    fn: Callable[[ImageQuery, dict, Progress | None], MapOutput]
    params: tuple[Param, ...] = ()
    prompt: bool = True
    signed: bool = False
    description: str = ""
    from_pass: Callable[[CLIPAdapter, TowerPass, Sequence[Encoded]], list[MapOutput]] | None = None
    needs_graph: bool = False          # from_pass differentiates the pass (keep_graph=True)

    def resolve(self, given: dict) -> dict:
        return resolve_params(self.label, self.params, given)

    def every_prompt(self, adapter: CLIPAdapter, towers: TowerPass, encs: Sequence[Encoded]
                     ) -> list[MapOutput]:
        """One map per prompt for the pass's first image, at default parameters: from the
        pass itself where the method can, else one `fn` call per prompt (reusing the pass's
        text embeddings)."""
        if self.from_pass is not None:
            return self.from_pass(adapter, towers, encs)
        text = towers.text.detach()                                           # [prompt, embed]
        return [self.fn(ImageQuery(adapter, towers.pixels[:1], [e], text[i:i + 1]),
                        self.resolve({}), None) for i, e in enumerate(encs)]


IMAGE_METHODS: dict[str, ImageMethod] = {m.name: m for m in (
    ImageMethod("relevance", "Relevance (Chefer et al. 2021)", map_relevance,
                from_pass=relevance_from_pass, needs_graph=True,
                description="Gradient-weighted attention, propagated through ALL layers "
                            "(the paper's rule)."),
    ImageMethod("relevance_last", "Relevance, last layer (Chefer notebook)", map_relevance_last,
                from_pass=relevance_last_from_pass, needs_graph=True,
                description="Chefer et al.'s rule on the LAST layer only (R = I + Ā_last): the "
                            "default of the authors' CLIP notebook (start_layer=-1)."),
    ImageMethod("legrad", "LeGrad (Bousselham et al. 2025)", map_legrad,
                (Param("layers", 2, 1, 48, 1, "How many last layers are summed (the authors' "
                                               "default: 2)."),),
                description="Gradient of each layer's own image-text score w.r.t. that layer's "
                            "attention, ReLU, mean over heads and queries, summed; min-max scaled."),
    ImageMethod("grad_eclip", "Grad-ECLIP (Zhao et al. 2024)", map_grad_eclip,
                (Param("text_layers", 0, 0, 48, 1, "Text layers summed for the word map; 0 = "
                                                   "two thirds of the tower (the authors' 8 of 12)."),),
                description="Last layer: gradient on the heads' output x values x a loosened "
                            "q-k attention, ReLU; also a word map of the prompt."),
    ImageMethod("similarity", "Patch-text similarity", map_similarity, signed=True,
                from_pass=similarity_from_pass,
                description="Cosine of each patch's projected feature with the prompt; no gradients."),
    ImageMethod("maskclip", "MaskCLIP dense map (value path)", _dense("maskclip"), signed=True,
                description="Last layer's attention skipped (each token: out(v(x))), then the "
                            "final norm + projection; cosine per patch. No gradients."),
    ImageMethod("sclip", "SCLIP-style self-self attention", _dense("sclip"), signed=True,
                description="Last layer's attention is softmax(qqᵀ)+softmax(kkᵀ), then the final "
                            "norm + projection; cosine per patch. No gradients."),
    ImageMethod("rollout", "Attention rollout", map_rollout, prompt=False,
                description="Head-averaged attention with the residual, multiplied over layers."),
    ImageMethod("raw_attention", "Last-layer CLS attention", map_raw_attention, prompt=False,
                description="Where the CLS token looks in the last layer, averaged over heads."),
    ImageMethod("integrated_gradients", "Integrated Gradients", map_integrated_gradients,
                (Param("n_steps", 32, 4, 256, 4, "Integration steps (Gauss-Legendre)."),),
                signed=True, description="captum on pixels."),
    ImageMethod("occlusion", "Occlusion", map_occlusion,
                (Param("window", 0, 0, 64, 1, "Square window in pixels; 0 = one patch."),),
                signed=True, description="captum on pixels."),
    ImageMethod("gradient_shap", "GradientSHAP", map_gradient_shap,
                (Param("n_samples", 16, 4, 64, 4, "Noisy samples around the baselines."),
                 Param("stdevs", 0.1, 0.0, 1.0, 0.05, "Noise in normalised pixel units.")),
                signed=True, description="captum on pixels."),
)}


def compute(adapter: CLIPAdapter, pixels: torch.Tensor, encs: Sequence[Encoded], method: str,
            params: dict | None = None, progress: Progress | None = None,
            text_emb: torch.Tensor | None = None) -> MapOutput:
    """One map for pixels [1, 3, H, W]: encs = [A] explains A's logit, [A, B] "A rather than B".
    text_emb: their unit embeddings [k, embed], if the caller already has them."""
    m = IMAGE_METHODS[method]
    return m.fn(ImageQuery(adapter, pixels, encs, text_emb), m.resolve(params or {}), progress)
