"""`python -m mminspect.bench`: speed and size figures, each next to a baseline measured in
the same run (these machines are noisy; ratios travel better than seconds).

Sections (each a module with `run(repeats) -> {"checks": [(name, value, target, detail)], ...}`):
text (bench_text), redraw (bench_redraw), attribution (bench_attribution), clip (bench_clip),
cost (bench_cost: attribution cost vs text length and the time budget; minutes), causal
(bench_causal: head-importance scan vs separate ablations, patching sweeps), glassbox
(bench_glassbox: trace_head on MiniLM at 32 tokens vs a bare forward), dataset
(bench_dataset: explain_dataset local vs a single-input loop and vs Ray), compare
(bench_compare: mi.compare vs the two inspect_text runs it reads). Exit status 1 if a
target is missed or a section fails (its traceback is printed and the others still run).
"""
from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path

import torch

from . import (bench_attribution, bench_causal, bench_clip, bench_cost, bench_glassbox, bench_redraw,
               bench_text)
from . import bench_dataset, bench_dataset_images
from . import bench_compare
from .provenance import code_snapshot, provenance

SECTIONS = {"text": bench_text, "redraw": bench_redraw, "attribution": bench_attribution,
            "clip": bench_clip, "cost": bench_cost, "causal": bench_causal,
            "glassbox": bench_glassbox, "dataset": bench_dataset, "compare": bench_compare,
            "dataset_images": bench_dataset_images}
CODE = ("mminspect",)   # every mminspect module the sections import is hashed into --json


def run_sections(names, repeats: int) -> tuple[dict, list[str]]:
    """({section: figures}, [failed sections])."""
    report, failed = {}, []
    for name in names:
        try:
            report[name] = SECTIONS[name].run(repeats)
        except Exception:                                   # noqa: BLE001 - report, then fail the run
            traceback.print_exc()
            print(f"section {name!r} FAILED (see the traceback above)", file=sys.stderr)
            failed.append(name)
    return report, failed


def print_checks(report: dict) -> bool:
    """Print every "value <= target" row; True when all are met."""
    print(f"{'figure':<52}{'value':>10}{'target':>10}  ok   detail")
    ok_all = True
    for figures in report.values():
        for name, value, target, detail in figures["checks"]:
            ok = value <= target
            ok_all &= ok
            print(f"{name:<52}{value:>10.3g}{'≤' + format(target, '.3g'):>10}  "
                  f"{'yes' if ok else 'NO ':<4} {detail}")
    return ok_all


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(prog="python -m mminspect.bench",
                                     description="Speed and size figures next to same-run baselines.")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--only", choices=list(SECTIONS), help="run one section (default: all)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--json", type=Path, help="also write the figures (and how they were "
                                                  "measured) to this file")
    a = parser.parse_args(args)
    torch.set_grad_enabled(True)
    if a.threads:
        torch.set_num_threads(a.threads)
    names = [a.only] if a.only else list(SECTIONS)
    at_start = code_snapshot(CODE)
    report, failed = run_sections(names, a.repeats)
    ok_all = print_checks(report)
    if failed:
        print(f"FAILED sections: {', '.join(failed)}")
    if a.json:
        prov = provenance("mminspect.bench", args, code=CODE, at_start=at_start,
                          params={"repeats": a.repeats, "sections": names, "threads": a.threads})
        a.json.write_text(json.dumps({"sections": report, "failed": failed, "provenance": prov},
                                     indent=2, default=float) + "\n")
    return 0 if ok_all and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
