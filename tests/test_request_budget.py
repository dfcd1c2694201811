"""Bounded requests: one time budget for the whole request (not per part), method lists
de-duplicated and capped, scans and patching estimated up front and refused above the
budget, and a plan that does not swing with the machine's momentary load."""
from __future__ import annotations

import time
from dataclasses import replace

import pytest

import mminspect as mi
from mminspect.api.limits import Limits, budget_left, check_methods, request_budget
from mminspect.explain.attribution import METHODS, build_problem
from mminspect.explain.attribution import budget as budget_module
from mminspect.explain.attribution.budget import HostSpeed
from mminspect.types import InputError, OverBudget

TEXT = ("The old fisherman pulled his small wooden boat onto the sandy beach at dawn, tired "
        "but very happy with all of the silver fish he had caught overnight. ") * 2
COMPARE = "A man returns from sea with his catch in the early morning."


def test_compare_all_stops_at_the_budget_and_says_what_happened(minilm, monkeypatch):
    """The plan believes the work is nearly free (as an estimate from an idle machine can
    be on a busy one): the request must still end within the budget plus one second, with a
    message that names the budget, the whole request and what finished."""
    def optimistic(key, p):
        return replace(p, unit_s=1e-6, call_s=0.0)
    monkeypatch.setattr(budget_module.HOST_SPEED, "problem", optimistic)
    budget = 3.0
    # four times the paragraph: the whole comparison takes ~10 s on an idle 2-core machine
    # (the paragraph alone, 2.4 s, would finish inside the budget there and prove nothing)
    long_text = " ".join([TEXT] * 4)
    start = time.perf_counter()
    with pytest.raises(OverBudget) as e:
        mi.compare_attributions(minilm, long_text, compare_to=COMPARE, budget_s=budget)
    took = time.perf_counter() - start
    assert took <= budget + 1.0 + 0.3, took          # (+0.3: unwinding and the message)
    text = str(e.value)
    assert "Stopped after" in text and "3 s for this whole request" in text
    assert "Finished before the stop" in text or "Nothing had finished" in text


def test_a_repeated_method_runs_once_and_a_long_list_is_refused(minilm):
    out = mi.compare_attributions(minilm, "The cat sat.", methods=["saliency"] * 1000,
                                  compare_to="A kitten.")
    assert [r.method for r in out.results] == ["saliency"]
    lim = Limits(max_methods=2)
    assert check_methods(["a", "b", "a", " b "], ["a", "b", "c"], lim) == ["a", "b"]
    with pytest.raises(InputError, match="the limit is 2"):
        check_methods(["a", "b", "c"], ["a", "b", "c"], lim)
    with pytest.raises(InputError, match="Unknown method"):
        check_methods(["a", "nope"], ["a"], lim)


def test_parts_of_one_request_share_its_budget(minilm):
    """A handler that calls the api again and again (a list of methods checked one by one)
    gets one budget for all of it, not one per call."""
    def one():
        mi.attribute_text(minilm, "The cat sat.", method="saliency", compare_to="A kitten.",
                          faithfulness=False, both_sides=False)
    one()                                          # warm: the first call after a load is slow
    start = time.perf_counter()
    one()
    one_s = time.perf_counter() - start
    calls = 0
    start = time.perf_counter()
    with pytest.raises(OverBudget, match="budget of 8 s"):
        with request_budget(8.0):
            for _ in range(1000):
                one()
                calls += 1
    assert 0 < calls < 1000
    # the last call stops at its first batch past the deadline; its setup (encoding the
    # texts) runs before any batch, so allow one more call's time on a busy machine
    assert time.perf_counter() - start <= 8.0 + 1.0 + one_s


def test_a_part_refused_late_in_a_request_names_the_whole_budget(minilm, monkeypatch):
    """Refused up front because earlier parts spent some of the request's budget, a part says
    how much was left of which budget, not a bare fraction of a second. (The plan is told
    the work costs 10 s a pass, so it is refused whatever the machine's speed.)"""
    def costly(key, p):
        return replace(p, unit_s=10.0, call_s=0.0)
    monkeypatch.setattr(budget_module.HOST_SPEED, "problem", costly)
    with pytest.raises(OverBudget) as e:
        with request_budget(30.0):
            time.sleep(0.5)                            # an earlier part of the request
            mi.attribute_text(minilm, TEXT, method="lime", compare_to=COMPARE,
                              faithfulness=False, both_sides=False)
    text = str(e.value)
    assert "of the time budget of 30 s for this whole request are left" in text, text
    assert "Shorten the text" in text


def test_budget_left_never_extends_the_request():
    assert budget_left(10) == 10
    with request_budget(2.0):
        assert budget_left(10) <= 2.0
        with request_budget(50):                   # an inner scope cannot add time
            assert budget_left(None) <= 2.0
    with pytest.raises(InputError):
        budget_left(-1)


def test_patching_a_long_text_is_refused_up_front_with_what_would_fit(minilm, monkeypatch):
    from mminspect.api import causal
    patched = []
    real = causal.patched_scores
    monkeypatch.setattr(causal, "patched_scores", lambda *a: patched.append(1) or real(*a))
    clean, corrupted = "The cat sat on the mat. " * 20, "The dog sat on the mat. " * 20
    with pytest.raises(OverBudget) as e:
        mi.patch_activations(minilm, clean, corrupted, site="residual", compare_to="A kitten.",
                             budget_s=0.5)
    assert patched == []                 # refused after the clean run, before any patched pass
    text = str(e.value)
    assert "forward passes" in text and "Shorten both texts to about" in text
    assert 'site="heads"' in text


def test_a_head_scan_within_its_budget_runs_and_a_tiny_budget_refuses_it(minilm):
    imp = mi.head_importance(minilm, "The cat sat.", compare_to="A kitten.", budget_s=60)
    assert imp.delta.shape == (6, 12)
    with pytest.raises(OverBudget, match="Scanning 72 heads"):
        mi.head_importance(minilm, "The cat sat. " * 30, compare_to="A kitten.", budget_s=0.05)


def test_the_host_keeps_the_best_time_of_the_same_work(tiny_bert):
    """Timed slower later (a busy machine), the same work is planned at its best time, so a
    request accepted when idle is not refused when busy; other work keeps its own time."""
    speed = HostSpeed()
    enc = tiny_bert.encode("the cat sat")
    target = mi.SimilarityTarget("the dog").prepare(tiny_bert)
    p = build_problem(tiny_bert, enc, target.bind(tiny_bert, enc))
    idle = speed.problem(("tiny",), replace(p, unit_s=0.01))
    busy = speed.problem(("tiny",), replace(p, unit_s=0.05))
    assert idle.unit_s == busy.unit_s == 0.01
    other = speed.problem(("other model",), replace(p, unit_s=0.05))
    assert other.unit_s == 0.05


def test_the_same_request_is_planned_alike_when_the_machine_slows_down(minilm, monkeypatch):
    """Plan once as measured; then make every timing 5x slower (what a busy machine does to
    the measurement): the plan's estimate stays, instead of growing 5x."""
    budget_module.HOST_SPEED.clear()
    seen = []
    real = budget_module.plan_budget

    class Planned(Exception):
        pass

    def spy(jobs, *a, **kw):              # plan, then stop: only the plan is compared
        seen.append(real(jobs, *a, **kw).estimate_s)
        raise Planned

    monkeypatch.setattr("mminspect.api.attribution.plan_budget", spy)
    kwargs = dict(method="occlusion", compare_to=COMPARE, faithfulness=False, both_sides=False,
                  budget_s=1e6)     # no re-timing above the budget: the first timing stands
    with pytest.raises(Planned):
        mi.attribute_text(minilm, TEXT, **kwargs)
    real_build = build_problem

    def slow_build(*a, **kw):
        p = real_build(*a, **kw)
        return replace(p, unit_s=p.unit_s * 5)

    monkeypatch.setattr("mminspect.api.attribution.build_problem", slow_build)
    with pytest.raises(Planned):
        mi.attribute_text(minilm, TEXT, **kwargs)
    assert seen[1] <= seen[0] * 1.5, seen
    assert "occlusion" in METHODS


def test_a_sanity_check_list_runs_each_method_once_under_one_budget(tiny_bert):
    from mminspect.api.trust import sanity_checks
    out = sanity_checks(tiny_bert, ["saliency"] * 50 + ["input_x_gradient"],
                        text="the cat sat", compare_to="the dog")
    assert [c.method for c in out] == ["saliency", "input_x_gradient"]
    with pytest.raises(InputError, match="Unknown method"):
        sanity_checks(tiny_bert, ["saliency", "no such method"], text="the cat sat",
                      compare_to="the dog")


def test_a_sanity_check_whose_maps_would_not_fit_is_refused_after_the_first():
    from mminspect.api.trust import _Steps
    steps = _Steps(total=8, progress=None, should_stop=None)
    with request_budget(2.0):
        steps.next("The trained model's map")
        steps.plan(first_s=0.1, what="saliency")          # 7 more maps of 0.1 s: fits
        with pytest.raises(OverBudget, match="recomputes the map 8 times; the first took 0.5 s"):
            steps.plan(first_s=0.5, what="saliency")      # 7 x 0.5 s > 2 s: refused


def test_a_sanity_check_without_a_budget_is_never_refused_by_the_hosts_default(monkeypatch):
    """budget_s=inf: the maps still to come are planned against the check's own (unlimited)
    deadline, not the host's MMINSPECT_BUDGET_S; a finite check budget still refuses."""
    from mminspect.api.limits import request_budget
    from mminspect.api.trust import _Steps
    from mminspect.types import OverBudget
    monkeypatch.setenv("MMINSPECT_BUDGET_S", "5")
    with request_budget(float("inf")):
        steps = _Steps(total=4, progress=None, should_stop=None)
        steps.next("first map")
        steps.plan(first_s=100.0, what="saliency")          # 300 s to come: fine without a budget
    with request_budget(60.0):
        steps = _Steps(total=4, progress=None, should_stop=None)
        steps.next("first map")
        with pytest.raises(OverBudget):
            steps.plan(first_s=100.0, what="saliency")
