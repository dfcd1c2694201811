"""The Dataset tab: explain every row of a small table at once and look at the whole set:
accuracy per slice, each method's faithfulness with an interval, which heads matter for the
task (layer x head), and whether the methods agree.

The file arrives as bytes (gradio's upload, through the app's upload quota): the page never
names a path on the server. Rows are capped by MMINSPECT_MAX_ROWS and the run by the
request's time budget (refused early, with how many rows fit, when it would not finish)."""
from __future__ import annotations

import html
import threading
import time
from typing import Callable
from urllib.parse import urlencode

import gradio as gr
import numpy as np
import pandas as pd

from .. import api
from ..api.dataset_io import plain, to_csv
from ..figures import dataset as figs
from ..report.dataset import dataset_report
from ..types import Cancelled, InputError
from . import dataset_images as images
from .context import AppContext
from .events import MESSAGE, Components, bind, client_left, on_any, picker, reporter
from .model_picker import resolve_model
from .share import _fresh_export_path
from .text_targets import TARGETS

SAMPLE_NAME = "Sample: 12 short sentences (animals, sports, food)"
PAIRS_NAME = "Minimal pairs: 240 labelled sentences (negation, number, word order, roles)"
UPLOAD_NAME = "My file (CSV or JSON lines, columns text and label)"
SAMPLE = pd.DataFrame({
    "text": ["The cat slept on the warm windowsill.", "A dog chased the ball across the park.",
             "The horse galloped over the hill.", "Two parrots were talking in the cage.",
             "The striker scored in the last minute.", "Our team won the cup final.",
             "She ran the marathon in under three hours.", "The referee showed a red card.",
             "The soup needs more salt and pepper.", "We baked fresh bread this morning.",
             "This pizza has too much cheese.", "The salmon was grilled with lemon."],
    "label": ["animals"] * 4 + ["sports"] * 4 + ["food"] * 4})
INTRO = ("**Dataset mode** explains every row of a table with the same methods as the "
         "Attributions tab, then summarises the set: how often the model is right on each "
         "slice, how faithful each method is *on this data* (mean with a 95 % bootstrap "
         "interval), which heads matter for the task, and whether the methods agree. With a "
         "`label` column, a sentence encoder picks one of the labels (zero-shot) and each row "
         "explains that choice; with `text2`, the similarity of the pair. With an image–text "
         "model, a scene set (or a zip of images and images.csv) gets one map per method and "
         "scene, with pointing and energy-in-mask on the named object's mask, deletion / "
         "insertion over patches and the image tower's head scan; each bundled scene opens "
         "in the Image–text tab.")
ROW_COLUMNS = ["row", "text", "label", "prediction", "correct", "score"]
ROWS_LABEL = ("Every row (sortable; skipped rows say why; open a row in the Text or "
              "Attributions tab)")


def _data(source, upload):
    if source == SAMPLE_NAME:
        return SAMPLE
    if source == PAIRS_NAME:
        return api.load_dataset_sample("pairs")
    if not upload:
        raise InputError("No file yet: upload a CSV or JSON-lines file with a 'text' column "
                         "(and 'label'), or choose the sample.")
    return bytes(upload)


def row_links(row, spec: dict) -> str:
    """Links that open this row in the Text and Attributions tabs, in a new browser tab,
    through the app's own links (ui/links.py): the same model, text, labels or second text,
    and the label the model predicted, so the view drawn there is the row's."""
    common = {"model": spec["model"], "text": row["text"]}
    if spec["target"] == "zero_shot":
        common["labels"] = ", ".join(spec["labels"])
    if spec["target"] == "similarity":
        common["compare"] = row["text2"]
    attr = {"tab": "attributions", **common, "method": spec["methods"][0],
            "target": spec["target"] if spec["target"] in TARGETS else "prediction"}
    if spec["target"] == "zero_shot" and row.get("prediction"):
        attr["label"] = row["prediction"]
    text = {"tab": "text", **common}
    return " · ".join(f'<a href="?{html.escape(urlencode(q))}" target="_blank" '
                      f'rel="noopener">{name}</a>' for name, q in (("Text", text),
                                                                   ("Attributions", attr)))


def _rows_view(table: pd.DataFrame, methods: list[str]) -> dict:
    """One line per row: what it predicted and each method's deletion area, or why it was
    skipped, and links that open the row in the Text and Attributions tabs (the full
    table, lists included, is in the downloads)."""
    cols = [c for c in ROW_COLUMNS if c in table] + [f"{m}.deletion_area" for m in methods]
    view = table[cols].copy().round(4)
    view["notes"] = [n if not ok else "" for n, ok in zip(table["notes"], table["ok"])]
    spec = table.attrs.get("spec")
    view.insert(1, "open", [row_links(r, spec) if r["ok"] else "" for _, r in table.iterrows()]
                if spec else "")                   # beside the row number: no scrolling to it
    types = ["html" if c == "open" else "number" if pd.api.types.is_numeric_dtype(view[c])
             and not pd.api.types.is_bool_dtype(view[c]) else "str" for c in view.columns]
    return gr.update(value=view, datatype=types)        # the links drawn as links


def _summary(s, table: pd.DataFrame, seconds: float) -> str:
    acc = s.accuracy[s.accuracy["slice"] == "all"]
    right = (f" Accuracy: **{acc['accuracy'].iloc[0]:.0%}** ({acc['correct'].iloc[0]} of "
             f"{acc['n'].iloc[0]})." if len(acc) else "")
    skipped = s.n_rows - s.n_ok
    why = (" Skipped rows say why in the Rows table." if skipped else "")
    return (f"**{s.n_ok}** of {s.n_rows} rows explained in {seconds:.1f} s"
            f"{f', {skipped} skipped' if skipped else ''}.{right}{why} Target: "
            f"{table.attrs['spec']['target'].replace('_', '-')}.")


# Stop is a flag the run reads between batches, not gradio's `cancels=`: gradio marks every
# output of a cancelled event with a red "Error" pill (3 pills after Stop, measured), and the
# page would then read as broken. {session: when Stop was pressed (monotonic s)}
_STOP_AT: dict[str, float] = {}
_STOP_LOCK = threading.Lock()
STOP_KEEP_S = 3600.0                      # a session's Stop is forgotten after an hour


def on_stop(request: gr.Request) -> None:
    """Stop the run of this page (its session): it ends after the batch it is in."""
    now = time.monotonic()
    with _STOP_LOCK:
        for session, at in list(_STOP_AT.items()):
            if now - at > STOP_KEEP_S:
                del _STOP_AT[session]
        _STOP_AT[getattr(request, "session_hash", None) or ""] = now


def stop_check(session: str | None) -> Callable[[], bool]:
    """should_stop for a run that starts now: its page pressed Stop since, or it left."""
    started = time.monotonic()
    return lambda: client_left() or _STOP_AT.get(session or "", -1.0) >= started


def on_run(ctx: AppContext, model_name, source, upload, methods, image_methods, scan,
           request: gr.Request = None, progress=gr.Progress()) -> dict:
    """Explain every row, keep the table, draw the aggregates."""
    stopped = stop_check(getattr(request, "session_hash", None))
    report = reporter(progress)
    try:
        if images.is_image_source(source):          # scenes or a zip: ui/dataset_images.py
            images.image_data(source, upload)       # a missing zip is said before any loading
            return images.run_image_set(resolve_model(ctx, model_name, None, report), source,
                                        upload, image_methods, scan, report, stopped)
        return _run_texts(ctx, model_name, source, upload, methods, scan, report, stopped)
    except Cancelled:
        if client_left():
            raise                                  # nobody to tell: the page is gone
        raise InputError("Stopped. The results on the page are those of the last run that "
                         "finished; press Run to start again.") from None


def _run_texts(ctx: AppContext, model_name, source, upload, methods, scan, report,
               stopped) -> dict:
    data = _data(source, upload)
    if not methods:
        raise InputError("Tick at least one method.")
    model = resolve_model(ctx, model_name, None, report)
    if "image" in model.modalities:
        raise InputError(f"{model.name} is an image–text model: choose a scene set or a zip "
                         "of images, or a text model for a table of texts.")
    with api.exclusive(model):
        table = api.explain_dataset(model, data, methods=list(methods), heads=bool(scan),
                                    batch_size=4, progress=report, should_stop=stopped)
    s = api.summarize_dataset(table)
    labels = {m["name"]: m["label"] for m in api.list_attribution_methods()}
    faith = s.faithfulness.assign(method=[labels.get(m, m) for m in s.faithfulness["method"]])
    return {"state": table, "summary": _summary(s, table, float(table["seconds"].sum())),
            "accuracy": s.accuracy.round(4), "faith_plot": figs.faithfulness_bars(s.faithfulness, labels),
            "faith_table": faith.round(4), "heads": figs.head_heatmap(s.heads_mean, s.heads_std, s.n_ok),
            "agreement": s.agreement.rename(index=labels, columns=labels).round(3).reset_index(
                names="method"),
            "rows": _rows_view(table, list(methods)), "export_file": gr.update(visible=False),
            "contains": "", "show": SHOW[0]}


SHOW = ("all rows", "correct", "incorrect", "skipped")


def filtered(table: pd.DataFrame, contains: str, show: str) -> pd.DataFrame:
    """The rows whose text (an image set: prompt) contains `contains` (any case) and that
    are `show`."""
    keep = pd.Series(True, index=table.index)
    if contains and contains.strip():
        keep &= table["text" if "text" in table else "prompt"].fillna("").str.contains(contains.strip(), case=False, regex=False)
    ok = table["ok"].astype(bool)
    right = table["correct"].map(lambda v: v is True or v == 1)
    wrong = table["correct"].map(lambda v: v is False or v == 0)
    keep &= {"all rows": keep, "correct": ok & right, "incorrect": ok & wrong,
             "skipped": ~ok}.get(show, keep)
    return table[keep]


def on_filter(ctx: AppContext, state, contains, show) -> dict:
    """Redraw the Rows table for the filter (no model run)."""
    if state is None:
        return {}
    if (state.attrs.get("spec") or {}).get("kind") == "images":
        return {"rows": images.image_rows_view(filtered(state, contains, show))}
    methods = [c[: -len(".scores")] for c in state.columns if c.endswith(".scores")]
    return {"rows": _rows_view(filtered(state, contains, show), methods)}


def _table(state) -> pd.DataFrame:
    if state is None or not len(state):
        raise InputError("Nothing to download yet: press Run first.")
    return state


def on_export_csv(ctx: AppContext, state) -> dict:
    path = _fresh_export_path(".csv")
    to_csv(_table(state), path)
    return {"export_file": gr.update(value=str(path), visible=True)}


def on_export_parquet(ctx: AppContext, state) -> dict:
    table = _table(state).copy()
    for col in table.columns:                    # lists as lists (Arrow's arrays of arrays)
        if table[col].map(lambda v: isinstance(v, np.ndarray)).any():
            table[col] = table[col].map(lambda v: plain(v) if isinstance(v, np.ndarray) else v)
    path = _fresh_export_path(".parquet")
    table.attrs = {}
    table.to_parquet(path, index=False)
    return {"export_file": gr.update(value=str(path), visible=True)}


def on_export_report(ctx: AppContext, state) -> dict:
    """The aggregates as one offline HTML page (report/dataset.py)."""
    path = _fresh_export_path(".html")
    dataset_report(_table(state), path)
    return {"export_file": gr.update(value=str(path), visible=True)}


def on_source(ctx: AppContext, source, model) -> dict:
    """The upload box for a file, the methods of the data's kind, and a model that reads it
    (a bundled scene set: the model it was drawn for)."""
    pictures = images.is_image_source(source)
    out = {"upload": gr.update(visible=source in (UPLOAD_NAME, images.ZIP_NAME),
                               label=images.ZIP_NAME if pictures else UPLOAD_NAME),
           "methods": gr.update(visible=not pictures),
           "image_methods": gr.update(visible=pictures)}
    reads = {m["name"]: m["modality"] for m in api.list_models()}
    if source in images.IMAGE_SOURCES:
        out["model"] = images.SET_MODELS[images.IMAGE_SOURCES[source]]
    elif pictures and reads.get(model) != "image":
        out["model"] = "miniclip2"
    elif not pictures and reads.get(model) == "image":
        out["model"] = "minilm"
    return out


RUN = ["state", "summary", "accuracy", "faith_plot", "faith_table", "heads", "agreement",
       "rows", "export_file", MESSAGE, "contains", "show"]


def build(ctx: AppContext) -> Components:
    c = Components()
    models = [m["name"] for m in api.list_models() if m["modality"] in ("text", "image")]
    methods = [(m["label"], m["name"]) for m in api.list_attribution_methods()]
    image_methods = [(m["label"], m["name"]) for m in api.list_image_methods()]
    gr.Markdown(INTRO)
    with gr.Row():
        with gr.Column(scale=2):
            c["model"] = gr.Dropdown(models, value="minilm", label="Model")
            c["source"] = gr.Radio([SAMPLE_NAME, PAIRS_NAME, UPLOAD_NAME, *images.IMAGE_SOURCES,
                                    images.ZIP_NAME], value=SAMPLE_NAME, label="Data")
            c["upload"] = gr.File(label=UPLOAD_NAME, file_types=[".csv", ".jsonl", ".json",
                                                                 ".zip"],
                                  type="binary", height=120, visible=False)
        with gr.Column(scale=3):
            c["methods"] = gr.CheckboxGroup(methods, value=["integrated_gradients", "saliency"],
                                            label="Attribution methods")
            c["image_methods"] = gr.CheckboxGroup(image_methods, value=images.DEFAULT_METHODS,
                                                  label="Image maps (pointing and energy "
                                                  "need a mask)", visible=False)
            c["scan"] = gr.Checkbox(True, label="Head importance (one scan of every head per row)")
            with gr.Row():
                c["run"] = gr.Button("Run on every row", variant="primary")
                c["stop"] = gr.Button("Stop", variant="stop")
            c[MESSAGE] = gr.Markdown(elem_classes="mm-message")
            c["summary"] = gr.Markdown()
    c["state"] = gr.State(None)
    with gr.Tab("Accuracy"):
        c["accuracy"] = gr.Dataframe(label="Accuracy per slice (label, length in words, slice)",
                                     interactive=False)
    with gr.Tab("Faithfulness"):
        c["faith_plot"] = gr.Plot(show_label=False)
        c["faith_table"] = gr.Dataframe(label="Mean and 95 % bootstrap interval per method",
                                        interactive=False)
    with gr.Tab("Heads"):
        c["heads"] = gr.Plot(show_label=False, elem_id="dataset-heads")
    with gr.Tab("Agreement"):
        c["agreement"] = gr.Dataframe(label="Mean rank correlation (Spearman) of two methods' "
                                            "word scores, rows of 3+ words", interactive=False)
    with gr.Tab("Rows"):
        with gr.Row():
            c["contains"] = gr.Textbox(label="Show rows whose text contains", max_lines=1,
                                       max_length=300)
            c["show"] = gr.Radio(list(SHOW), value=SHOW[0], label="Show")
        c["rows"] = gr.Dataframe(label=ROWS_LABEL,
                                 interactive=False, max_height=420)
    with gr.Row():
        c["csv"] = gr.Button("Download table (CSV)", size="sm")
        c["parquet"] = gr.Button("Download table (Parquet)", size="sm")
        c["report"] = gr.Button("Save report (HTML, opens offline)", size="sm")
    c["export_file"] = gr.File(label="Download", visible=False, interactive=False)
    wire(ctx, c)
    return c


def wire(ctx: AppContext, c: Components) -> None:
    comps = picker(c)
    quick = {"concurrency_limit": None, "show_progress": "hidden", "api_visibility": "private"}
    picked = ["upload", "methods", "image_methods", "model", MESSAGE]
    c["source"].change(bind(on_source, ctx, picked), comps(["source", "model"]), comps(picked),
                       **quick)
    c["run"].click(bind(on_run, ctx, RUN, release=True),
                   comps(["model", "source", "upload", "methods", "image_methods", "scan"]),
                   comps(RUN),
                         api_name="explain_dataset", concurrency_id="long", concurrency_limit=1)
    c["stop"].click(on_stop, None, None, queue=False, api_visibility="private")
    shown = ["rows", MESSAGE]
    on_any([c["contains"].change, c["show"].change], bind(on_filter, ctx, shown),
           comps(["state", "contains", "show"]), comps(shown), **quick)
    out = ["export_file", MESSAGE]
    c["csv"].click(bind(on_export_csv, ctx, out), c["state"], comps(out),
                   concurrency_limit=2, api_visibility="private")
    c["parquet"].click(bind(on_export_parquet, ctx, out), c["state"], comps(out),
                       concurrency_limit=2, api_visibility="private")
    c["report"].click(bind(on_export_report, ctx, out), c["state"], comps(out),
                      concurrency_limit=2, api_visibility="private")
