"""GradientSHAP and Integrated Gradients have one implementation for tokens and pixels
(explain/attribution/paths.py). Each must give, bit for bit, what the two separate
implementations gave before it (copied below as the reference: the maps the shipped tables
were measured with), on a fixed seed, for a nonlinear function of the input."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from captum.attr import IntegratedGradients

from mminspect.explain import pixel_attribution
from mminspect.explain.attribution import Problem
from mminspect.explain.attribution.gradients import gradient_shap as text_gradient_shap
from mminspect.explain.attribution.integrated_gradients import integrated_gradients

F = torch.nn.functional


def _text_problem(stdevs_seed: int = 0) -> Problem:
    """A nonlinear target of 7 token embeddings of width 6 (a stand-in for a model)."""
    g = torch.Generator().manual_seed(stdevs_seed)
    w1, w2 = torch.randn(6, 5, generator=g), torch.randn(5, generator=g)

    def forward(e):                                                  # [n, token, d] -> [n]
        return torch.tanh(e @ w1).mean(1) @ w2 + (e ** 2).sum((1, 2)) * 0.05

    x, b = torch.randn(1, 7, 6, generator=g), torch.zeros(1, 7, 6)
    with torch.no_grad():
        fx, fb = float(forward(x)), float(forward(b))
    return Problem(forward=forward, inputs=x, baselines=b, special=torch.zeros(7, dtype=torch.bool),
                   f_input=fx, f_baseline=fb, batch_size=3)


def _pixel_forward():
    g = torch.Generator().manual_seed(1)
    w = torch.randn(3, generator=g)

    def forward(px):                                                 # [n, 3, H, W] -> [n]
        return torch.sigmoid((px * w[:, None, None]).sum(1)).mean((1, 2)) + px.std((1, 2, 3))
    return forward, torch.randn(1, 3, 16, 16, generator=g)


# --- the implementations before they were merged (the reference) -------------------------

def _before_text_gradient_shap(problem, n_samples, stdevs, seed):
    x, b = problem.inputs[0], problem.baselines[0]
    total = torch.zeros_like(x, dtype=torch.float64)
    for first in range(0, n_samples, problem.batch_size):
        ids = range(first, min(first + problem.batch_size, n_samples))
        gens = [torch.Generator().manual_seed(seed * 1_000_003 + i) for i in ids]
        alpha = torch.stack([torch.rand((), generator=g) for g in gens])
        noisy = x + stdevs * torch.stack([torch.randn(x.shape, generator=g) for g in gens]).to(x)
        alpha = alpha.to(x)[:, None, None]
        points = (b + alpha * (noisy - b)).requires_grad_(True)
        grads, = torch.autograd.grad(problem.forward(points).sum(), points)
        total += (grads * (noisy - b)).double().sum(0)
    return (total / n_samples).to(x.dtype)[None][0].sum(-1)          # [token]


def _before_pixel_gradient_shap(forward, pixels, n_samples, stdevs, seed, batch):
    h, w = pixels.shape[-2:]
    blur = F.interpolate(F.avg_pool2d(pixels, 8, ceil_mode=True), size=(h, w), mode="bilinear")
    baselines = torch.cat([torch.zeros_like(pixels), blur]).detach()
    x = pixels[0].detach()
    total = torch.zeros_like(x, dtype=torch.float64)
    deltas = []
    for first in range(0, n_samples, batch):
        gens = [torch.Generator().manual_seed(seed * 1_000_003 + i)
                for i in range(first, min(first + batch, n_samples))]
        pick = [int(torch.randint(len(baselines), (), generator=g)) for g in gens]
        noise = torch.stack([torch.randn(x.shape, generator=g) for g in gens])
        alpha = torch.stack([torch.rand((), generator=g) for g in gens])
        b = baselines[pick]
        noisy = x + stdevs * noise.to(x)
        points = (b + alpha.to(x)[:, None, None, None] * (noisy - b)).requires_grad_(True)
        with torch.enable_grad():
            grads, = torch.autograd.grad(forward(points).sum(), points)
        attr = (grads * (noisy - b)).detach()
        total += attr.double().sum(0)
        with torch.no_grad():
            ends = forward(torch.cat([noisy, b])).double()
        gap = ends[:len(gens)] - ends[len(gens):]
        deltas += (attr.double().sum((1, 2, 3)) - gap).abs().tolist()
    return (total / n_samples).sum(0).float().numpy(), float(np.mean(deltas))


# --- the tests -----------------------------------------------------------------------------

@pytest.mark.parametrize("stdevs,seed", [(0.0, 0), (0.05, 3)])
def test_text_gradient_shap_is_the_same_as_before(stdevs, seed):
    problem = _text_problem()
    got = text_gradient_shap(problem, n_samples=10, stdevs=stdevs, seed=seed).scores
    want = _before_text_gradient_shap(problem, 10, stdevs, seed)
    assert torch.equal(got, want), (got, want)
    other = text_gradient_shap(problem, n_samples=10, stdevs=stdevs, seed=seed + 1).scores
    assert not torch.equal(got, other)                  # the comparison can fail: seed matters


@pytest.mark.parametrize("stdevs,seed,batch", [(0.1, 0, 8), (0.0, 5, 3)])
def test_pixel_gradient_shap_is_the_same_as_before(stdevs, seed, batch):
    forward, pixels = _pixel_forward()
    got, delta = pixel_attribution.gradient_shap(forward, pixels, n_samples=10, stdevs=stdevs,
                                                 seed=seed, batch=batch)
    want, want_delta = _before_pixel_gradient_shap(forward, pixels, 10, stdevs, seed, batch)
    assert np.array_equal(got, want) and delta == want_delta
    other, _ = pixel_attribution.gradient_shap(forward, pixels, n_samples=10, stdevs=stdevs,
                                               seed=seed + 1, batch=batch)
    assert not np.array_equal(got, other)


def test_pixel_integrated_gradients_is_the_same_as_before():
    forward, pixels = _pixel_forward()
    got, delta = pixel_attribution.integrated_gradients(forward, pixels, n_steps=32, batch=8)
    attr, want_delta = IntegratedGradients(forward).attribute(
        pixels, baselines=torch.zeros_like(pixels), n_steps=32, internal_batch_size=8,
        return_convergence_delta=True)
    assert np.array_equal(got, attr[0].sum(0).detach().numpy())
    assert delta == float(want_delta.abs().max())


def test_text_integrated_gradients_is_the_same_as_before():
    problem = _text_problem()
    out = integrated_gradients(problem, tolerance=1e-9, start_steps=16, max_steps=24)
    assert out.n_steps == 24                               # two tries: 16, then 24 steps
    attr = IntegratedGradients(problem.forward).attribute(
        problem.inputs, baselines=problem.baselines, n_steps=24, method="gausslegendre",
        internal_batch_size=problem.batch_size)
    assert torch.equal(out.scores, attr[0].sum(-1).detach())
