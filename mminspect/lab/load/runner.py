"""The run: clients in threads working through their plans, the invariant
(submitted = ok + rejected + errored, none hung), latencies and the memory record."""
from __future__ import annotations

import math
import os
import random
import shutil
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable
from urllib.parse import urlparse

from .cases import ABUSE, CASES, CLOSING, NORMAL, SOAK_MIX, WARM_UP, expect, make_plan, queue_refused, text_kwargs
from .client import Inputs, Session
from .messages import PATHS_PROBED, Result, clear_message
from .server import RssSampler, Server, cache_files, loopback_url, memory_mb, pid_listening_on


class Runner:
    def __init__(self, url: str, inputs: Inputs, timeout: float, seed: int):
        self.url, self.inputs, self.timeout, self.seed = url, inputs, timeout, seed
        self.t0 = time.perf_counter()
        self.results: list[Result] = []
        self.lock = threading.Lock()
        self.backoff_s = 2.0                  # pause after a queue refusal

    def run_case(self, session: Session, name: str, rng: random.Random, phase: str) -> list[Result]:
        base, _, arg = name.partition(":")            # "attribute:lime": one given method
        try:
            out = CASES[base](session, rng, *([arg] if arg else []))
        except Exception as e:  # noqa: BLE001 - a fault of this suite, not of the server
            out = [Result(name, "?", phase, "errored", 0.0, f"load suite: {type(e).__name__}: {e}",
                          session.index, problems=[f"the case itself failed: {e!r}"])]
        for r in out:
            r.phase = phase
            if r.outcome != "hung" and not clear_message(r.message) and r.message:
                if not any(p.startswith("unclear") for p in r.problems):
                    r.problems.append(f"message not the app's own: {r.message[:200]!r}")
            for attr in ("values", "types"):
                r.__dict__.pop(attr, None)
        with self.lock:
            self.results.extend(out)
        return out

    def run_clients(self, plans: list[list[str]], phase: str = "run", closing: tuple[str, ...] = (),
                    between: Callable[[], None] | None = None) -> None:
        """Each plan in its own thread and session. closing: cases every client runs in its
        own session once all plans are done (phase "close"); between(): called once, after
        the plans and before the closing cases."""
        errors = []
        n = len(plans)
        done, go = threading.Barrier(n + 1), threading.Barrier(n + 1)

        def worker(i: int, plan: list[str]):
            s = None
            try:
                s = Session(self.url, i, self)
            except Exception as e:  # noqa: BLE001
                errors.append(f"client {i} could not connect: {e!r}")
            rng = random.Random(self.seed * 1000 + i)
            for name in plan if s else ():
                out = self.run_case(s, name, rng, phase)
                if any(map(queue_refused, out)):     # as a person would: wait, then go on
                    time.sleep(self.backoff_s)
            if closing:
                done.wait()
                go.wait()
                for name in closing if s else ():
                    self.run_case(s, name, rng, "close")
            if s:
                s.client.close()

        threads = [threading.Thread(target=worker, args=(i, p), name=f"load-client-{i}")
                   for i, p in enumerate(plans)]
        for t in threads:
            t.start()
        if closing:
            done.wait()
            if between:
                between()
            go.wait()
        for t in threads:
            t.join()
        if errors:
            raise RuntimeError("; ".join(errors))


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    v = sorted(values)                                   # nearest rank
    return round(v[min(len(v) - 1, max(0, math.ceil(q / 100 * len(v)) - 1))], 3)


def tally(results: list[Result], key: str) -> dict:
    groups: dict[str, list[Result]] = {}
    for r in results:
        groups.setdefault(getattr(r, key), []).append(r)
    out = {}
    for name, rs in sorted(groups.items()):
        ok = [r.seconds for r in rs if r.outcome == "ok"]
        out[name] = {"n": len(rs), **{o: sum(r.outcome == o for r in rs)
                                      for o in ("ok", "rejected", "errored", "hung")},
                     "p50_ok_s": percentile(ok, 50), "p95_ok_s": percentile(ok, 95),
                     "p50_all_s": percentile([r.seconds for r in rs], 50),
                     "p95_all_s": percentile([r.seconds for r in rs], 95)}
    return out


def probe_paths(url: str, inputs: Inputs, timeout: float, t0: float) -> tuple[list[Result], list[str]]:
    """On a server with custom models off: the answer to every server path must be the same
    (after the path itself is blanked), so a visitor learns nothing about the file system."""
    runner = Runner(url, inputs, timeout, 0)
    runner.t0 = t0
    s = Session(url, -1, runner)
    results = []
    for path in PATHS_PROBED:
        r = s.call("path_probe_custom_off", "/inspect_text", text_kwargs(custom_model=path), "probe")
        expect(r, ("rejected",))
        r.__dict__.pop("values", None), r.__dict__.pop("types", None)
        results.append(r)
    s.client.close()
    problems = []
    if s.custom_visible:
        problems.append("custom models are on on the probe server (the model box is visible)")
    blanked = {r.message.replace(p, "<path>") for r, p in zip(results, PATHS_PROBED)}
    if len(blanked) > 1:
        problems.append(f"different answers for different server paths: {sorted(blanked)}")
    return results, problems


def run(url: str | None = None, clients: int = 8, requests: int = 60, seed: int = 0,
        timeout: float = 600.0, soak: int | None = None, rss_limit: float = 0.15,
        plans: list[list[str]] | None = None, warm_up: tuple[str, ...] = WARM_UP,
        closing: tuple[str, ...] = CLOSING,
        probe: bool = True, pid: int | None = None, cache_dir: Path | None = None,
        settle_s: float = 5.0,
        log: Callable[[str], None] = print) -> dict:
    """The whole suite; returns the record (see `main` for what is printed)."""
    folder = Path(tempfile.mkdtemp(prefix="mminspect-load-"))
    servers: list[Server] = []
    try:
        if url is None:
            log("starting the app (python app.py) on loopback …")
            server = Server(folder)
            servers.append(server)
            server.wait_ready()
            url, pid, cache = server.url, server.pid, server.cache
        else:
            url = loopback_url(url)
            pid = pid or pid_listening_on(urlparse(url).port or 80)
            cache = cache_dir or Path(os.environ.get("GRADIO_TEMP_DIR")
                                      or Path(tempfile.gettempdir()) / "gradio")
        inputs = Inputs(folder)
        runner = Runner(url, inputs, timeout, seed)
        sampler = RssSampler(pid, runner.t0)
        sampler.start()
        rss = {"start": sampler.mark("start")}
        caches = {"start": cache_files(cache)}

        log(f"warm-up: {len(warm_up)} requests, one at a time …")
        if warm_up:
            runner.run_clients([list(warm_up)], phase="warm-up")
        time.sleep(settle_s)
        rss["after_warm_up"] = sampler.mark("after_warm_up")
        caches["after_warm_up"] = cache_files(cache)

        if plans is None:
            if soak:
                per = -(-soak // clients)
                plans = make_plan(clients, per, seed, SOAK_MIX)
                extra = sum(map(len, plans)) - soak       # exactly `soak` requests in all
                for p in plans[::-1][:extra]:
                    p.pop()
            else:
                plans = make_plan(clients, requests, seed)
        n_planned = sum(map(len, plans))
        log(f"run: {len(plans)} clients, {n_planned} planned requests, then "
            f"{len(closing)} closing requests each …")
        t_run = time.perf_counter()

        def after_run():
            time.sleep(settle_s)
            rss["after_run"] = sampler.mark("after_run")

        runner.run_clients(plans, phase="run", closing=closing, between=after_run)
        run_s = time.perf_counter() - t_run
        if not closing:
            after_run()
        time.sleep(settle_s)
        rss["end"] = sampler.mark("end")
        caches["end"] = cache_files(cache)

        health = runner.run_case(Session(url, -1, runner), "text_short", random.Random(0), "health")[0]
        sampler.stopped.set()
        sampler.join()
        hwm = (memory_mb(pid) or {}).get("hwm")

        probe_results, probe_problems = [], []
        if probe and servers:
            for s in servers:
                s.stop()
            log("probe: a second server with MMINSPECT_ALLOW_CUSTOM_MODELS=0, asked about server paths …")
            off = Server(folder, {"MMINSPECT_ALLOW_CUSTOM_MODELS": "0"}, name="custom-off")
            servers.append(off)
            off.wait_ready()
            probe_results, probe_problems = probe_paths(off.url, inputs, timeout, runner.t0)
        elif probe:
            probe_problems = ["skipped: --url given (start a server with "
                              "MMINSPECT_ALLOW_CUSTOM_MODELS=0 and pass --url to probe it)"]

        return summarise(runner, plans, closing, health, probe_results, probe_problems, rss, hwm,
                         sampler, caches, run_s, rss_limit, soak, pid, url, servers)
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(folder, ignore_errors=True)


def summarise(runner, plans, closing, health, probe_results, probe_problems, rss, hwm, sampler,
              caches, run_s, rss_limit, soak, pid, url, servers) -> dict:
    results = [r for r in runner.results if r.phase in ("run", "close")]
    counted = results + probe_results
    submitted = len(counted)
    by = {o: sum(r.outcome == o for r in counted) for o in ("ok", "rejected", "errored", "hung")}
    planned = (sum(map(len, plans)) + len(closing) * len(plans)
               + 2 * sum(p.count("flood") for p in plans))                       # flood: 3 calls
    failures = []
    if by["hung"]:
        failures.append(f"{by['hung']} request(s) hung (no answer within {runner.timeout:.0f} s)")
    if submitted != by["ok"] + by["rejected"] + by["errored"] + by["hung"]:
        failures.append("invariant: submitted != ok + rejected + errored + hung")
    if len(results) != planned:
        failures.append(f"invariant: {planned} requests planned, {len(results)} answered")
    normal_errors = [r for r in results if r.case in NORMAL and r.outcome == "errored"]
    if normal_errors:
        failures.append(f"{len(normal_errors)} ordinary request(s) errored, e.g. "
                        f"{normal_errors[0].case}: {normal_errors[0].message[:150]!r}")
    warm_bad = [r for r in runner.results if r.phase == "warm-up" and r.outcome != "ok"]
    if warm_bad:
        failures.append(f"warm-up: {warm_bad[0].case} {warm_bad[0].outcome}: {warm_bad[0].message[:150]!r}")
    if health.outcome != "ok":
        failures.append(f"the app stopped serving: a short inspect after the run was "
                        f"{health.outcome} ({health.message[:150]!r})")
    checks: dict[str, dict] = {}
    for r in counted:
        c = checks.setdefault(r.case, {"n": 0, "exercised": 0, "failed": 0, "problems": []})
        c["n"] += 1
        c["exercised"] += not queue_refused(r)
        if r.problems:
            c["failed"] += 1
            c["problems"] += [p for p in r.problems if p not in c["problems"]][:3]
    for name, c in checks.items():
        if name in ABUSE and not c["exercised"]:
            c["failed"] += 1
            c["problems"].append("never reached the app: every try was refused by the queue")
    if probe_results or probe_problems:
        checks.setdefault("path_probe_custom_off", {"n": 0, "exercised": 0, "failed": 0,
                                                    "problems": []})
        checks["path_probe_custom_off"]["problems"] += probe_problems
        if probe_problems and not probe_problems[0].startswith("skipped"):
            checks["path_probe_custom_off"]["failed"] += 1
    bad = {k: v for k, v in checks.items() if v["failed"]}
    if bad:
        failures.append("checks failed: " + "; ".join(f"{k}: {v['problems'][0]}" for k, v in bad.items()))
    growth = None
    if rss.get("after_warm_up") and rss.get("end"):
        growth = rss["end"] / rss["after_warm_up"] - 1
        if growth > rss_limit:
            failures.append(f"RSS at the end {rss['end']:.0f} MB is {growth:+.1%} from "
                            f"{rss['after_warm_up']:.0f} MB after the warm-up (limit +{rss_limit:.0%})")
    peak = max((mb for _, mb in sampler.samples), default=None)
    image_requests = sum(r.endpoint == "/inspect_clip" for r in runner.results)
    cache_growth = None
    if caches.get("start") and caches.get("end"):
        cache_growth = caches["end"]["files"] - caches["start"]["files"]
    return {
        "mode": "soak" if soak else "load", "url": url, "server_pid": pid,
        "launched": bool(servers), "clients": len(plans), "requests_per_client": max(map(len, plans)),
        "timeout_s": runner.timeout, "run_seconds": round(run_s, 1),
        "submitted": submitted, **by, "rejected_by_queue": sum(map(queue_refused, counted)),
        "failures": failures, "passed": not failures,
        "per_endpoint": tally(counted, "endpoint"), "per_case": tally(counted, "case"),
        "checks": checks,
        "rss_mb": {"start": rss.get("start"), "after_warm_up": rss.get("after_warm_up"),
                   "peak_sampled": peak, "peak_hwm": hwm, "after_run": rss.get("after_run"),
                   "end": rss.get("end"), "growth": None if growth is None else round(growth, 4),
                   "limit": rss_limit, "marks_s": sampler.marks, "samples": sampler.samples},
        "gradio_cache": {**caches, "image_requests": image_requests,
                         "files_per_image_request": None if cache_growth is None or not image_requests
                         else round(cache_growth / image_requests, 1),
                         "note": "the app deletes cached files older than 3600 s every 600 s "
                                 "(delete_cache); a shorter run removes none"},
        "warm_up": [asdict(r) for r in runner.results if r.phase == "warm-up"],
        "health": asdict(health),
        "requests": [asdict(r) for r in counted],
    }
