"""The requests: ordinary ones and the abuse cases, the mixes of a load and a
soak run, and the plan that deals them out to the clients."""
from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Callable

from .client import Session, raw_call
from .messages import ATTR_METHODS, LABELS, LONG, PATHS_PROBED, QUEUE_WORDS, Result, SHORT, SHORT_B, XSS, classify_exception, classify_message, clear_message, live_elements


# A case: (session, rng) -> [Result]; it fills `problems` when the answer is not what the app
# owes that input. Abuse cases are listed in ABUSE.


def text_kwargs(text=SHORT, compare=SHORT_B, labels=LABELS, **kw) -> dict:
    return {"model_name": "minilm", "custom_model": "", "text": text, "compare_to": compare,
            "labels_text": labels, "temperature": 0.05, "hide_special": False, "layer": 0,
            "head": 0} | kw


def attr_kwargs(method="saliency", text=SHORT, **kw) -> dict:
    return {"model_name": "minilm", "custom_model": "", "text": text, "target_kind": "similarity",
            "compare": SHORT_B, "labels_text": LABELS, "label": "", "choice": "",
            "method": method, "baseline": "pad", "level": "word"} | kw


def clip_kwargs(path: Path, prompts: str, **kw) -> dict:
    from gradio_client import handle_file
    return {"model_name": "miniclip", "custom_model": "", "data": handle_file(str(path)),
            "prompts_text": prompts, "template": ""} | kw


def queue_refused(res: Result) -> bool:
    """Refused by the queue (full, or the client already holds its share of model slots):
    the request never reached the app's own checks."""
    return res.outcome == "rejected" and any(w in res.message.lower() for w in QUEUE_WORDS)


def expect(res: Result, outcomes=("rejected",), words: tuple[str, ...] = ()) -> Result:
    """The answer must be one of `outcomes`; a refusal must be clear and name one of `words`.
    A queue refusal is fine but does not exercise the case (see `summarise`)."""
    if queue_refused(res):
        return res
    if res.outcome not in outcomes:
        res.problems.append(f"expected {'/'.join(outcomes)}, got {res.outcome}: {res.message[:200]!r}")
    elif res.outcome == "rejected" and not clear_message(res.message):
        res.problems.append(f"unclear refusal: {res.message[:200]!r}")
    elif res.outcome == "rejected" and words and not any(w in res.message.lower() for w in words):
        res.problems.append(f"the refusal does not say why ({'/'.join(words)}): {res.message[:200]!r}")
    return res


def no_live_html(res: Result) -> Result:
    found = live_elements(getattr(res, "values", []), getattr(res, "types", []))
    if found:
        res.problems.append(f"user text came back as live HTML: {', '.join(found)}")
    return expect(res, ("ok", "rejected"))


def case_text_short(s: Session, rng):
    return [s.call("text_short", "/inspect_text", text_kwargs(), "run")]


def case_text_long(s: Session, rng):
    return [s.call("text_long", "/inspect_text", text_kwargs(text=LONG), "run")]


def case_redraw(s: Session, rng):
    return [s.call("redraw", "/redraw_text", {"layer": rng.randrange(6), "head": rng.randrange(12),
                                              "hide_special": rng.random() < 0.5}, "run")]


def case_bertviz(s: Session, rng):
    return [s.call("bertviz", "/bertviz", {"which": rng.choice(["head view", "model view"])}, "run")]


def case_attribute(s: Session, rng, method: str | None = None):
    return [s.call("attribute", "/attribute_text", attr_kwargs(method or rng.choice(ATTR_METHODS)),
                   "run")]


def case_compare_all(s: Session, rng):
    kw = attr_kwargs(text="The cat sat on the mat.")
    kw.pop("method")
    return [s.call("compare_all", "/compare_attributions", kw, "run")]


def case_image_scene(s: Session, rng):
    ins = s.runner.inputs
    return [s.call("image_scene", "/inspect_clip",
                   clip_kwargs(ins.path("scene.png"), ins.scene_prompts), "run")]


def image_of_side(side: int, case: str):
    def run(s: Session, rng):
        path = s.runner.inputs.large(side, rng)
        return [s.call(case, "/inspect_clip", clip_kwargs(path, "a red circle\na blue square\na photo"),
                       "run")]
    run.__name__ = f"case_{case}"
    return run


def case_explain_methods(s: Session, rng):
    # the prompt must be one of this session's last Inspect (gradio checks the dropdown's choices)
    prompt = s.prompts[0] if s.prompts else "a red star"
    return [s.call("explain_methods", "/explain_methods",
                   {"model_name": "miniclip", "custom_model": "", "prompt": prompt}, "run")]


def abuse_file(case: str, name: str, words: tuple[str, ...]):
    def run(s: Session, rng):
        res = s.call(case, "/inspect_clip", clip_kwargs(s.runner.inputs.path(name), "a cat\na dog"),
                     "run")
        return [expect(res, ("rejected",), words)]
    return run


def case_labels_500(s: Session, rng):
    labels = ", ".join(f"label number {i}" for i in range(500))
    res = s.call("labels_500", "/attribute_text",
                 attr_kwargs("saliency", target_kind="zero_shot", labels_text=labels), "run")
    return [expect(res, ("rejected",), ("label",))]


def case_text_30k(s: Session, rng):
    res = s.call("text_30k", "/inspect_text", text_kwargs(text=("lorem ipsum " * 2500)[:30_000]), "run")
    return [expect(res, ("rejected", "ok"), ("character", "limit", "long"))]


def case_xss_text(s: Session, rng):
    res = s.call("xss_text", "/inspect_text",
                 text_kwargs(text=f"The cat {XSS} sat.", compare=XSS, labels=f"{XSS}, weather"), "run")
    return [no_live_html(res)]


def case_xss_attr(s: Session, rng):
    res = s.call("xss_attr", "/attribute_text",
                 attr_kwargs("saliency", text=f"The cat {XSS} sat.", target_kind="zero_shot",
                             labels_text=f"{XSS}, finance", label=XSS), "run")
    return [no_live_html(res)]


def case_xss_clip(s: Session, rng):
    res = s.call("xss_clip", "/inspect_clip",
                 clip_kwargs(s.runner.inputs.path("scene.png"), f"{XSS}\na red star"), "run")
    return [no_live_html(res)]


def case_server_path(s: Session, rng):
    res = s.call("server_path", "/inspect_text",
                 text_kwargs(custom_model=rng.choice(PATHS_PROBED)), "run")
    return [expect(res, ("rejected",))]


def case_slider_text(s: Session, rng):
    res = s.call("slider_text", "/inspect_text", text_kwargs(temperature="abc", layer="x"), "run")
    return [expect(res, ("rejected",))]


def case_too_few_args(s: Session, rng):
    t0 = time.perf_counter()
    try:
        event, payload = raw_call(s.url, "/inspect_text", ["minilm"], s.runner.timeout)
    except Exception as e:  # noqa: BLE001
        outcome, message = classify_exception(e)
    else:
        if event == "complete":
            try:
                values = json.loads(payload)
            except ValueError:
                values = []
            types, index = s.outputs.get("/inspect_text", ([], None))
            outcome, message = classify_message(values, index)
        else:
            try:
                message = json.loads(payload)
            except ValueError:
                message = payload
            if isinstance(message, dict):              # gradio: {"error": "..."} or {"error": null}
                message = message.get("error")
            message = "" if message is None else str(message)
            outcome = "rejected" if clear_message(message) else "errored"
    res = Result("too_few_args", "/inspect_text", "run", outcome, time.perf_counter() - t0,
                 message or f"{event}: {payload}"[:300], s.index, t0 - s.runner.t0)
    return [expect(res, ("rejected",))]


def case_flood(s: Session, rng):
    """One client asks for three model events at once: the server keeps only its share."""
    jobs = [s.submit("/inspect_text", text_kwargs()) for _ in range(3)]
    out = [s.finish("flood", "/inspect_text", "run", j) for j in jobs]
    for r in out:
        expect(r, ("ok", "rejected"))
    if not any(r.outcome == "rejected" for r in out):
        out[-1].problems.append("three model events at once from one session: none was refused")
    return out


NORMAL: dict[str, Callable] = {
    "text_short": case_text_short, "text_long": case_text_long, "redraw": case_redraw,
    "bertviz": case_bertviz, "attribute": case_attribute, "compare_all": case_compare_all,
    "image_scene": case_image_scene, "image_large": image_of_side(3000, "image_large"),
    "image_huge": image_of_side(6000, "image_huge"), "explain_methods": case_explain_methods}
ABUSE: dict[str, Callable] = {
    "corrupt_png": abuse_file("corrupt_png", "corrupt.png", ("image",)),
    "text_png": abuse_file("text_png", "text.png", ("image",)),
    "bomb_png": abuse_file("bomb_png", "bomb.png", ("megapixel", "pixels", "too large", "limit")),
    "labels_500": case_labels_500, "text_30k": case_text_30k, "xss_text": case_xss_text,
    "xss_attr": case_xss_attr, "xss_clip": case_xss_clip, "server_path": case_server_path,
    "slider_text": case_slider_text, "too_few_args": case_too_few_args, "flood": case_flood}
CASES = NORMAL | ABUSE
NEEDS = {"redraw": "text", "bertviz": "text", "explain_methods": "image"}   # a state to draw from
SETS = {"text_short": "text", "text_long": "text", "xss_text": "text", "image_scene": "image",
        "image_large": "image", "image_huge": "image", "xss_clip": "image"}

# Relative frequencies of the cases in a plan (each abuse case also appears at least once).
MIX = {"text_short": 14, "text_long": 6, "redraw": 12, "bertviz": 3, "attribute": 8,
       "compare_all": 3, "image_scene": 10, "image_large": 5, "explain_methods": 1,
       **{name: 1 for name in ABUSE}}
# The soak: large uploads take a third of the requests.
SOAK_MIX = {"text_short": 10, "text_long": 5, "redraw": 8, "attribute": 6, "compare_all": 2,
            "image_scene": 8, "image_large": 10, "image_huge": 20, "explain_methods": 1,
            **{name: 1 for name in ABUSE}}
# One ordinary request of each kind (every attribution method once); no large image, so the
# RSS after it is what ordinary use needs.
# What every client asks last, in its own session, once all plans are done. gradio keeps each
# session's last results (gr.State) until an hour after its client leaves, and a 374-token text
# keeps 38 MB of attention maps there (MiniLM): the RSS at the end should show what large
# requests leave behind, not which client happened to inspect a long text last. The RSS
# before these ("after_run") shows the sessions' share.
CLOSING = ("text_short", "image_scene")
WARM_UP = ("text_short", "text_long", "redraw", "bertviz", *(f"attribute:{m}" for m in ATTR_METHODS),
           "compare_all", "image_scene", "explain_methods")


def make_plan(clients: int, per_client: int, seed: int, mix: dict[str, int] = MIX,
              must: tuple[str, ...] = tuple(ABUSE)) -> list[list[str]]:
    """Each client's list of case names: it starts with a short text inspect; every name in
    `must` appears at least once overall; the rest are drawn from `mix`; a case that draws
    from a state (redraw, every image method) comes after one that makes it."""
    rng = random.Random(seed)
    total = clients * per_client
    rest = max(0, total - clients)
    pool = list(must)[:rest]
    names, weights = zip(*mix.items())
    pool += rng.choices(names, weights, k=rest - len(pool))
    rng.shuffle(pool)
    plans = [["text_short"] for _ in range(clients)]
    for i, name in enumerate(pool):
        plans[i % clients].append(name)
    for plan in plans:
        have = set()
        for i, name in enumerate(plan):
            if NEEDS.get(name) and NEEDS[name] not in have:
                plan[i] = "image_scene" if NEEDS[name] == "image" else "text_short"
            have.add(SETS.get(plan[i], ""))
    return [p[:per_client] for p in plans]
