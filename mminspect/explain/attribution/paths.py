"""The straight path from a baseline to the input, shared by the token and the pixel methods:
Integrated Gradients' integral along it and GradientSHAP's random samples on it. One
implementation each; the callers only shape the inputs ([1, token, d_model] embeddings or
[1, 3, H, W] pixels) and sum the result into their own scores.

    attr = path_integral(forward, inputs, baselines, n_steps=32, batch=8)          # like inputs
    mean, errors = expected_gradients(forward, x, baselines, n_samples=16, stdevs=0.0,
                                      seed=0, batch=8, order="point_first")       # like x
"""
from __future__ import annotations

import torch
from captum.attr import IntegratedGradients


def path_integral(forward, inputs: torch.Tensor, baselines: torch.Tensor, n_steps: int,
                  batch: int, delta: bool = False):
    """IG's attribution (gradients averaged along the path, times input - baseline), with
    captum's Gauss-Legendre rule: far fewer steps than Riemann reach the same completeness
    error. A fresh captum object per call (they are not safe to share between requests).
    delta=True: also captum's convergence delta (sum of the attribution - the gap)."""
    return IntegratedGradients(forward).attribute(
        inputs, baselines=baselines, n_steps=n_steps, method="gausslegendre",
        internal_batch_size=batch, return_convergence_delta=delta)


# The order in which one sample draws its numbers from its generator. Both are kept so that
# every map measured before (the shipped tables' figures among them) stays the same, bit for
# bit: "point_first" (the text method, one baseline): the point on the path, then the noise;
# "baseline_first" (captum's GradientShap order, the pixel method): which baseline, the noise,
# then the point.
DRAW_ORDERS = ("point_first", "baseline_first")


def _draw(gen: torch.Generator, shape, n_baselines: int, order: str):
    if order == "point_first":
        alpha = torch.rand((), generator=gen)
        return 0, torch.randn(shape, generator=gen), alpha
    pick = int(torch.randint(n_baselines, (), generator=gen))
    noise = torch.randn(shape, generator=gen)
    return pick, noise, torch.rand((), generator=gen)


def expected_gradients(forward, x: torch.Tensor, baselines: torch.Tensor, n_samples: int,
                       stdevs: float, seed: int, batch: int, order: str = "baseline_first",
                       errors: bool = False) -> tuple[torch.Tensor, list[float]]:
    """GradientSHAP: for each sample a baseline drawn from `baselines` [m, *x.shape], Gaussian
    noise (std `stdevs`) on the input x, and a uniform point on the path between them; the
    gradient of forward there times (noisy input - baseline), averaged over the samples
    (float64, x's shape). errors=True: also each sample's completeness error
    |sum of its attribution - (f(noisy) - f(baseline))| (one more forward per batch).

    Written out rather than called from captum because captum draws the baseline and the point
    from numpy's GLOBAL generator (torch.manual_seed does not reach it, and seeding it would
    race with every other request) and runs all samples as one batch (at 512 tokens a 6+ GB
    peak). Here the samples run `batch` at a time, each drawing from its own generator seeded
    by `seed` and its index: the same seed gives the same map whatever `batch` is."""
    if order not in DRAW_ORDERS:
        raise ValueError(f"order must be one of {DRAW_ORDERS}, got {order!r}")
    total = torch.zeros_like(x, dtype=torch.float64)                    # like x
    errs: list[float] = []
    for first in range(0, n_samples, batch):
        gens = [torch.Generator().manual_seed(seed * 1_000_003 + i)
                for i in range(first, min(first + batch, n_samples))]
        draws = [_draw(g, x.shape, len(baselines), order) for g in gens]
        b = baselines[[d[0] for d in draws]]                             # [k, *x]
        noisy = x + stdevs * torch.stack([d[1] for d in draws]).to(x)    # [k, *x]
        alpha = torch.stack([d[2] for d in draws]).to(x).reshape(-1, *[1] * x.ndim)  # [k, 1..]
        points = (b + alpha * (noisy - b)).requires_grad_(True)          # [k, *x]
        with torch.enable_grad():
            grads, = torch.autograd.grad(forward(points).sum(), points)  # [k, *x]
        attr = (grads * (noisy - b)).detach()                            # [k, *x]
        total += attr.double().sum(0)
        if errors:
            with torch.no_grad():
                ends = forward(torch.cat([noisy, b])).double()           # [2k]
            gap = ends[:len(gens)] - ends[len(gens):]                    # [k]
            errs += (attr.double().sum(tuple(range(1, attr.ndim))) - gap).abs().tolist()
    return total / n_samples, errs
