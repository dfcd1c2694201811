"""The Dataset tab's image sets: the bundled scene sets (exact masks) or an uploaded zip of
images and images.csv, explained with an image-text model; and the Image–text tab's side of a
row's link (a bundled set's row opens there by the set's name and row number).

A bundled set's row links to `?tab=image-text&model=…&set_scene=scenes:12&view=methods`: the
Image–text tab loads that scene, its exact mask and the set's labels as prompts (the labels
the run's zero-shot prediction used), and presses Inspect, so its probabilities and, with
"Run every method", its pointing and energy-in-mask are the table's. An uploaded zip's rows
get no link: an uploaded image is never put in a link."""
from __future__ import annotations

import html
from urllib.parse import urlencode

import gradio as gr
import numpy as np
import pandas as pd

from .. import api
from ..api.dataset_image_stats import image_summary
from ..api.dataset_links import SCENE_SETS as SET_MODELS, parse_scene, scene_example
from ..figures import clip as cfig
from ..figures import dataset as figs
from ..types import InputError
from .compare_clip import REFUSED
from .events import MESSAGE, message_markdown

IMAGE_SOURCES = {"Scenes: 40 mini-CLIP 2 scenes with exact masks (everyday things)": "scenes",
                 "Scenes: 40 mini-CLIP 1 scenes with exact masks (coloured shapes)":
                 "scenes_flat"}
ZIP_NAME = "My zip (images.csv naming the images; columns file, prompt, label, mask)"
ROW_COLUMNS = ["row", "file", "prompt", "label", "prediction", "correct", "score"]
PER_METHOD = ("pointing_hit", "energy_in_mask", "deletion_area")
DEFAULT_METHODS = ["relevance", "legrad"]


def is_image_source(source) -> bool:
    return source in IMAGE_SOURCES or source == ZIP_NAME


def image_data(source, upload):
    """A bundled set's folder (picked by name: the page never names a server path) or the
    zip's bytes."""
    if source in IMAGE_SOURCES:
        return api.load_dataset_sample(IMAGE_SOURCES[source])
    if not upload:
        raise InputError("No zip yet: upload a zip holding images.csv (columns file and "
                         "prompt, optionally label and mask) and the images it names, or "
                         "choose a bundled scene set.")
    return bytes(upload)


def scene_link(row, spec: dict) -> str:
    """The link that opens this row's scene in the Image–text tab (bundled sets only)."""
    q = {"tab": "image-text", "model": spec["model"],
         "set_scene": f"{spec['set']}:{int(row['row'])}", "view": "methods"}
    return (f'<a href="?{html.escape(urlencode(q))}" target="_blank" rel="noopener">'
            "Image–text</a>")


def image_rows_view(table: pd.DataFrame) -> dict:
    """One line per scene: the prediction, each method's hit, energy and deletion area, or
    why it was skipped; bundled scenes link to the Image–text tab."""
    spec = table.attrs.get("spec") or {}
    methods = spec.get("methods", [])
    cols = [c for c in ROW_COLUMNS if c in table] + [
        f"{m}.{k}" for m in methods for k in PER_METHOD if f"{m}.{k}" in table]
    view = table[cols].copy().round(4)
    view["notes"] = [n if not ok else "" for n, ok in zip(table["notes"], table["ok"])]
    view.insert(1, "open", [scene_link(r, spec) if r["ok"] and spec.get("set") else ""
                            for _, r in table.iterrows()])
    types = ["html" if c == "open" else "number" if pd.api.types.is_numeric_dtype(view[c])
             and not pd.api.types.is_bool_dtype(view[c]) else "str" for c in view.columns]
    return gr.update(value=view, datatype=types)


def _summary(s, table: pd.DataFrame) -> str:
    acc = s.accuracy[s.accuracy["slice"] == "all"]
    right = (f" Accuracy: **{acc['accuracy'].iloc[0]:.0%}** ({acc['correct'].iloc[0]} of "
             f"{acc['n'].iloc[0]})." if len(acc) else "")
    hits = s.figures[s.figures["metric"] == "pointing_hit"]
    names = {m["name"]: m["label"] for m in api.list_image_methods()}
    point = "".join(f" {html.escape(names.get(r['method'], r['method']))} points at the named object in "
                    f"**{r['mean']:.0%}** of {r['n']} scenes (chance {r['chance']:.0%})."
                    for _, r in hits.iterrows())
    skipped = s.n_rows - s.n_ok
    return (f"**{s.n_ok}** of {s.n_rows} scenes explained in {table['seconds'].sum():.1f} s"
            f"{f', {skipped} skipped (the Rows table says why)' if skipped else ''}."
            f"{right}{point}")


def run_image_set(model, source, upload, methods, scan: bool, report, stopped) -> dict:
    """Explain every scene; the outputs of the tab's run (dataset_tab.RUN)."""
    data = image_data(source, upload)
    if "image" not in model.modalities:
        raise InputError(f"{model.name} reads text only: image sets need an image–text model "
                         "(mini-CLIP 2, mini-CLIP).")
    if not methods:
        raise InputError("Tick at least one image method.")
    with api.exclusive(model):
        table = api.explain_dataset(model, data, methods=list(methods), heads=bool(scan),
                                    batch_size=4, progress=report, should_stop=stopped)
    table.attrs["spec"] = dict(table.attrs["spec"], set=IMAGE_SOURCES.get(source))
    s = image_summary(table)
    labels = {m["name"]: m["label"] for m in api.list_image_methods()}
    faith = s.figures.assign(method=[labels.get(m, m) for m in s.figures["method"]])
    return {"state": table, "summary": _summary(s, table), "accuracy": s.accuracy.round(4),
            "faith_plot": figs.faithfulness_bars(s.figures, labels),
            "faith_table": faith.round(4),
            "heads": figs.head_heatmap(s.heads_mean, s.heads_std, s.n_ok),
            "agreement": s.agreement.rename(index=labels, columns=labels).round(3).reset_index(
                names="method"),
            "rows": image_rows_view(table), "export_file": gr.update(visible=False),
            "contains": "", "show": "all rows"}


# ---- the Image–text tab's side ----------------------------------------------------------------

def open_set_scene(ctx, values: dict) -> dict:
    """A link's set_scene ("scenes:12"): that scene as image, its set's labels as prompts
    (unless the link has its own), the set's model (unless named), and the example title
    through which the tab finds the row's mask (api/dataset_links.py)."""
    raw = values.get("set_scene")
    if not raw:
        return {}
    try:
        ex = scene_example(*parse_scene(raw))
    except InputError as e:
        return {"set_scene": "", REFUSED: [str(e)],
                MESSAGE: message_markdown(f"Opened from a link, except: {e}")}
    out = {"image": ex["image"], "preview": cfig.upscale(np.asarray(ex["image"]), 256),
           "example": ex["title"], "upload": None, "set_scene": raw,
           "pick": None}                # the example list no longer names what is shown
    if "prompts" not in values:
        out["prompts"] = "\n".join(ex["prompts"])
    if "model" not in values and "custom" not in values and ex["model"] not in ctx.unavailable:
        out |= {"model": ex["model"], "custom": ""}
    return out


def on_example_changed(ctx, example, set_scene) -> dict:
    """The tab shows another image than the linked scene (an example picked, an upload): the
    link no longer names a scene."""
    if not set_scene:
        return {}
    try:
        shown = scene_example(*parse_scene(set_scene))["title"]
    except InputError:
        shown = None
    return {} if example == shown else {"set_scene": ""}
