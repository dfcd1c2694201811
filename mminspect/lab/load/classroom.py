"""A class on one machine: students clicking cheap things while a few run long jobs.

    python -m mminspect.lab.load.classroom                     # 30 students + 3 compare-all, 120 s
    python -m mminspect.lab.load.classroom --one-lane          # the same, every model event in one queue
    python -m mminspect.lab.load.classroom --students 4 --long 1 --seconds 20

Each student has their own session (a gradio_client.Client) and clicks, after a pause of
--think seconds (uniform), one of: open a lesson, Inspect a short text, redraw a head
(layer/head sliders, no model), or trace a head. The long-job clients run Compare-all
attributions back to back. Cheap clicks are timed from submit to result (queue wait
included): the figure is their p95, the goal 2 s. The server is started here
(`python app.py` on a free loopback port; --one-lane sets MMINSPECT_LANES=0, which is how
the app was before the lanes) unless --url names a running one on loopback.

Every student comes from 127.0.0.1, as a class behind one school router would: the per-
address bound is raised for the run (MMINSPECT_MAX_JOBS_PER_ADDRESS), or it would refuse most
of the class; the per-session bound stays.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import threading
import time
from pathlib import Path

from .server import Server, loopback_url

TEXTS = ("The cat sat on the mat because it was warm.", "A kitten was lying on the rug.",
         "The dog chased the ball across the garden.", "She read the letter twice and smiled.")
# what the long-job clients explain: a short paragraph a student might paste (~40 tokens)
PARAGRAPHS = ("The old fisherman pulled his small wooden boat onto the sandy beach at dawn, "
              "tired but very happy with all of the silver fish he had caught overnight.",
              "After the storm the children ran down to the river to see how high the water "
              "had risen, and their teacher followed them with a notebook and a camera.")
COMPARE = "A kitten was lying on the rug."
LABELS = "animals, weather, finance"
CHEAP = ("lesson", "inspect", "redraw", "trace")
GOAL_P95_S = 2.0


def inspect_kwargs(text: str) -> dict:
    return {"model_name": "minilm", "custom_model": "", "text": text, "compare_to": COMPARE,
            "labels_text": LABELS, "temperature": 0.05, "hide_special": False, "layer": 0,
            "head": 0}


def compare_kwargs(text: str) -> dict:
    return {"model_name": "minilm", "custom_model": "", "text": text, "target_kind": "similarity",
            "compare": COMPARE, "labels_text": LABELS, "label": "", "choice": "",
            "baseline": "pad", "level": "word"}


def trace_kwargs(text: str, rng: random.Random) -> dict:
    return {"model_name": "minilm", "custom_model": "", "tower": "text", "text": text,
            "layer": rng.randrange(6), "head": rng.randrange(12), "query": "it",
            "step": "softmax", "predict": False}


class Record:
    """Every call's (kind, seconds, ok, start time), thread-safe."""

    def __init__(self):
        self.rows: list[tuple[str, float, bool, float]] = []
        self.lock = threading.Lock()
        self.t0 = time.perf_counter()

    def timed(self, kind: str, fn, *args, **kwargs):
        start = time.perf_counter()
        ok, out = True, None
        try:
            out = fn(*args, **kwargs)
        except Exception:  # noqa: BLE001 - a refused or failed call counts as not ok
            ok = False
        with self.lock:
            self.rows.append((kind, time.perf_counter() - start, ok, start - self.t0))
        return out


def client(url: str):
    from gradio_client import Client
    return Client(url, verbose=False, download_files=False)


def student(c, i: int, end: float, think: tuple[float, float], lessons: list[str],
            rec: Record) -> None:
    """A student arrives at a random moment of their first pause (a class does not click
    all at once), Inspects once (a state to redraw from), then clicks until the end."""
    rng = random.Random(i)
    time.sleep(rng.uniform(0, think[1]))
    text = rng.choice(TEXTS)
    rec.timed("inspect", c.predict, api_name="/inspect_text", **inspect_kwargs(text))
    while time.perf_counter() + think[0] < end:
        time.sleep(rng.uniform(*think))
        kind = rng.choice(CHEAP)
        if kind == "lesson":
            rec.timed(kind, c.predict, rng.choice(lessons), api_name="/open_lesson")
        elif kind == "inspect":
            text = rng.choice(TEXTS)
            rec.timed(kind, c.predict, api_name="/inspect_text", **inspect_kwargs(text))
        elif kind == "redraw":
            rec.timed(kind, c.predict, api_name="/redraw_text", layer=rng.randrange(6),
                      head=rng.randrange(12), hide_special=False)
        else:
            rec.timed(kind, c.predict, api_name="/trace_head", **trace_kwargs(text, rng))


def long_jobs(c, i: int, end: float, rec: Record) -> None:
    rng = random.Random(1000 + i)
    while time.perf_counter() < end:
        rec.timed("compare_all", c.predict, api_name="/compare_attributions",
                  **compare_kwargs(rng.choice(PARAGRAPHS)))


def warm_up(url: str, lessons: list[str]) -> None:
    """One of each call, so the models (and the long lane's copies) are loaded before timing."""
    c = client(url)
    c.predict(api_name="/inspect_text", **inspect_kwargs(TEXTS[0]))
    c.predict(api_name="/redraw_text", layer=1, head=1, hide_special=False)
    c.predict(lessons[0], api_name="/open_lesson")
    c.predict(api_name="/trace_head", **trace_kwargs(TEXTS[0], random.Random(0)))
    c.predict(api_name="/compare_attributions", **compare_kwargs(TEXTS[0]))


def p95(xs: list[float]) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))]


def summary(rec: Record) -> dict:
    out: dict = {}
    for kind in (*CHEAP, "compare_all"):
        rows = [r for r in rec.rows if r[0] == kind]
        ok = [r[1] for r in rows if r[2]]
        out[kind] = {"n": len(rows), "ok": len(ok), "p50_s": statistics.median(ok) if ok else None,
                     "p95_s": p95(ok), "max_s": max(ok) if ok else None}
    cheap = [r for r in rec.rows if r[0] in CHEAP]
    cheap_ok = [r[1] for r in cheap if r[2]]
    out["cheap"] = {"n": len(cheap), "ok": len(cheap_ok), "p50_s": statistics.median(cheap_ok)
                    if cheap_ok else None, "p95_s": p95(cheap_ok),
                    "max_s": max(cheap_ok) if cheap_ok else None}
    return out


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def run(students: int = 30, long: int = 3, seconds: float = 120.0, think=(5.0, 15.0),
        one_lane: bool = False, url: str | None = None, env: dict | None = None) -> dict:
    """The scenario against `url` (or a server started here); the summary as a dict."""
    from ... import api
    lessons = [lesson.title for lesson in api.list_lessons() if lesson.state.model == "minilm"]
    server = None
    folder = Path(tempfile.mkdtemp(prefix="mminspect-classroom-"))
    if url is None:
        server_env = {"MMINSPECT_MAX_JOBS_PER_ADDRESS": "1000",
                      "MMINSPECT_LANES": "0" if one_lane else "1", **(env or {})}
        server = Server(folder, env=server_env, name="classroom")
        url = server.url
    url = loopback_url(url)
    try:
        if server is not None:
            server.wait_ready()
        warm_up(url, lessons)
        clients = [client(url) for _ in range(long + students)]    # sessions opened first
        load_before = load_average()
        rec = Record()
        end = time.perf_counter() + seconds
        threads = [threading.Thread(target=long_jobs, args=(clients[i], i, end, rec), daemon=True)
                   for i in range(long)]
        threads += [threading.Thread(target=student, args=(clients[long + i], i, end, think,
                                                           lessons, rec), daemon=True)
                    for i in range(students)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(seconds + 600)
        out = summary(rec)
    finally:
        if server is not None:
            server.stop()
    return {"students": students, "long_clients": long, "seconds": seconds, "think_s": list(think),
            "lanes": not one_lane, "load_average_before": load_before,
            "load_average_after": load_average(), "cpu_count": os.cpu_count(),
            "goal_cheap_p95_s": GOAL_P95_S, **out}


def report(rec: dict) -> str:
    def f(x):
        return "—" if x is None else f"{x:.2f}"
    lines = [f"{rec['students']} students + {rec['long_clients']} compare-all clients, "
             f"{rec['seconds']:.0f} s, {'two lanes' if rec['lanes'] else 'one lane'}, "
             f"{rec['cpu_count']} CPUs, load average before {rec['load_average_before']} / "
             f"after {rec['load_average_after']}",
             f"{'click':<12}{'n':>5}{'ok':>5}{'p50 s':>8}{'p95 s':>8}{'max s':>8}"]
    for kind in (*CHEAP, "cheap", "compare_all"):
        t = rec[kind]
        lines.append(f"{kind:<12}{t['n']:>5}{t['ok']:>5}{f(t['p50_s']):>8}{f(t['p95_s']):>8}"
                     f"{f(t['max_s']):>8}")
    p = rec["cheap"]["p95_s"]
    verdict = "meets" if p is not None and p <= rec["goal_cheap_p95_s"] else "misses"
    lines.append(f"cheap clicks p95 {f(p)} s: {verdict} the goal of {rec['goal_cheap_p95_s']:g} s")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--students", type=int, default=30)
    ap.add_argument("--long", type=int, default=3, help="clients running compare-all")
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--think", type=float, nargs=2, default=(5.0, 15.0),
                    help="a student's pause between clicks, uniform in [a, b] seconds")
    ap.add_argument("--one-lane", action="store_true", help="every model event in one queue")
    ap.add_argument("--url", help="a running server on loopback (else one is started)")
    ap.add_argument("--json", help="write the record here")
    a = ap.parse_args(argv)
    rec = run(a.students, a.long, a.seconds, tuple(a.think), a.one_lane, a.url)
    print(report(rec))
    if a.json:
        Path(a.json).write_text(json.dumps(rec, indent=2))
    return 0 if (rec["cheap"]["p95_s"] or 1e9) <= GOAL_P95_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
