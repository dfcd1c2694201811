"""Lanes: a long job's hooks never reach a cheap event running at the same time (each lane
has its own copy of the model), each lane runs with its own CPU threads, and the app puts
every model event in the lane it belongs to."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

import mminspect as mi
from mminspect.api.causal import head_sites
from mminspect.api.limits import DEFAULT_THREADS, lane
from mminspect.capture.heads import edit_heads
from mminspect.models import registry

TEXT = "the cat sat on the mat"


def attention_now(folder: str) -> np.ndarray:
    return mi.inspect_text(registry.load(folder), TEXT).attention.weights   # [layer, head, q, k]


def run_with_heads_removed(folder: str, lane_id: str | None, ready, release, seen: list):
    """What a long job does to the model it works on: hooks that zero every head of layer
    0, held while the other thread runs (a scan or patching holds them for seconds)."""
    def work():
        adapter = registry.load(folder)
        seen.append(adapter)
        sites = head_sites(adapter)
        select = {0: torch.ones(1, sites.n_heads, dtype=torch.bool)}
        with edit_heads(sites.attention_out, sites.n_heads, select, {0: torch.zeros(())}):
            ready.set()
            release.wait(30)
    if lane_id is None:
        work()
    else:
        with lane(lane_id):
            work()


def concurrent_attention(folder: str, long_lane: str | None):
    ready, release, seen = threading.Event(), threading.Event(), []
    t = threading.Thread(target=run_with_heads_removed, args=(folder, long_lane, ready, release, seen))
    t.start()
    try:
        assert ready.wait(30)
        during = attention_now(folder)           # the cheap event, in the default lane
    finally:
        release.set()
        t.join(30)
    return during, seen[0]


def test_a_long_jobs_hooks_never_reach_a_concurrent_cheap_event(tiny_bert_dir):
    folder = str(tiny_bert_dir)
    alone = attention_now(folder)
    during, long_adapter = concurrent_attention(folder, "long")
    np.testing.assert_array_equal(during, alone)
    assert long_adapter is not registry.load(folder)     # the long lane has its own copy
    assert attention_now(folder).tolist() == alone.tolist()


def test_without_a_lane_the_same_hooks_do_change_the_cheap_result(tiny_bert_dir):
    """The check above can fail: on one shared model the held hooks change what a
    concurrent Inspect sees (layer 1's attention reads layer 0's output)."""
    folder = str(tiny_bert_dir)
    alone = attention_now(folder)
    during, _ = concurrent_attention(folder, None)
    assert not np.allclose(during[1], alone[1])
    np.testing.assert_array_equal(attention_now(folder), alone)   # the hooks were removed


def test_a_lane_sets_its_threads_and_gives_them_back():
    got = {}

    def worker():
        with lane("long", threads=1):
            got["inside"] = torch.get_num_threads()
        got["after"] = torch.get_num_threads()
        with lane("model"):
            got["cheap"] = torch.get_num_threads()

    t = threading.Thread(target=worker)
    t.start()
    t.join(30)
    assert got == {"inside": 1, "after": DEFAULT_THREADS, "cheap": DEFAULT_THREADS}


def test_a_lane_copy_is_loaded_once_and_evicted_before_the_default_lane(tiny_bert_dir, monkeypatch):
    monkeypatch.setattr(registry, "_CACHE", registry.OrderedDict())      # this test's models only
    monkeypatch.setattr(registry, "_LANE_CACHES", {})
    folder = str(tiny_bert_dir)
    cheap = registry.load(folder)
    with lane("long"):
        first, second = registry.load(folder), registry.load(folder)
    assert first is second and first is not cheap
    # a budget that holds one of the two: the lane's copy goes, the cheap lane's stays
    monkeypatch.setenv("MMINSPECT_CACHE_MB", str(1.5 * cheap.memory_bytes() / 1e6))
    registry._evict(keep="nothing")
    assert folder in registry._CACHE
    assert folder not in registry._LANE_CACHES.get("long", {})


@pytest.fixture(scope="module")
def demo():
    from mminspect.ui import build_app
    return build_app()


def names_in(demo, lane_id: str) -> set[str]:
    return {f.api_name for f in demo.fns.values() if f.concurrency_id == lane_id}


def test_every_long_job_is_in_the_long_lane_and_every_cheap_click_in_the_other(demo):
    from mminspect.ui.lanes import CHEAP_LANE, LONG_LANE, MODEL_LANES
    long, cheap = names_in(demo, LONG_LANE), names_in(demo, CHEAP_LANE)
    assert {"compare_attributions", "attribute_text", "sanity_check", "image_sanity_check",
            "explain_methods", "head_importance", "patch_activations",
            "image_head_importance", "patch_image_activations"} <= long
    assert {"inspect_text", "inspect_clip", "trace_head", "open_lesson",
            "ablate_image_heads"} <= cheap
    for f in demo.fns.values():
        if f.concurrency_id in MODEL_LANES:
            assert f.fn.mminspect_lane == f.concurrency_id, f.name
            assert f.show_progress != "hidden", f.name    # the visitor sees place and estimate
        if f.concurrency_id == LONG_LANE:
            assert f.concurrency_limit == 1


def test_one_lane_when_the_host_turns_the_lanes_off(monkeypatch):
    from mminspect.ui import build_app
    from mminspect.ui.lanes import CHEAP_LANE, LONG_LANE
    monkeypatch.setenv("MMINSPECT_LANES", "0")
    one = build_app()
    assert not names_in(one, LONG_LANE)
    assert "compare_attributions" in names_in(one, CHEAP_LANE)


def test_the_long_lane_runs_on_its_own_lower_priority_threads_with_the_callers_context():
    import contextvars
    import os
    from mminspect.ui.lanes import in_lane, lane_pool
    seen = contextvars.ContextVar("seen", default="none")

    def job():
        me = threading.get_native_id()
        return me, os.getpriority(os.PRIO_PROCESS, me), seen.get(), torch.get_num_threads()

    seen.set("the caller's request")
    run = in_lane(job, "long", threads=1, pool=lane_pool("test-long", 1, 5))
    tid, nice, ctx_value, threads = run()
    assert tid != threading.get_native_id()                   # another thread did the work
    assert nice == os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) + 5
    assert ctx_value == "the caller's request" and threads == 1
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == os.getpriority(
        os.PRIO_PROCESS, 0)                                     # the caller kept its priority
