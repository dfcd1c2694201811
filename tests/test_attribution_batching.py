"""Batching changes the speed, never the map: every method (and the faithfulness curves) gives
the same scores, to 1e-5, one item per forward as many items per forward."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from mminspect.explain.attribution import METHODS, SimilarityTarget, build_problem, faithfulness

TEXT = "The old fisherman pulled his small wooden boat onto the sandy beach at dawn."


@pytest.fixture(scope="module")
def problems(minilm):
    enc = minilm.encode(TEXT)
    target = SimilarityTarget("A man and his boat.").prepare(minilm)
    batched = build_problem(minilm, enc, target, "pad")
    assert batched.batch_size >= 8                    # a short text: many items per forward
    return batched, replace(batched, batch_size=1)


@pytest.mark.parametrize("name, params", [
    ("feature_ablation", {}), ("feature_ablation", {"group": 2}), ("occlusion", {}),
    ("occlusion", {"window": 4, "stride": 2}), ("lime", {"n_samples": 24}),
    ("kernel_shap", {"n_samples": 24}),
    ("gradient_shap", {"n_samples": 12}), ("gradient_shap", {"n_samples": 6, "stdevs": 0.01}),
    ("integrated_gradients", {"start_steps": 16, "max_steps": 16})])
def test_batched_equals_one_item_per_forward(problems, name, params):
    batched, single = problems
    m = METHODS[name]
    resolved = m.resolve(params)
    a = m.fn(batched, **resolved).scores
    b = m.fn(single, **resolved).scores
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_faithfulness_curves_do_not_depend_on_the_batch(problems):
    batched, single = problems
    scores = np.linspace(-1, 1, batched.n_tokens).astype(np.float32)
    fa, fb = faithfulness(batched, scores), faithfulness(single, scores)
    for name in fa.CURVES:
        np.testing.assert_allclose(getattr(fa, name), getattr(fb, name), rtol=1e-5, atol=1e-5)


def test_gradient_shap_is_the_same_map_every_time(problems):
    batched, _ = problems
    m = METHODS["gradient_shap"]
    a = m.fn(batched, **m.resolve({"stdevs": 0.01})).scores
    b = m.fn(batched, **m.resolve({"stdevs": 0.01})).scores
    assert torch.equal(a, b)
