"""Cooperative cancellation: a long attribution stops within one step when its caller asks
(`should_stop()` returning True, or the `progress` callback raising Cancelled, which is how
the app says "the client left"), and work far past its time budget stops by itself."""
from __future__ import annotations

import threading
import time

import pytest

import mminspect as mi
from mminspect.explain.attribution import Guard, guard as guard_module
from mminspect.types import Cancelled, InputError, OverBudget

TEXT = ("The old fisherman pulled his small wooden boat onto the sandy beach at dawn, tired "
        "but very happy with all of the silver fish he had caught overnight. ") * 2
COMPARE = "A man returns from sea with his catch in the early morning."


@pytest.fixture
def counted(minilm, monkeypatch):
    """Counts the model's forward calls (each one batch of a method's loop)."""
    calls = []
    real = minilm.forward_embeds

    def forward_embeds(embeds, enc):
        calls.append(time.perf_counter())
        return real(embeds, enc)

    monkeypatch.setattr(minilm, "forward_embeds", forward_embeds)
    return calls


def test_a_stop_after_the_second_step_ends_the_comparison_at_once(minilm, counted):
    asked = {}

    def should_stop() -> bool:
        if len(counted) >= 2 and "at" not in asked:      # two forward batches have run
            asked["at"], asked["calls"] = time.perf_counter(), len(counted)
        return "at" in asked

    with pytest.raises(Cancelled):
        mi.compare_attributions(minilm, TEXT, compare_to=COMPARE, should_stop=should_stop)
    latency = time.perf_counter() - asked["at"]
    assert len(counted) == asked["calls"]                 # not one more forward after the ask
    assert latency < 0.5, latency                          # only Python unwinding in between


def test_a_progress_callback_that_raises_cancelled_stops_the_work(minilm, counted):
    seen = []

    def progress(fraction: float, desc: str) -> None:
        seen.append(desc)
        if desc.startswith("Running"):                   # the method has started
            raise Cancelled("client left")

    with pytest.raises(Cancelled):
        mi.attribute_text(minilm, TEXT, compare_to=COMPARE, progress=progress)
    assert seen[0] == "Encoding" and seen[-1] == "Running Integrated Gradients"
    assert not isinstance(Cancelled("x"), InputError)    # the app logs it; no user message


def test_a_stop_from_another_thread_lands_within_one_batch(minilm, counted):
    """What the app does: the client leaves while a comparison runs; measured from the
    moment the flag is set to the moment the work has stopped."""
    flag = threading.Event()
    timer = threading.Timer(1.0, flag.set)
    set_at = {}
    timer.start()
    start = time.perf_counter()
    try:
        with pytest.raises(Cancelled):
            mi.compare_attributions(minilm, TEXT, compare_to=COMPARE,
                                    should_stop=lambda: flag.is_set() and
                                    set_at.setdefault("t", time.perf_counter()) > 0)
    finally:
        timer.cancel()
    stopped = time.perf_counter()
    gaps = [b - a for a, b in zip(counted, counted[1:])] or [stopped - start]
    # the stop is seen at the next batch boundary: at most one batch after the flag
    assert stopped - set_at["t"] < 0.5
    assert stopped - start < 1.0 + 2 * max(gaps) + 0.5


def test_generation_stops_between_tokens_too(task_models):
    n = {"calls": 0}

    def should_stop() -> bool:
        n["calls"] += 1
        return n["calls"] > 3

    with pytest.raises(Cancelled):
        mi.attribute_generation(task_models["gpt2"], "the cat sat", n_tokens=3,
                                should_stop=should_stop)


def test_work_far_past_its_budget_stops_with_a_message(monkeypatch):
    monkeypatch.setattr(guard_module, "HARD_FLOOR_S", 0.0)
    guard = Guard(budget_s=0.01)
    guard.plan(0.005)
    guard.check()                                          # within the budget: goes on
    time.sleep(0.03)
    with pytest.raises(OverBudget, match=r"Stopped after 0 s: this request was estimated at "
                                         r"0 s but is running much slower"):
        guard.check()
