"""Sanity checks (cascading model randomisation) and method agreement: a map that ignores the
model fails, relevance on mini-CLIP passes, the cached model is never touched, the same seed
gives the same result, and a method agrees with itself."""
from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import mminspect as mi  # noqa: E402
from mminspect.explain.attribution import METHODS, Method, MethodOutput  # noqa: E402
from mminspect.explain.sanity import (agreement_matrix, model_copy, randomize_block,  # noqa: E402
                                      rank_correlation, tower_blocks)
from mminspect.types import InputError  # noqa: E402

TEXT, OTHER = "The cat sat on the mat near the door.", "A kitten rested on a rug."


def _norm_of_input(problem) -> MethodOutput:
    """A 'method' that never looks at the model: each token's embedding norm."""
    return MethodOutput(scores=problem.inputs[0].norm(dim=-1).detach())        # [token]


IGNORES_MODEL = Method(name="embedding_norm", label="Embedding norm", fn=_norm_of_input,
                       needs_grad=False, description="test only")


def test_rank_correlation_matches_a_value_by_hand():
    # ranks differ by 1,1,1,1,0: rho = 1 - 6 * 4 / (5 * (25 - 1)) = 0.8
    assert rank_correlation([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]) == pytest.approx(0.8)
    assert rank_correlation([1, 2, 3], [30, 20, 10]) == pytest.approx(-1.0)
    assert rank_correlation([0, 0, 0], [0, 0, 0]) == 1.0          # equal maps agree
    assert rank_correlation([0, 0, 0], [1, 2, 3]) == 0.0          # a constant map ranks nothing


def test_agreement_of_a_method_with_itself_is_one(minilm):
    comp = mi.compare_attributions(minilm, TEXT, methods=["saliency", "input_x_gradient"],
                                   compare_to=OTHER)
    doubled = [comp.results[0], comp.results[0], comp.results[1]]
    agree = mi.method_agreement(doubled)
    assert agree.matrix[0, 1] == pytest.approx(1.0) and agree.matrix_abs[0, 1] == pytest.approx(1.0)
    assert np.allclose(np.diag(agree.matrix), 1) and np.allclose(agree.matrix, agree.matrix.T)
    whole = mi.method_agreement(comp)
    assert whole.methods == ["saliency", "input_x_gradient"]
    assert whole.n_features == int((~comp.results[0].special).sum())
    signed, absolute = agreement_matrix(np.zeros((2, 5)))          # constant maps too
    assert np.allclose(signed, 1) and np.allclose(absolute, 1)


def test_method_agreement_refuses_maps_of_different_inputs(minilm):
    a = mi.attribute_text(minilm, TEXT, method="saliency", compare_to=OTHER, faithfulness=False)
    b = mi.attribute_text(minilm, "Short.", method="saliency", compare_to=OTHER, faithfulness=False)
    with pytest.raises(InputError, match="same input"):
        mi.method_agreement([a, b])


def test_a_method_that_ignores_the_model_fails(minilm, monkeypatch):
    monkeypatch.setitem(METHODS, IGNORES_MODEL.name, IGNORES_MODEL)
    check = mi.sanity_check(minilm, TEXT, method="embedding_norm", compare_to=OTHER, data=False)
    assert not check.passed
    assert np.allclose(check.spearman, 1.0) and check.score == pytest.approx(1.0)
    assert list(check.n_random) == list(range(7)) and check.half == 3
    assert check.maps.shape == (7, check.n_features)


def test_gradient_map_changes_and_the_cached_model_is_untouched(minilm):
    before = {k: v.clone() for k, v in minilm.model.state_dict().items()}
    check = mi.sanity_check(minilm, TEXT, method="integrated_gradients", compare_to=OTHER,
                            seed=3)
    after = minilm.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before), "the cached model changed"
    assert check.spearman[0] == pytest.approx(1.0)
    assert check.spearman[-1] < 0.9                  # the fully random model's map differs
    assert check.data_target.startswith("similarity to") and check.data_spearman is not None
    again = mi.sanity_check(minilm, TEXT, method="integrated_gradients", compare_to=OTHER, seed=3)
    assert np.array_equal(check.maps, again.maps)    # deterministic under the seed
    assert check.data_target == again.data_target


def test_progress_and_stop_between_maps(minilm):
    seen = []
    mi.sanity_check(minilm, TEXT, method="saliency", compare_to=OTHER, data=False,
                    progress=lambda f, d: seen.append((f, d)))
    assert len(seen) >= 7 and all(0 <= f <= 1 for f, _ in seen)
    assert [f for f, _ in seen] == sorted(f for f, _ in seen)
    calls = []

    def stop():
        calls.append(1)
        return len(calls) > 2
    with pytest.raises(mi.Cancelled):
        mi.sanity_check(minilm, TEXT, method="saliency", compare_to=OTHER, should_stop=stop)


def test_randomize_block_is_seeded_and_keeps_the_scale(minilm):
    clone = model_copy(minilm)
    assert clone.tokenizer is minilm.tokenizer and clone.model is not minilm.model
    block = tower_blocks(clone, "text")[-1]
    w0 = next(p for p in block.parameters() if p.ndim == 2).detach().clone()
    randomize_block(block, 7)
    w1 = next(p for p in block.parameters() if p.ndim == 2).detach().clone()
    assert not torch.equal(w0, w1)
    assert float(w1.std()) == pytest.approx(float(w0.std()), rel=0.05)
    other = tower_blocks(model_copy(minilm), "text")[-1]       # a fresh copy, the same seed
    randomize_block(other, 7)
    assert torch.equal(next(p for p in other.parameters() if p.ndim == 2), w1)


def test_bad_calls_say_how_to_fix_them(minilm):
    with pytest.raises(InputError, match="text to explain"):
        mi.sanity_check(minilm, method="saliency")
    with pytest.raises(InputError, match="params="):
        mi.sanity_check(minilm, TEXT, method="saliency", compare_to=OTHER, n_steps=3)
    with pytest.raises(InputError, match="prompt"):
        mi.sanity_check("miniclip", image=np.zeros((64, 64, 3), np.uint8))


@pytest.fixture(scope="module")
def miniclip():
    return mi.load("miniclip")


def test_relevance_on_miniclip_passes_and_leaves_the_model(miniclip):
    from mminspect.lab.pointing import pointing_scenes
    before = {k: v.clone() for k, v in miniclip.model.state_dict().items()}
    checks = [mi.sanity_check(miniclip, image=img, prompt=p, method="relevance")
              for img, p, _ in pointing_scenes(3)]
    assert all(torch.equal(before[k], v) for k, v in miniclip.model.state_dict().items())
    score = float(np.mean([c.score for c in checks]))
    assert score < checks[0].threshold, [c.score for c in checks]
    assert checks[0].modality == "image" and checks[0].n_features == 64
    assert checks[0].data_target.startswith("prompt ")
    # rollout ignores the prompt: the random prompt leaves its map exactly as it was
    roll = mi.sanity_check(miniclip, image=pointing_scenes(1)[0][0], prompt="a red circle",
                           method="rollout")
    assert roll.data_spearman == pytest.approx(1.0)


@pytest.mark.parametrize("family", ["hf_clip", "open_clip", "hf_siglip", "open_clip_siglip"])
def test_every_clip_family_has_its_image_blocks_randomised(family, tmp_path_factory):
    from clip_tiny import tiny_clip_of
    adapter = tiny_clip_of(family, tmp_path_factory)
    before = {k: v.clone() for k, v in adapter.model.state_dict().items()}
    img = (np.random.default_rng(0).random((32, 32, 3)) * 255).astype(np.uint8)
    check = mi.sanity_check(adapter, image=img, prompt="a red circle", method="relevance")
    assert check.n_random[-1] == len(tower_blocks(adapter, "image")) >= 1
    assert not np.allclose(check.maps[0], check.maps[-1])
    assert all(torch.equal(before[k], v) for k, v in adapter.model.state_dict().items())


def test_a_model_held_by_its_lock_is_copied_with_a_lock_of_its_own(minilm):
    with mi.api.exclusive(minilm):                   # the app's handlers hold it
        clone = model_copy(minilm)
        check = mi.sanity_check(minilm, TEXT, method="saliency", compare_to=OTHER, data=False)
    assert getattr(clone, "_mminspect_lock", None) is None and check.spearman[0] == 1


def test_the_copy_is_counted_and_one_over_the_host_limit_is_refused_before_any_work(
        minilm, miniclip, monkeypatch):
    from mminspect.explain.sanity import copy_bytes
    m = minilm.model                                      # torch's own count, each tensor once
    by_torch = (sum(p.nbytes for _, p in m.named_parameters())
                + sum(b.nbytes for _, b in m.named_buffers()))
    assert copy_bytes(minilm) == by_torch and 80e6 < by_torch < 100e6     # ~22.7 M float32
    monkeypatch.setenv("MMINSPECT_COPY_MEMORY_MB", "50")
    seen = []
    with pytest.raises(InputError, match=r"needs 91 MB.*allows 50 MB.*MMINSPECT_COPY_MEMORY_MB"):
        mi.sanity_check(minilm, TEXT, method="saliency", compare_to=OTHER,
                        progress=lambda f, d: seen.append(d))
    assert seen == []                                     # refused before the first map
    monkeypatch.setenv("MMINSPECT_COPY_MEMORY_MB", "1")  # mini-CLIP's networks: ~3 MB
    with pytest.raises(InputError, match="MMINSPECT_COPY_MEMORY_MB"):
        mi.sanity_check(miniclip, image=np.zeros((64, 64, 3), np.uint8), prompt="a red circle")
    monkeypatch.setenv("MMINSPECT_COPY_MEMORY_MB", "5")
    check = mi.sanity_check(miniclip, image=np.zeros((64, 64, 3), np.uint8),
                            prompt="a red circle", data=False)
    assert check.n_random[-1] == 4


def test_a_map_that_ignores_the_prompt_gets_the_badge_and_relevance_does_not(miniclip):
    from mminspect.lab.pointing import pointing_scenes
    img, prompt, _ = pointing_scenes(1)[0]
    for method, ignored in (("rollout", True), ("raw_attention", True), ("relevance", False)):
        check = mi.sanity_check(miniclip, image=img, prompt=prompt, method=method)
        attr = mi.attribute_image(miniclip, img, prompt, method=method)
        # the flag is computed from the maps: the random prompt's map against this one
        other = mi.attribute_image(miniclip, img, check.data_target.split("'")[1], method=method)
        a, b = attr.patch_scores, other.patch_scores
        rho = max(rank_correlation(a, b), rank_correlation(np.abs(a), np.abs(b)))
        assert check.data_score == pytest.approx(rho, abs=1e-6), method
        assert check.target_ignored is ignored, (method, rho)
        cav = {c.code: c for c in mi.caveats(attr, sanity=check)}
        assert ("ignores_target" in cav) is ignored, (method, list(cav))
        if ignored:
            assert "random prompt" in cav["ignores_target"].title
            assert "Relevance" in cav["ignores_target"].instead


def test_a_text_map_that_ignores_the_target_gets_the_badge_and_ig_does_not(minilm, monkeypatch):
    monkeypatch.setitem(METHODS, IGNORES_MODEL.name, IGNORES_MODEL)
    blind = mi.sanity_check(minilm, TEXT, method="embedding_norm", compare_to=OTHER)
    assert blind.data_score == pytest.approx(1.0) and blind.target_ignored
    ig = mi.sanity_check(minilm, TEXT, method="integrated_gradients", compare_to=OTHER)
    assert ig.data_score < 0.9 and ig.target_ignored is False
    attr = mi.attribute_text(minilm, TEXT, method="integrated_gradients", compare_to=OTHER)
    assert "ignores_target" not in [c.code for c in mi.caveats(attr, sanity=ig)]
    no_data = mi.sanity_check(minilm, TEXT, method="saliency", compare_to=OTHER, data=False)
    assert no_data.data_score is None and no_data.target_ignored is None


def test_image_gradient_shap_is_the_same_map_run_after_run_and_adds_up(miniclip):
    from mminspect.explain.pixel_attribution import gradient_shap
    from mminspect.lab.pointing import pointing_scenes
    img, prompt, _ = pointing_scenes(1)[0]
    first = mi.attribute_image(miniclip, img, prompt, method="gradient_shap")
    np.random.seed(123)                      # captum drew from numpy's global generator
    torch.manual_seed(321)
    again = mi.attribute_image(miniclip, img, prompt, method="gradient_shap")
    assert np.array_equal(first.scores, again.scores)
    assert np.array_equal(first.patch_scores, again.patch_scores)
    # a linear model: each sample's gradient x (input - baseline) adds up to f(input) - f(baseline)
    w = torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))

    def linear(p):                                               # [n, 3, 16, 16] -> [n]
        return (p * w).sum((1, 2, 3))
    pixels = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    a8, delta = gradient_shap(linear, pixels, n_samples=10, seed=4, batch=8)
    a3, _ = gradient_shap(linear, pixels, n_samples=10, seed=4, batch=3)
    assert delta < 1e-4 and a8.shape == (16, 16)
    assert np.allclose(a8, a3, rtol=1e-6, atol=1e-7)           # the batch does not matter
    assert not np.allclose(a8, gradient_shap(linear, pixels, n_samples=10, seed=5)[0])
