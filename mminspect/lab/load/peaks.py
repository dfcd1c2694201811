"""Every public endpoint at its limits, one request at a time: the server's peak memory and
the time each request held its lane (gradio runs every event in a worker thread, so this is
the memory a worker thread reaches, not a main-thread figure).

    python -m mminspect.lab.load.peaks [--budget 60] [--json out.json]

The server is started here (`python app.py` on a free loopback port, MMINSPECT_BUDGET_S set
to --budget). Before each request the kernel's high-water mark of the server's RSS is reset
(writing 5 to /proc/<pid>/clear_refs), so VmHWM afterwards is that request's exact peak; a
sampler every 50 ms backs it up where the reset is not allowed. "At its limits" means the
largest input each limit admits: texts of MMINSPECT_MAX_CHARS characters (cut to the model's
512 tokens), 50 labels / prompts of 300 characters, every method in the method lists, the
slowest settings of the sliders, a 6000 × 6000 px JPEG (36 megapixels, under the 40 allowed;
reduced to 1024 px when read). The seconds are from submit to answer, seen by the client (an
upper bound on the time the request held its lane; nothing else runs meanwhile).
"""
from __future__ import annotations

import argparse
import json
import re
import tempfile
import time
from pathlib import Path

from .client import endpoint_outputs, pattern_image
from .hosting import app_config, endpoints
from .messages import classify_exception, classify_message
from .server import RssSampler, Server, memory_mb

GOAL_RSS_MB = 4096
GOAL_OVER_BUDGET_S = 1.0
MAX_CHARS = 20_000
# 20,000 characters of ordinary words (the text limit; MiniLM reads the first 512 tokens)
LONG = ("The old fisherman pulled his small wooden boat onto the sandy beach at dawn, and it "
        "was heavy. " * 250)[:MAX_CHARS]
LONG_B = LONG.replace("fisherman", "sailor")[:MAX_CHARS]
LONG_BROKEN = LONG.replace("boat", "raft")          # the same tokens, one word changed
LABELS_50 = "\n".join(f"label {i:02d} " + "about the sea and its boats " * 10 for i in range(50))
LABELS_50 = "\n".join(line[:300] for line in LABELS_50.splitlines())
# budgeted: the request carries the time budget (its answer must come within it plus 1 s)
BUDGETED = {"/head_importance", "/patch_activations", "/attribute_text", "/compare_attributions",
            "/sanity_check", "/explain_methods", "/image_head_importance",
            "/patch_image_activations", "/image_sanity_check"}


def choices(cfg: dict, api: str, label: str) -> list:
    """Every choice of the input of `api` whose label starts with `label` (from the config)."""
    _, inputs = endpoints(cfg)[api]
    comp = next(c for c in inputs if str(c.get("props", {}).get("label") or "").startswith(label))
    return [c[1] if isinstance(c, (list, tuple)) else c for c in comp["props"]["choices"]]


def slider_ends(cfg: dict, api: str) -> dict[str, tuple[float, float]]:
    """{label: (minimum, maximum)} of the sliders of `api`."""
    _, inputs = endpoints(cfg)[api]
    return {c["props"].get("label"): (c["props"]["minimum"], c["props"]["maximum"])
            for c in inputs if c["type"] == "slider"}


def attribute_params(cfg: dict) -> dict:
    """Integrated gradients at its costliest: the tightest accuracy goal and the most steps."""
    ends = slider_ends(cfg, "attribute_text")
    return {"param_11": ends["Accuracy goal (completeness error)"][0],
            "param_12": ends["Steps to start with"][1],
            "param_13": ends["Most steps allowed"][1]}


def cases(cfg: dict, image: Path, lesson: str) -> list[tuple[str, str, dict]]:
    """(what, endpoint, keyword arguments), in the order a visitor could send them (each
    later one reads the state an earlier one left in the same session)."""
    from gradio_client import handle_file
    text = {"model_name": "minilm", "custom_model": ""}
    clip = {"model_name": "miniclip2", "custom_model": ""}
    prompts = LABELS_50.splitlines()
    target = {"text": LONG, "target_kind": "similarity", "compare": LONG_B,
              "labels_text": LABELS_50, "label": "", "choice": "", "baseline": "pad"}
    return [
        ("inspect 20,000 chars + 20,000-char second text + 50 labels", "/inspect_text",
         text | {"text": LONG, "compare_to": LONG_B, "labels_text": LABELS_50, "layer": 5,
                 "head": 11}),
        ("redraw a head", "/redraw_text", {"layer": 5, "head": 11, "hide_special": False}),
        ("bertviz model view, 512 tokens", "/bertviz", {"which": "model view"}),
        ("trace a head, 512 tokens", "/trace_head",
         text | {"tower": "text", "text": LONG, "layer": 5, "head": 11, "query": "it",
                 "step": "softmax", "predict": True}),
        ("break attention (after the trace)", "/break_attention",
         text | {"variant": "no_scale", "compare_to": LONG_B}),
        ("head scan, 72 heads, 512 tokens", "/head_importance",
         text | {"text": LONG, "compare": LONG_B, "labels_text": LABELS_50, "temperature": 0.05,
                 "target_kind": "similarity", "choice": "", "stat": "special"}),
        ("residual patching, 512 tokens", "/patch_activations",
         text | {"clean": LONG, "corrupted": LONG_BROKEN, "compare": LONG_B,
                 "labels_text": LABELS_50, "temperature": 0.05, "target_kind": "similarity",
                 "choice": "", "site": "residual"}),
        ("integrated gradients, most steps, 512 tokens", "/attribute_text",
         text | target | {"method": "integrated_gradients", "level": "word"}
         | attribute_params(cfg)),
        ("compare all methods, 512 tokens", "/compare_attributions",
         text | target | {"level": "word"}),
        ("sanity check, every method, 512 tokens", "/sanity_check",
         text | target | {"methods": choices(cfg, "sanity_check", "Methods to check")}),
        ("open a lesson", "/open_lesson", {"title": lesson}),
        ("image 6000 x 6000 px + 50 prompts", "/inspect_clip",
         clip | {"data": handle_file(str(image)), "prompts_text": "\n".join(prompts),
                 "template": ""}),
        ("every image method", "/explain_methods", clip | {"prompt": prompts[0]}),
        ("remove an image head", "/ablate_image_heads",
         clip | {"layer": 3, "head": 3}),
        ("image head scan", "/image_head_importance", clip | {"prompt": prompts[0]}),
        ("image residual patching", "/patch_image_activations",
         clip | {"prompt": prompts[0], "site": "residual"}),
        ("image sanity check, every method", "/image_sanity_check",
         clip | {"prompt": prompts[0],
                 "methods": choices(cfg, "image_sanity_check", "Image methods to check")}),
    ]


def reset_peak(pid: int) -> bool:
    """Reset the kernel's RSS high-water mark of `pid` (Linux >= 4.0); False if not allowed."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def answer(outputs: dict, api: str, values=None, error: BaseException | None = None) -> str:
    """"ok", or what the app said instead ("refused: …" for its own message)."""
    if error is not None:
        outcome, message = classify_exception(error)
    else:
        values = list(values) if isinstance(values, (list, tuple)) else [values]
        index = outputs.get(api, ([], None))[1]
        index = index if index is not None and index < len(values) else None
        outcome, message = classify_message(values, index)
    return "ok" if outcome == "ok" else f"{outcome}: {message[:300]}"


HELD = re.compile(r"lane (\S+): (\S+) held it ([\d.]+) s")


class LaneLog:
    """The server's log lines "lane <lane>: <handler> held it <s> s" (lanes.py, at
    MMINSPECT_LOG_LEVEL=INFO), read as they come."""

    def __init__(self, path: Path):
        self.path, self.offset = path, 0

    def new_holds(self) -> list[tuple[str, str, float]]:
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            text = f.read().decode("utf-8", "replace")
            self.offset = f.tell()
        return [(m[1], m[2], float(m[3])) for m in HELD.finditer(text)]


def measure(client, pid: int, outputs: dict, what: str, api: str, kwargs: dict,
            budget_s: float, lanes: LaneLog | None = None) -> tuple[dict, object]:
    """The row for one request, and what it returned."""
    if lanes is not None:
        lanes.new_holds()                                 # what came before is not this row's
    before = memory_mb(pid)["rss"]
    exact = reset_peak(pid)
    sampler = RssSampler(pid, time.perf_counter(), every=0.05)
    sampler.start()
    start = time.perf_counter()
    values, error = None, None
    try:
        values = client.predict(api_name=api, **kwargs)
    except Exception as e:  # noqa: BLE001 - a refusal is a result too: it is reported
        error = e
    seconds = time.perf_counter() - start
    sampler.stopped.set()
    sampler.join()
    after = memory_mb(pid)
    sampled = max([mb for _, mb in sampler.samples] + [after["rss"]])
    peak = max(after["hwm"], sampled) if exact else sampled
    row = {"what": what, "endpoint": api, "seconds": round(seconds, 2),
           "rss_before_mb": round(before), "peak_mb": round(peak), "added_mb": round(peak - before),
           "peak_from": "VmHWM after reset" if exact else "sampled every 50 ms",
           "budgeted": api in BUDGETED, "answer": answer(outputs, api, values, error)}
    holds = lanes.new_holds() if lanes is not None else []
    if holds:                   # the server's own clock: how long the handler held its lane
        row["lane"], _, held = max(holds, key=lambda h: h[2])
        row["held_s"] = round(held, 3)
    held = row.get("held_s", seconds)   # else the client's view, an upper bound
    row["within_budget"] = (held <= budget_s + GOAL_OVER_BUDGET_S) if api in BUDGETED else None
    return row, values


def prompt_choices(values) -> list[str]:
    """The prompts the image inspect offers next (the first dropdown it returns)."""
    for v in values if isinstance(values, (list, tuple)) else []:
        if isinstance(v, dict) and v.get("choices"):
            return [c[1] if isinstance(c, (list, tuple)) else c for c in v["choices"]]
    return []


def run(budget_s: float = 60.0, log=print) -> dict:
    from gradio_client import Client
    from ... import api
    folder = Path(tempfile.mkdtemp(prefix="mminspect-peaks-"))
    image = folder / "big.jpg"
    pattern_image(6000, 0).save(image, quality=85)
    lesson = api.list_lessons()[0].title
    server = Server(folder, env={"MMINSPECT_BUDGET_S": f"{budget_s:g}",
                                 "MMINSPECT_LOG_LEVEL": "INFO"}, name="peaks")
    try:
        server.wait_ready()
        cfg = app_config(server.url)
        client = Client(server.url, verbose=False, download_files=False)
        # warm: both models loaded in both lanes, so no row pays a model load
        client.predict(api_name="/inspect_text", model_name="minilm", custom_model="")
        client.predict(api_name="/attribute_text", model_name="minilm", custom_model="",
                       label="", choice="", method="saliency")
        rows, outputs, offered = [], endpoint_outputs(cfg), []
        lanes = LaneLog(server.log_path)
        for what, endpoint, kwargs in cases(cfg, image, lesson):
            if "prompt" in kwargs and offered:
                kwargs = kwargs | {"prompt": offered[0]}        # as the page offers it
            row, values = measure(client, server.pid, outputs, what, endpoint, kwargs, budget_s,
                                  lanes)
            if endpoint == "/inspect_clip":
                offered = prompt_choices(values)
            log(f"{row['what']:<62} {row['seconds']:>7.1f} s (held {row.get('held_s', '?')} s) peak {row['peak_mb']:>5} MB "
                f"(+{row['added_mb']}) {row['answer'][:60]}")
            rows.append(row)
    finally:
        server.stop()
    worst = max(rows, key=lambda r: r["peak_mb"])
    over = [r["what"] for r in rows if r["within_budget"] is False]
    return {"budget_s": budget_s, "goal_rss_mb": GOAL_RSS_MB, "rows": rows,
            "worst_peak_mb": worst["peak_mb"], "worst": worst["what"],
            "over_budget": over, "ok": worst["peak_mb"] < GOAL_RSS_MB and not over}


def table(rec: dict) -> str:
    lines = ["| request (at its limits) | endpoint | seconds (held its lane) | peak RSS MB (added) "
             "| answer |", "|---|---|---|---|---|"]
    for r in rec["rows"]:
        held = f" ({r['held_s']:.1f})" if "held_s" in r else ""
        lines.append(f"| {r['what']} | `{r['endpoint']}` | {r['seconds']:.1f}{held} | {r['peak_mb']} "
                     f"(+{r['added_mb']}) | {r['answer'][:80]} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--budget", type=float, default=60.0, help="MMINSPECT_BUDGET_S of the server")
    ap.add_argument("--json", help="write the record here")
    a = ap.parse_args(argv)
    rec = run(a.budget)
    print(table(rec))
    print(f"worst peak {rec['worst_peak_mb']} MB ({rec['worst']}); goal < {GOAL_RSS_MB} MB; "
          f"over budget + {GOAL_OVER_BUDGET_S:g} s: {rec['over_budget'] or 'none'}")
    if a.json:
        Path(a.json).write_text(json.dumps(rec, indent=2))
    return 0 if rec["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
