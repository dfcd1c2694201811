"""One set of limits (api/limits.py), read from the environment, checked before any model work,
with the same rule and message on every path (Text tab, Attributions, method comparison)."""
from __future__ import annotations

import pytest

import mminspect as mi
from mminspect.api.limits import Limits, check_labels, limits
from mminspect.types import InputError

# A name that cannot load: a limit hit before loading says so; reaching the loader would
# raise ModelLoadError instead.
NO_MODEL = "no-such-model-anywhere"
TEXT_PATHS = {
    "inspect_text": lambda **kw: mi.inspect_text(NO_MODEL, **kw),
    "attribute_text": lambda **kw: mi.attribute_text(NO_MODEL, target="zero_shot", **kw),
    "compare_attributions": lambda **kw: mi.compare_attributions(NO_MODEL, target="zero_shot", **kw),
}


def test_defaults_and_environment_overrides():
    lim = Limits.from_env({})
    assert (lim.max_labels, lim.max_label_chars, lim.max_chars) == (50, 300, 20_000)
    assert (lim.budget_s, lim.over_budget, lim.memory_mb) == (60.0, "reduce", 1024.0)
    lim = Limits.from_env({"MMINSPECT_MAX_LABELS": "8", "MMINSPECT_BUDGET_S": "inf",
                           "MMINSPECT_OVER_BUDGET": "Refuse"})
    assert lim.max_labels == 8 and isinstance(lim.max_labels, int)
    assert lim.budget_s == float("inf") and lim.over_budget == "refuse"


@pytest.mark.parametrize("env, value", [("MMINSPECT_MAX_LABELS", "many"),
                                        ("MMINSPECT_BUDGET_S", "-1"),
                                        ("MMINSPECT_OVER_BUDGET", "maybe")])
def test_a_bad_setting_fails_naming_the_variable(env, value):
    with pytest.raises(ValueError, match=env):
        Limits.from_env({env: value})


def test_labels_are_cleaned_then_counted_and_measured():
    lim = Limits(max_labels=3, max_label_chars=10)
    assert check_labels([" a ", "b", "a", "", "c"], lim) == ["a", "b", "c"]   # duplicates free
    with pytest.raises(InputError, match="4 labels given; the limit is 3"):
        check_labels(["a", "b", "c", "d"], lim)
    with pytest.raises(InputError, match="A label is 11 characters; the limit is 10"):
        check_labels(["x" * 11], lim)
    with pytest.raises(InputError, match="list of strings"):
        check_labels("a, b", lim)


@pytest.mark.parametrize("path", TEXT_PATHS)
def test_too_many_labels_are_refused_on_every_path_before_loading(path):
    labels = [f"label {i}" for i in range(limits().max_labels + 1)]
    with pytest.raises(InputError, match=f"{len(labels)} labels given; the limit is 50"):
        TEXT_PATHS[path](text="a cat", labels=labels)


@pytest.mark.parametrize("path", TEXT_PATHS)
def test_a_long_label_is_refused_on_every_path_before_loading(path):
    with pytest.raises(InputError, match="A label is 301 characters; the limit is 300"):
        TEXT_PATHS[path](text="a cat", labels=["a dog", "x" * 301])


@pytest.mark.parametrize("path", TEXT_PATHS)
def test_the_host_sets_the_limits_through_the_environment(path, monkeypatch):
    monkeypatch.setenv("MMINSPECT_MAX_LABELS", "2")
    monkeypatch.setenv("MMINSPECT_MAX_CHARS", "40")
    with pytest.raises(InputError, match="3 labels given; the limit is 2"):
        TEXT_PATHS[path](text="a cat", labels=["a", "b", "c"])
    with pytest.raises(InputError, match="The text is 41 characters; the limit is 40"):
        TEXT_PATHS[path](text="x" * 41, labels=["a", "b"])
    with pytest.raises(InputError, match="The second text is 41 characters"):
        TEXT_PATHS[path](text="a cat", labels=["a", "b"], compare_to="y" * 41)


def test_the_zero_shot_target_object_meets_the_same_limits():
    target = mi.ZeroShotTarget(tuple(f"l{i}" for i in range(51)), "l0")
    with pytest.raises(InputError, match="51 labels given"):
        mi.attribute_text(NO_MODEL, "a cat", target=target)


def test_memory_mb_cannot_exceed_the_hosts_setting(monkeypatch):
    with pytest.raises(InputError, match="memory_mb must be between 16 and 1024"):
        mi.attribute_text(NO_MODEL, "a cat", compare_to="a dog", memory_mb=10_000)
    monkeypatch.setenv("MMINSPECT_ATTR_MEMORY_MB", "20000")
    with pytest.raises(mi.ModelLoadError):                     # allowed now: it gets to loading
        mi.attribute_text(NO_MODEL, "a cat", compare_to="a dog", memory_mb=10_000)


def test_a_gradient_step_over_the_memory_limit_is_refused_with_the_tokens_that_fit(
        minilm, monkeypatch):
    monkeypatch.setenv("MMINSPECT_ATTR_MEMORY_MB", "16")
    text = "The cat sat on the mat because it was warm and the dog was not. " * 8
    with pytest.raises(InputError, match=r"one gradient step of minilm needs about .* MB .* "
                                         r"limit is 16 MB\. Shorten the text to about \d+ tokens"):
        mi.attribute_text(minilm, text, compare_to="a cat", faithfulness=False)
    # perturbation methods keep no activations: they still run
    out = mi.attribute_text(minilm, text, method="occlusion", compare_to="a cat",
                            faithfulness=False, both_sides=False, window=9, stride=9)
    assert out.scores.shape == (len(out.tokens),)


def test_generation_length_is_limited(monkeypatch):
    monkeypatch.setenv("MMINSPECT_MAX_NEW_TOKENS", "4")
    with pytest.raises(InputError, match="n_tokens must be between 1 and 4"):
        mi.attribute_generation(NO_MODEL, "Hello", n_tokens=5)
