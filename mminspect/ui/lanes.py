"""Two lanes for the model events, so a cheap click never waits behind a long job.

    CHEAP_LANE ("model"): inspect, trace, a lesson, one head ablated, one image's prompts —
        a forward or two, well under a second on the bundled models.
    LONG_LANE ("long"): compare every attribution method, one attribution method, sanity
        checks, every image method, head-importance scans, activation patching — seconds to
        the whole time budget.

A tab puts an event in a lane with its `concurrency_id`; gradio gives each id its own queue
and worker count, so a visitor's compare-all waits only behind other long jobs, and the
Inspect of thirty students behind other cheap clicks. `install_lanes(demo)` (once, after
the Blocks are built) makes each lane's event run with:

- its own copies of the models. Hooks, captum's layer methods and the attention patches
  change the model object while they run; a long job in one thread and an Inspect in
  another on the *same* object would see each other's hooks. The registry keeps one copy
  per lane (a ContextVar set here picks it), which costs memory (MiniLM ~90 MB, a mini-CLIP
  ~3 MB) instead of making the cheap click wait for a lock;
- its own CPU threads: the long lane gets MMINSPECT_LONG_THREADS (default half the cores,
  so one of two), the cheap lane torch's default, and the long lane runs on threads of its
  own at a lower priority (MMINSPECT_LONG_NICE, default 10; 0 runs it on gradio's worker
  at normal priority), so the cheap lane wins the CPU when both want it. Measured in
  docs/performance-classroom.md;
- MMINSPECT_LONG_WORKERS long jobs at once (default 1), the cheap lane
  ctx.model_concurrency (MMINSPECT_MODEL_WORKERS);
- one time budget for the whole event (api/limits.py request_budget): the handler's api
  calls share it, so a list of methods run one by one stops at the budget, not per method.

A queued visitor sees their place and, once that event has run since start, an estimate:
gradio's status tracker shows "queue: 2/3" and "3.1/20.4s" for events whose show_progress
is not "hidden" (every model event here).
"""
from __future__ import annotations

import contextvars
import functools
import inspect
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import gradio as gr

from ..api.limits import lane, long_threads, request_budget
from .hosting import FALSE, env_int

CHEAP_LANE = "model"          # the id every model event had before the lanes (hosting.py)
LONG_LANE = "long"
MODEL_LANES = (CHEAP_LANE, LONG_LANE)     # every lane whose events touch a model


log = logging.getLogger("mminspect")
LONG_NICE = 10        # MMINSPECT_LONG_NICE: the long lane's threads yield the CPU to the cheap ones
_POOLS: dict[str, ThreadPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()


def _lower_priority(nice: int) -> None:
    """This thread's scheduling priority lowered by `nice` (Linux: setpriority on a thread
    id acts on that thread only). Not possible elsewhere: the lane still runs, unlowered."""
    try:
        me = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, me, min(19, os.getpriority(os.PRIO_PROCESS, me) + nice))
    except (AttributeError, OSError) as e:          # not Linux, or not allowed
        log.info("long lane runs at normal priority (%s)", e)


def lane_pool(lane_id: str, workers: int, nice: int) -> ThreadPoolExecutor:
    """The long lane's own threads, started once with a lower priority (they keep it: a
    gradio worker thread could not be given its priority back after a long job without
    privileges, and the next cheap click would inherit it)."""
    with _POOLS_LOCK:
        if lane_id not in _POOLS:
            _POOLS[lane_id] = ThreadPoolExecutor(workers, thread_name_prefix=f"mminspect-{lane_id}",
                                                 initializer=_lower_priority, initargs=(nice,))
        return _POOLS[lane_id]


def in_lane(fn, lane_id: str, threads: int | None = None, pool: ThreadPoolExecutor | None = None):
    """`fn` run inside `lane_id` (its models and threads) and one time budget for the whole
    event (MMINSPECT_BUDGET_S, however many api calls the handler makes: a list of methods
    checked one by one shares it). The signature stays `fn`'s (functools.wraps sets
    __wrapped__), so gradio still finds gr.Progress and gr.Request. pool: run it on those
    threads (the caller's thread waits), with the caller's context (gradio's request, event
    and progress live in ContextVars, so progress and "client left" still work)."""
    if inspect.isgeneratorfunction(fn) or inspect.iscoroutinefunction(fn):
        raise TypeError(f"{fn.__name__}: a lane runs plain functions (the model events' bind)")

    def call(*args, **kwargs):
        start = time.perf_counter()
        try:
            with lane(lane_id, threads), request_budget():
                return fn(*args, **kwargs)
        finally:
            # for a host's log (MMINSPECT_LOG_LEVEL=INFO): how long each event held its lane;
            # the load suite's peaks probe reads it
            log.info("lane %s: %s held it %.3f s", lane_id, fn.__name__,
                     time.perf_counter() - start)

    @functools.wraps(fn)
    def run_in_lane(*args, **kwargs):
        if pool is None:
            return call(*args, **kwargs)
        return pool.submit(contextvars.copy_context().run, call, *args, **kwargs).result()

    run_in_lane.mminspect_lane = lane_id
    return run_in_lane


def lane_events(demo: gr.Blocks) -> dict[str, list[str]]:
    """{lane: [event names]}: which handler runs in which lane (for tests and the docs)."""
    out: dict[str, list[str]] = {lane_id: [] for lane_id in MODEL_LANES}
    for block_fn in demo.fns.values():
        if block_fn.concurrency_id in out and block_fn.fn is not None:
            out[block_fn.concurrency_id].append(block_fn.name)
    return out


def lanes_on() -> bool:
    """MMINSPECT_LANES=0 puts every model event back in one queue (what the classroom
    measurement compares against); on by default."""
    return os.environ.get("MMINSPECT_LANES", "1").strip().lower() not in FALSE


def install_lanes(demo: gr.Blocks, long_workers: int | None = None) -> None:
    """Wrap every model event of `demo` to run in its lane, and set the long lane's number
    of workers. Call once after the Blocks are built and before launch (gradio makes each
    lane's queue when its first event arrives, from the events' concurrency_limit)."""
    workers = long_workers or env_int("MMINSPECT_LONG_WORKERS", 1)
    threads = {CHEAP_LANE: None, LONG_LANE: long_threads()}
    nice = env_int("MMINSPECT_LONG_NICE", LONG_NICE, minimum=0)
    pools = {CHEAP_LANE: None, LONG_LANE: lane_pool(LONG_LANE, workers, nice) if nice else None}
    one_lane = not lanes_on()
    cheap_limit = next((f.concurrency_limit for f in demo.fns.values()
                        if f.concurrency_id == CHEAP_LANE), 1)
    for block_fn in demo.fns.values():
        lane_id = block_fn.concurrency_id
        if lane_id not in MODEL_LANES or block_fn.fn is None:
            continue
        if one_lane and lane_id == LONG_LANE:     # as before the lanes: one queue, one model
            block_fn.concurrency_id, block_fn.concurrency_limit = CHEAP_LANE, cheap_limit
            lane_id = CHEAP_LANE
        if getattr(block_fn.fn, "mminspect_lane", None) is None:
            block_fn.fn = in_lane(block_fn.fn, lane_id, threads[lane_id], pools[lane_id])
        if lane_id == LONG_LANE:
            block_fn.concurrency_limit = workers
