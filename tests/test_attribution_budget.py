"""The time budget: each method's declared cost is the forwards it runs, the plan reduces or
refuses above the budget and says so, and a request reduced by the budget still explains the
same target."""
from __future__ import annotations

from dataclasses import replace

import pytest
import torch

import mminspect as mi
import mminspect.api.attribution as api_attribution
from mminspect.explain.attribution import (GRAD_UNITS, METHODS, Job, Problem, curve_units,
                                           keep_pace, plan_budget, random_curves)
from mminspect.types import OverBudget

T, D = 12, 4


@pytest.fixture(autouse=True)
def no_calibration(monkeypatch):
    """Plans here use the unit_s they are given (no re-timing on this machine)."""
    monkeypatch.setattr("mminspect.explain.attribution.budget._calibrate", lambda jobs, b: None)


def linear_problem(batch_size: int = 4, unit_s: float = 0.0) -> tuple[Problem, dict]:
    """f(e) = sum(W * e), special first and last token; counts the items each forward sees."""
    g = torch.Generator().manual_seed(0)
    w = torch.randn(T, D, generator=g, dtype=torch.float64)
    x = torch.randn(1, T, D, generator=g, dtype=torch.float64)
    b = torch.zeros_like(x)
    special = torch.zeros(T, dtype=torch.bool)
    special[[0, -1]] = True
    b[:, special] = x[:, special]
    seen = {"items": 0.0}

    def forward(e):                                                   # [batch, T, D] -> [batch]
        seen["items"] += e.shape[0] * (GRAD_UNITS if torch.is_grad_enabled() and e.requires_grad
                                       else 1)
        return (e * w).sum((1, 2))

    f = lambda e: float(forward(e)[0])  # noqa: E731
    problem = Problem(forward=forward, inputs=x, baselines=b, special=special, f_input=f(x),
                      f_baseline=f(b), batch_size=batch_size, unit_s=unit_s)
    seen["items"] = 0
    return problem, seen


CASES = [("feature_ablation", {}), ("feature_ablation", {"group": 3}),
         ("occlusion", {}), ("occlusion", {"window": 4, "stride": 3}),
         ("lime", {"n_samples": 20}), ("kernel_shap", {"n_samples": 20}),
         ("gradient_shap", {"n_samples": 6}), ("saliency", {}), ("input_x_gradient", {}),
         ("integrated_gradients", {"start_steps": 8, "max_steps": 8})]


@pytest.mark.parametrize("name, given", CASES)
def test_each_methods_declared_cost_is_the_forwards_it_runs(name, given):
    problem, seen = linear_problem()
    m = METHODS[name]
    params = m.resolve(given)
    m.fn(problem, **params)
    assert m.cost(problem.n_tokens, problem.n_free, params) == pytest.approx(seen["items"], abs=1)


def test_faithfulness_curves_cost_what_curve_units_says():
    problem, seen = linear_problem()
    random_curves(problem)
    assert seen["items"] == curve_units(problem.n_free, 3)


def jobs_for(names, unit_s=0.01):
    problem, _ = linear_problem(unit_s=unit_s)
    return [Job(METHODS[n], METHODS[n].resolve({}), problem) for n in names]


def test_under_the_budget_nothing_changes():
    jobs = jobs_for(["feature_ablation", "lime"])
    plan = plan_budget(jobs, budget_s=100)
    assert plan.params == [j.params for j in jobs] and not plan.reduced
    assert plan.notes == [[], []]
    assert plan.estimate_s == pytest.approx(0.01 * (12 + 49))


def test_over_the_budget_the_flexible_methods_shrink_together_and_say_so():
    jobs = jobs_for(["saliency", "feature_ablation", "occlusion", "lime"])
    full = sum(j.seconds() for j in jobs)
    plan = plan_budget(jobs, budget_s=full / 2)
    assert plan.reduced and plan.estimate_s <= full / 2 and plan.full_estimate_s == full
    assert plan.params[0] == {} and plan.notes[0] == []             # saliency cannot shrink
    assert plan.params[1]["group"] > 1 and plan.params[2]["stride"] > 1
    assert plan.params[3]["n_samples"] < 48
    for notes in plan.notes[1:]:
        assert len(notes) == 1 and "to stay within the time budget of" in notes[0]
    assert "group=" in plan.notes[1][0] and "(instead of group=1)" in plan.notes[1][0]


def test_refuse_mode_and_an_impossible_budget_give_the_estimate_and_what_to_change():
    jobs = jobs_for(["feature_ablation", "lime"])
    with pytest.raises(OverBudget, match=r"Not run: this request would take about 1 s \(the "
                                         r"work of 61 forward passes of 12 tokens.*budget is "
                                         r"0\.3 s\. Shorten the text \(about \d+ tokens would "
                                         r"fit\)"):
        plan_budget(jobs, budget_s=0.3, mode="refuse")
    with pytest.raises(OverBudget, match="even with fewer samples"):
        plan_budget(jobs, budget_s=0.01)          # below the methods' floors


class FakeGuard:
    """A request's clock at a chosen time: `spent` seconds since the plan, of `budget_s`."""

    def __init__(self, spent: float, budget_s: float):
        self.plan_t0, self.budget_s, self._now = 0.0, budget_s, spent

    def elapsed(self) -> float:
        return self._now


def test_work_running_slower_than_planned_shrinks_what_is_left():
    jobs = jobs_for(["saliency", "feature_ablation", "lime"])
    plan = plan_budget(jobs, budget_s=100)
    first = plan.seconds[0]
    # on time (or a little slow): nothing changes
    assert keep_pace(plan, jobs, 1, FakeGuard(first * 1.2, 1.0), "reduce") is plan
    # three times slower than planned, and the rest would not fit: the rest shrinks
    budget = first * 3 + sum(plan.seconds[1:]) * 1.5
    paced = keep_pace(plan, jobs, 1, FakeGuard(first * 3, budget), "reduce")
    assert paced.params[0] == plan.params[0] and paced.notes[0] == []
    assert paced.params[1]["group"] > 1 and paced.params[2]["n_samples"] < 48
    assert "ran 3.0x slower than estimated" in paced.notes[1][0]
    # refuse mode never changes a plan once it runs (the guard's hard stop remains)
    assert keep_pace(plan, jobs, 1, FakeGuard(first * 3, budget), "refuse") is plan


@pytest.fixture
def slow_problems(monkeypatch):
    """Every problem the api builds costs a known 100 ms per forward item (the real ones take
    milliseconds), so the plan is deterministic whatever the machine's load. Float32 only:
    a bfloat16 copy would be re-timed for real (test_attribution_precision covers that)."""
    real = api_attribution.build_problem

    def fixed_cost(*args, **kwargs):
        return replace(real(*args, **kwargs), unit_s=0.1, call_s=0.0)

    monkeypatch.setattr(api_attribution, "build_problem", fixed_cost)
    monkeypatch.setattr(api_attribution, "resolve_precision", lambda precision, device: None)


def test_a_comparison_over_the_budget_runs_reduced_with_notes(minilm, slow_problems):
    # ~36 tokens: ~400 forward items in full (40 s here), ~200 at the methods' floors
    text = ("The old fisherman pulled his small wooden boat onto the sandy beach at dawn, "
            "tired but very happy with all of the silver fish he had caught overnight.")
    comp = mi.compare_attributions(minilm, text, compare_to="A man and his boat.",
                                   budget_s=30.0)
    by = {r.method: r for r in comp.results}
    assert by["feature_ablation"].params["group"] > 1
    assert by["occlusion"].params["stride"] > 1
    assert by["lime"].params["n_samples"] < 48
    assert any("time budget of 30 s" in n for n in by["feature_ablation"].notes)
    assert not any("time budget" in n for n in by["saliency"].notes)
    # reduced, not changed: every map still explains the same target on the same problem
    assert len({r.target_value for r in comp.results}) == 1


def test_when_the_methods_are_at_their_floors_the_curves_get_fewer_points(minilm, slow_problems):
    # the same text: ~200 items at the methods' floors with 6-point curves (20 s here), ~133
    # with 3-point curves (13 s)
    text = ("The old fisherman pulled his small wooden boat onto the sandy beach at dawn, "
            "tired but very happy with all of the silver fish he had caught overnight.")
    comp = mi.compare_attributions(minilm, text, compare_to="A man and his boat.",
                                   budget_s=16.0)
    for r in comp.results:
        assert len(r.faithfulness.fractions) == 4                   # 0, 2 inner points, 1
        assert any("curves with 3 points instead of 6" in n for n in r.notes)
    assert len({r.faithfulness.deletion_random.tobytes() for r in comp.results}) == 1


def test_the_host_can_make_the_budget_refuse(minilm, slow_problems, monkeypatch):
    monkeypatch.setenv("MMINSPECT_OVER_BUDGET", "refuse")
    monkeypatch.setenv("MMINSPECT_BUDGET_S", "1")
    with pytest.raises(OverBudget, match="Not run: this request would take about"):
        mi.attribute_text(minilm, "The old fisherman pulled his boat onto the beach.",
                          method="feature_ablation", compare_to="A man and his boat.")


def test_feature_ablation_groups_share_out_each_groups_drop():
    problem, _ = linear_problem()
    w = METHODS["feature_ablation"]
    one = w.fn(problem, group=1).scores
    three = w.fn(problem, group=3).scores
    # linear f: a group's drop is the sum of its tokens' drops; each token shows a third
    free = torch.arange(1, T - 1)
    for start in range(0, len(free), 3):
        idx = free[start:start + 3]
        torch.testing.assert_close(three[idx], one[idx].sum().expand(len(idx)) / len(idx))
    assert float(three[problem.special].abs().sum()) == 0


def test_occlusion_with_a_stride_averages_the_windows_that_cover_each_token():
    problem, _ = linear_problem()
    fa = METHODS["feature_ablation"].fn(problem).scores.double()     # each token's drop
    out = METHODS["occlusion"].fn(problem, window=4, stride=2).scores.double()
    starts = list(range(0, T - 4 + 1, 2))
    for t in range(T):
        cover = [s for s in starts if s <= t < s + 4]
        expected = sum(float(fa[s:s + 4].sum()) for s in cover) / len(cover)
        assert float(out[t]) == pytest.approx(expected, rel=1e-6)
