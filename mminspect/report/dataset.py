"""The offline HTML report of a dataset run: the aggregates of mi.summarize_dataset (accuracy
per slice, faithfulness per method with its interval, head importance over the set, method
agreement) with their figures, the run's spec, and the call that makes it again; one file,
plotly.js inlined, like every other report (report/document.py).

    from mminspect.report.dataset import dataset_report
    dataset_report(table, "dataset.html")         # table: what explain_dataset returned
"""
from __future__ import annotations

import html
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
from plotly.offline import get_plotlyjs

from .. import api
from ..api.dataset_image_stats import image_summary
from ..figures import dataset as figs
from ..types import InputError
from ..types.version import VERSION
from .document import STYLE, _render
from .sections import Section, table as facts_table


def _frame(df: pd.DataFrame) -> str:
    """A table of numbers as HTML (text escaped by pandas)."""
    return df.round(4).to_html(index=False, border=0, classes="facts", na_rep="–")


def _code(spec: dict, n_rows: int) -> str:
    methods = ", ".join(repr(m) for m in spec["methods"])
    labels = f", labels={list(spec['labels'])!r}" if spec.get("labels") else ""
    return ("import math\nimport mminspect as mi\n"
            f"table = mi.explain_dataset({spec['model']!r}, data, target={spec['target']!r}, "
            f"methods=[{methods}]{labels}, budget_s=math.inf)   # data: your {n_rows} rows\n"
            "from mminspect.report.dataset import dataset_report\n"
            "dataset_report(table, 'dataset.html')")


def dataset_sections(table: pd.DataFrame, summary) -> list[Section]:
    names = {m["name"]: m["label"] for m in api.list_attribution_methods()}
    faith = summary.faithfulness.assign(
        method=[names.get(m, m) for m in summary.faithfulness["method"]])
    out = [Section("Accuracy per slice", "Each slice: rows, how many the model got right, "
                   "and the share (by label, length in words, and the data's own slices).",
                   html=_frame(summary.accuracy)),
           Section("Faithfulness per method", "Deletion and insertion areas (higher: the map "
                   "ranks words by what the model uses), mean over the rows with a 95 % "
                   "bootstrap interval.", figs.faithfulness_bars(summary.faithfulness, names),
                   html=_frame(faith))]
    if summary.heads_mean is not None:
        out.append(Section("Head importance over the set", "The mean change of the target "
                           "when one head alone is removed, layer x head (hover: the spread).",
                           figs.head_heatmap(summary.heads_mean, summary.heads_std,
                                             summary.n_ok)))
    agree = summary.agreement.rename(index=names, columns=names).round(3)
    out.append(Section("Method agreement", f"Mean rank correlation (Spearman) of two methods' "
                       f"word scores over {summary.n_agreement} rows of 3+ words.",
                       html=agree.reset_index(names="method").to_html(
                           index=False, border=0, classes="facts")))
    return out


def image_sections(summary) -> list[Section]:
    """An image set's aggregates (api/dataset_image_stats.image_summary)."""
    names = {m["name"]: m["label"] for m in api.list_image_methods()}
    figures = summary.figures.assign(method=[names.get(m, m) for m in summary.figures["method"]])
    out = [Section("Accuracy per slice", "The zero-shot prediction among the set's labels: "
                   "all scenes, and per label.", html=_frame(summary.accuracy)),
           Section("Pointing and faithfulness per method", "Pointing hit rate and "
                   "energy-in-mask on the named object's mask (beside chance), deletion and "
                   "insertion areas over patches: the mean over the scenes with a 95 % "
                   "bootstrap interval.", figs.faithfulness_bars(summary.figures, names),
                   html=_frame(figures))]
    if summary.heads_mean is not None:
        out.append(Section("Head importance over the set", "The mean change of the prompt's "
                           "probability when one image-tower head alone is removed, layer x "
                           "head (hover: the spread).",
                           figs.head_heatmap(summary.heads_mean, summary.heads_std,
                                             summary.n_ok)))
    agree = summary.agreement.rename(index=names, columns=names).round(3)
    out.append(Section("Method agreement", "Mean rank correlation (Spearman) of two methods' "
                       "patch maps over the scenes.", html=agree.reset_index(
                           names="method").to_html(index=False, border=0, classes="facts")))
    return out


def _image_code(spec: dict, n_rows: int) -> str:
    methods = ", ".join(repr(m) for m in spec["methods"])
    return ("import math\nimport mminspect as mi\n"
            f"table = mi.explain_dataset({spec['model']!r}, folder, methods=[{methods}], "
            f"budget_s=math.inf)   # folder: images.csv and your {n_rows} images\n"
            "from mminspect.report.dataset import dataset_report\n"
            "dataset_report(table, 'dataset.html')")


def dataset_report_html(table: pd.DataFrame, title: str | None = None) -> str:
    """The report of `table` (explain_dataset's result, its spec in table.attrs)."""
    spec = table.attrs.get("spec")
    if not spec or "ok" not in table:
        raise InputError("A dataset report needs the table explain_dataset returned (or "
                         "read_table of its file, with its spec): nothing to report yet.")
    images = spec.get("kind") == "images"
    summary = image_summary(table) if images else api.summarize_dataset(table)
    facts = [("model", spec["model"]),
             ("target", "each scene's prompt" if images else spec["target"].replace("_", "-")),
             ("methods", ", ".join(spec["methods"])),
             ("rows", f"{summary.n_ok} explained of {summary.n_rows}"),
             ("mminspect version", VERSION),
             ("made", datetime.now(timezone.utc).isoformat(timespec="seconds"))]
    heading = title or f"mminspect dataset report: {spec['model']}, {summary.n_rows} rows"
    sections = "".join(_render(s) for s in (image_sections(summary) if images
                                            else dataset_sections(table, summary)))
    code = (_image_code if images else _code)(spec, summary.n_rows)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f"<title>{html.escape(heading)}</title><style>{STYLE}</style>"
            f'<script type="text/javascript">{get_plotlyjs()}</script></head><body>'
            f"<h1>{html.escape(heading)}</h1>{facts_table(facts)}{sections}"
            f"<section><h2>Reproduce it</h2><pre><code>{html.escape(code)}"
            f"</code></pre></section></body></html>")


def dataset_report(table: pd.DataFrame, path, title: str | None = None) -> Path:
    """Write the dataset report to `path` (.html); returns the path."""
    path = Path(path)
    path.write_text(dataset_report_html(table, title), encoding="utf-8")
    return path
