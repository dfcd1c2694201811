"""captum on pixels for image-text models, and deletion / insertion over patches.

The target is the prompt's logit, logit_scale * cosine(image, prompt) (or logit(A) - logit(B)
for a contrast), differentiated w.r.t. the normalised pixels [1, 3, H, W]. The baseline is
the all-zero normalised image, i.e. the training set's mean colour: "no image" to the model.
Pixel maps are summed over colour channels (IG's completeness holds for the sum).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from captum.attr import Occlusion

from ..models.clip_base import CLIPAdapter
from ..types import Faithfulness, Progress
from .attribution import Problem, faithfulness, random_curves
from .attribution.paths import expected_gradients, path_integral

F = torch.nn.functional


def image_embeddings(adapter: CLIPAdapter, pixels: torch.Tensor) -> torch.Tensor:
    """pixels [n, 3, H, W] -> image embeddings [n, embed] with gradients (batched when the
    adapter runs batches, else one image at a time). The graph is kept only where gradients
    are on (captum turns them on; deletion curves and occlusion run without)."""
    graph = torch.is_grad_enabled()
    try:
        return adapter.image_forward_batch(pixels, keep_graph=graph).embedding       # [n, embed]
    except NotImplementedError:
        return torch.stack([adapter.image_forward(p[None], keep_graph=graph).embedding for p in pixels])


def logit_function(adapter: CLIPAdapter, text_emb: torch.Tensor, weights: torch.Tensor
                   ) -> Callable[[torch.Tensor], torch.Tensor]:
    """pixels [n, 3, H, W] -> target [n] = sum_k weights[k] * logit(prompt k).
    text_emb: [k, embed] (detached); weights [k]: [1] for one prompt, [1, -1] for A vs B."""
    t = F.normalize(text_emb.detach(), dim=-1)                                     # [k, embed]
    w = weights.to(t)

    def forward(pixels: torch.Tensor) -> torch.Tensor:
        img = F.normalize(image_embeddings(adapter, pixels), dim=-1)              # [n, embed]
        return adapter.logit_scale * (img @ t.T) @ w                               # [n]

    return forward


def _counting(forward, total: int, progress: Progress | None, label: str):
    """Wrap forward to report progress once per call (captum calls it once per chunk)."""
    if progress is None:
        return forward
    done = [0]

    def wrapped(x):
        out = forward(x)
        done[0] += 1
        progress(min(done[0] / total, 1.0), f"{label}: {done[0]}/{total} batches")
        return out

    return wrapped


def integrated_gradients(forward, pixels: torch.Tensor, n_steps: int = 32, batch: int = 8,
                         progress: Progress | None = None) -> tuple[np.ndarray, float]:
    """IG over a fixed number of steps (the token method's, explain/attribution/paths.py)
    -> ([H, W], |convergence delta|)."""
    total = -(-n_steps // batch) + 1              # step chunks, plus f(x) and f(baseline)
    attr, delta = path_integral(_counting(forward, total, progress, "Integrated Gradients"),
                                pixels, torch.zeros_like(pixels), n_steps, batch, delta=True)
    return attr[0].sum(0).detach().cpu().numpy(), float(delta.abs().max())         # [H, W]


def occlusion(forward, pixels: torch.Tensor, window: int, stride: int, batch: int = 8) -> np.ndarray:
    """Occlusion: the drop of the target when a window is set to the mean colour -> [H, W]."""
    with torch.no_grad():
        attr = Occlusion(forward).attribute(pixels, sliding_window_shapes=(3, window, window),
                                            strides=(3, stride, stride), baselines=0.0,
                                            perturbations_per_eval=batch)
    return attr[0].sum(0).cpu().numpy()                                            # [H, W]


def gradient_shap(forward, pixels: torch.Tensor, n_samples: int = 16, stdevs: float = 0.1,
                  seed: int = 0, batch: int = 8) -> tuple[np.ndarray, float]:
    """GradientSHAP with two baselines (mean colour, and a coarse blur of the image) ->
    ([H, W], mean |convergence delta|).

    What captum's GradientShap computes, by the implementation the token method shares
    (explain/attribution/paths.py: each sample draws from its own generator, seeded by `seed`
    and its index: the same seed gives the same map, bit for bit, whatever `batch` is)."""
    h, w = pixels.shape[-2:]
    blur = F.interpolate(F.avg_pool2d(pixels, 8, ceil_mode=True), size=(h, w), mode="bilinear")
    baselines = torch.cat([torch.zeros_like(pixels), blur]).detach()              # [2, 3, H, W]
    mean, errors = expected_gradients(forward, pixels[0].detach(), baselines, n_samples, stdevs,
                                      seed, batch, "baseline_first", errors=True)  # [3, H, W]
    return mean.sum(0).float().cpu().numpy(), float(np.mean(errors))             # [H, W]


def patch_problem(forward, pixels: torch.Tensor, patch: int, batch: int = 16) -> Problem:
    """The image as a sequence of patches, so the text attribution's deletion / insertion
    curves apply unchanged: inputs [1, patch_token, 3 * p * p]; the baseline is the mean colour."""
    _, c, h, w = pixels.shape
    rows, cols = h // patch, w // patch

    def to_patches(x):                                               # [n, 3, H, W] -> [n, token, d]
        x = x.reshape(-1, c, rows, patch, cols, patch).permute(0, 2, 4, 1, 3, 5)
        return x.reshape(x.shape[0], rows * cols, c * patch * patch)

    def from_patches(t):                                             # [n, token, d] -> [n, 3, H, W]
        t = t.reshape(-1, rows, cols, c, patch, patch).permute(0, 3, 1, 4, 2, 5)
        return t.reshape(t.shape[0], c, h, w)

    def run(t):
        return forward(from_patches(t)).detach()                     # [n]

    x = to_patches(pixels).detach()                                  # [1, token, d]
    b = torch.zeros_like(x)
    with torch.no_grad():
        f_x, f_b = (float(v) for v in forward(torch.cat([pixels, from_patches(b)])))
    return Problem(forward=run, inputs=x, baselines=b, special=torch.zeros(rows * cols, dtype=torch.bool),
                   f_input=f_x, f_baseline=f_b, batch_size=batch)


def patch_faithfulness(problem: Problem, patch_scores: np.ndarray, reference=None) -> Faithfulness:
    """Deletion / insertion of patches in the map's order vs a random order (3 orders)."""
    reference = reference or random_curves(problem)
    with torch.no_grad():
        return faithfulness(problem, np.asarray(patch_scores, np.float64).reshape(-1), reference)
