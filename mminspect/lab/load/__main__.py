"""`python -m mminspect.lab.load`: the command line and the printed report."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from ..provenance import ROOT, code_version, provenance
from .cases import CLOSING, MIX, SOAK_MIX, WARM_UP
from . import __doc__ as PACKAGE_DOC
from .messages import PROGRAM
from .runner import run
from .server import loopback_url


def fmt(x, spec=".2f") -> str:
    return "—" if x is None else format(x, spec)


def report_text(rec: dict) -> str:
    lines = [f"{rec['mode']}: {rec['clients']} clients, {rec['submitted']} requests in "
             f"{rec['run_seconds']} s (timeout {rec['timeout_s']:.0f} s each)",
             f"submitted {rec['submitted']} = ok {rec['ok']} + rejected {rec['rejected']} + "
             f"errored {rec['errored']} (+ hung {rec['hung']}); {rec['rejected_by_queue']} of the "
             "rejected were refused by the queue (full, or the client's share of model slots)", "",
             f"{'endpoint':<24}{'n':>5}{'ok':>5}{'rej':>5}{'err':>5}{'hung':>5}"
             f"{'p50 ok s':>10}{'p95 ok s':>10}{'p95 all s':>10}"]
    for name, t in rec["per_endpoint"].items():
        lines.append(f"{name:<24}{t['n']:>5}{t['ok']:>5}{t['rejected']:>5}{t['errored']:>5}"
                     f"{t['hung']:>5}{fmt(t['p50_ok_s']):>10}{fmt(t['p95_ok_s']):>10}"
                     f"{fmt(t['p95_all_s']):>10}")
    lines += ["", f"{'case':<24}{'n':>5}{'ok':>5}{'rej':>5}{'err':>5}{'hung':>5}{'p50 ok s':>10}"
                  f"{'p95 ok s':>10}{'reached':>8}  check"]
    for name, t in rec["per_case"].items():
        c = rec["checks"].get(name, {})
        verdict = "FAIL: " + c["problems"][0][:90] if c.get("failed") else "pass"
        lines.append(f"{name:<24}{t['n']:>5}{t['ok']:>5}{t['rejected']:>5}{t['errored']:>5}"
                     f"{t['hung']:>5}{fmt(t['p50_ok_s']):>10}{fmt(t['p95_ok_s']):>10}"
                     f"{c.get('exercised', t['n']):>8}  {verdict}")
    probe = rec["checks"].get("path_probe_custom_off")
    if probe and probe["problems"]:
        lines.append(f"path probe (custom models off): {'; '.join(probe['problems'])}")
    m = rec["rss_mb"]
    growth = None if m["growth"] is None else 100 * m["growth"]
    lines += ["", f"server RSS (MB): start {fmt(m['start'], '.0f')}, after warm-up "
                  f"{fmt(m['after_warm_up'], '.0f')}, peak {fmt(m['peak_sampled'], '.0f')} (VmHWM "
                  f"{fmt(m['peak_hwm'], '.0f')}), after the run (each session holding its last "
                  f"results) {fmt(m['after_run'], '.0f')}, end (after a short closing request in "
                  f"each session) "
                  f"{fmt(m['end'], '.0f')} ({fmt(growth, '+.1f')} % from after warm-up; limit "
                  f"+{100 * m['limit']:.0f} %)"]
    if m["samples"]:
        step = max(1, len(m["samples"]) // 12)
        lines.append("RSS over time (s: MB): " + ", ".join(
            f"{t:.0f}: {mb:.0f}" for t, mb in m["samples"][::step] + m["samples"][-1:]))
    g = rec["gradio_cache"]
    if g.get("end"):
        lines.append(f"gradio cache: {g['start']['files'] if g.get('start') else '—'} files at the "
                     f"start, {g['after_warm_up']['files']} after warm-up, {g['end']['files']} "
                     f"({g['end']['mb']} MB) at the end; {g['image_requests']} image requests, "
                     f"{fmt(g['files_per_image_request'], '.1f')} files each ({g['note']})")
    lines += ["", "PASS" if rec["passed"] else "FAIL:\n  " + "\n  ".join(rec["failures"])]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    p = argparse.ArgumentParser(prog=f"python -m {PROGRAM}", description=PACKAGE_DOC.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=8, help="concurrent clients (threads)")
    p.add_argument("--requests", type=int, default=60, help="requests per client")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=600.0,
                   help="seconds one request may take, queue wait included, before it counts as hung")
    p.add_argument("--soak", type=int, metavar="N", default=None,
                   help="soak: N requests in all, a third of them 3000-6000 px image uploads")
    p.add_argument("--rss-limit", type=float, default=0.15,
                   help="allowed growth of RSS from after the warm-up to the end (0.15 = 15 %%)")
    p.add_argument("--url", help="a running server on loopback, instead of starting one")
    p.add_argument("--pid", type=int, help="the server's process id with --url (default: the "
                                           "process listening on its port)")
    p.add_argument("--cache-dir", type=Path, help="the server's gradio cache folder with --url "
                   "(default: $GRADIO_TEMP_DIR or <tmp>/gradio)")
    p.add_argument("--no-probe", action="store_true",
                   help="skip the second server (custom models off) asked about server paths")
    p.add_argument("--json", type=Path, help="write the record (with how it was made) here")
    p.add_argument("--hosting", action="store_true",
                   help="run the hosting probes instead (spoofed addresses, bad values, events "
                        "nobody listens to, upload quota, state of API sessions): see hosting.py")
    p.add_argument("--api-calls", type=int, default=100,
                   help="with --hosting: raw inspect_text calls at ~512 tokens (0: skip)")
    p.add_argument("--idle", type=float, default=20,
                   help="with --hosting: MMINSPECT_SESSION_IDLE_S of the server started")
    a = p.parse_args(args)
    if a.hosting:
        return hosting_main(a, args)
    if a.clients < 1 or a.requests < 1 or (a.soak is not None and a.soak < a.clients):
        p.error("--clients and --requests must be >= 1, --soak >= --clients")
    if a.url:
        try:
            loopback_url(a.url)
        except ValueError as e:
            p.error(str(e))
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    rec = run(url=a.url, clients=a.clients, requests=a.requests, seed=a.seed, timeout=a.timeout,
              soak=a.soak, rss_limit=a.rss_limit, probe=not a.no_probe, pid=a.pid,
              cache_dir=a.cache_dir)
    print(report_text(rec))
    if a.json:
        params = {"clients": a.clients, "requests": a.requests, "seed": a.seed,
                  "timeout": a.timeout, "soak": a.soak, "rss_limit": a.rss_limit, "url": a.url,
                  "probe": not a.no_probe, "mix": SOAK_MIX if a.soak else MIX,
                  "warm_up": list(WARM_UP), "closing": list(CLOSING)}
        prov = provenance(PROGRAM, args, params=params, code=("mminspect",))
        # The figures come from the server, a separate process (app.py): its code is every
        # module of the package, not just what this client process imported.
        files = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "mminspect").rglob("*.py"))
        prov["code"] = code_version(files + ["app.py"])
        a.json.write_text(json.dumps({**rec, "provenance": prov}, indent=1, default=str) + "\n")
        print(f"record written to {a.json}")
    return 0 if rec["passed"] else 1


def hosting_main(a, args: list[str]) -> int:
    """Start the app as a Space would see it and run every hosting probe against it."""
    import tempfile
    from .hosting import ENV, run_hosting
    from .server import Server
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    folder = Path(tempfile.mkdtemp(prefix="mminspect-hosting-"))
    server = Server(folder, {**ENV, "MMINSPECT_SESSION_IDLE_S": str(int(a.idle))}, name="hosting")
    try:
        server.wait_ready(timeout=900)      # a start that re-checks shipped tables is slow
        rec = run_hosting(server.url, server.pid, a.api_calls, a.idle)
    finally:
        server.stop()
    print("PASS" if rec["passed"] else "FAIL: " + ", ".join(
        k for k, v in rec.items() if isinstance(v, dict) and not v["passed"]))
    if a.json:
        prov = provenance(PROGRAM, args, params={"api_calls": a.api_calls, "idle": a.idle,
                                                "env": ENV}, code=("mminspect",))
        a.json.write_text(json.dumps({**rec, "provenance": prov}, indent=1, default=str) + "\n")
        print(f"record written to {a.json}")
    return 0 if rec["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
