"""Figures and tables in the page's language, at the same output boundary as the messages
(i18n_app.localize_output): figures/ and api/ stay English and know nothing of languages.

What is translated: the words a person reads around the data — a figure's title, subplot
titles and notes (annotations), axis titles, colour-bar and legend titles, trace names
(the legend), buttons and slider labels; hover tooltips and method names on ticks
(i18n_hover); a table's headers and its cells that are words of the app (a verdict,
"skipped: …"). What is not: the data itself — tick labels (tokens, layer names; a
method's name aside), a trace's x/y/text values — since a token such as "head" in a
sentence must stay the token. Only texts the language's file knows change (exactly or
through a template), so a token, a number or a model name passes through untouched.

A figure is never changed in place: a handler may keep it (a cached first view) and show it
again to a page in English.
"""
from __future__ import annotations

import html
import json
import re

import gradio as gr
from gradio.components.plot import PlotData

from .i18n import CURRENT, LOCALES, SOURCE, catalog
from .i18n_hover import localize_extras

_MARKUP = re.compile(r"(<style.*?</style>|<script.*?</script>|<[^>]+>)", re.S | re.I)
# Tags whose text the app wrote (a column's name, a link's "Text", a method's name in bold),
# even when one word.
_HEADING = re.compile(r"<(th|summary|label|h\d|a|b)\b", re.I)

# Layout parts whose name starts with one of these carry an axis-like title.
_AXES = ("xaxis", "yaxis", "coloraxis")
_TRACE_TEXTS = ("name", "hovertemplate", "colorbar.title.text", "marker.colorbar.title.text",
                "legendgrouptitle.text", "title.text")


def _get(obj, path: str):
    for part in path.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def figure_texts(fig: dict):
    """(path, text) of every shown word-text of a plotly figure given as its JSON dict, path
    as plotly's property path ('layout.xaxis2.title.text', 'data.3.name',
    'layout.annotations.0.text')."""
    layout = fig.get("layout") or {}
    for path in ("title.text", "legend.title.text"):
        yield from _text_at(layout, "layout", path)
    for name in layout:
        if name.startswith(_AXES):
            yield from _text_at(layout, "layout", f"{name}.title.text")
            yield from _text_at(layout, "layout", f"{name}.colorbar.title.text")
    for i, note in enumerate(layout.get("annotations") or ()):
        yield from _text_at(note, f"layout.annotations.{i}", "text")
    for i, menu in enumerate(layout.get("updatemenus") or ()):
        for j, button in enumerate(menu.get("buttons") or ()):
            yield from _text_at(button, f"layout.updatemenus.{i}.buttons.{j}", "label")
    for i, slider in enumerate(layout.get("sliders") or ()):
        yield from _text_at(slider, f"layout.sliders.{i}", "currentvalue.prefix")
        for j, step in enumerate(slider.get("steps") or ()):
            yield from _text_at(step, f"layout.sliders.{i}.steps.{j}", "label")
    for i, trace in enumerate(fig.get("data") or ()):
        for path in _TRACE_TEXTS:
            yield from _text_at(trace, f"data.{i}", path)


def _text_at(obj, prefix: str, path: str):
    value = _get(obj, path)
    if isinstance(value, str) and value.strip():
        yield f"{prefix}.{path}", value


def translate_text(text: str, locale: str, parts: bool = False) -> str:
    """`text` in `locale` when the language's file knows it, else as it is. A text of several
    lines (`<br>` in a plotly title) is translated line by line when it is not known whole;
    with `parts`, a line of " · "-joined parts part by part (a title: "Layer 2, head 3 ·
    special tokens hidden"; not a note, where "L0 · cat" holds a token)."""
    cat = catalog(locale)
    found = cat.lookup(text)
    if found is None and "<br>" in text:            # a note wrapped to the figure's width
        whole = cat.lookup(" ".join(line.strip() for line in text.split("<br>")))
        if whole is not None:
            return _wrap(whole, max(len(line) for line in text.split("<br>")))
    if found is None and ("<br>" in text or (parts and " · " in text)):
        lines = [_parts(cat, line, parts) for line in text.split("<br>")]
        joined = "<br>".join(lines)
        found = joined if joined != text else None
    return text if found is None else found


def _wrap(text: str, english_width: int) -> str:
    """A translated note wrapped again: a Chinese character is as wide as about two Latin
    letters, so a line holds half as many (at least 20) before a <br>."""
    width = max(20, english_width // 2)
    lines, line = [], ""
    for ch in text:
        line += ch
        if len(line) >= width and ch in "，。；：、）)" or len(line) >= width + 12:
            lines.append(line)
            line = ""
    return "<br>".join(lines + ([line] if line else []))


def _parts(cat, line: str, parts: bool) -> str:
    found = cat.lookup(line)
    if found is not None or not parts:
        return line if found is None else found
    return " · ".join(cat.lookup(p) or p for p in line.split(" · "))


def localize_markup(text: str, locale: str | None = None) -> str:
    """An HTML text the app composed (a word map with its legend, the methods table), its
    texts between tags translated one by one. A one-word text is translated only as a
    heading (<th>, <summary>): elsewhere it is a token of the user's sentence ("time")."""
    loc = locale or CURRENT.get()
    if loc == SOURCE or "<" not in text:
        return text
    out, heading = [], False
    for part in _MARKUP.split(text):
        if part.startswith("<"):
            heading = bool(_HEADING.match(part))
            out.append(part)
            continue
        bare = part.strip()
        if bare and (heading or " " in bare):
            icon, _, rest = html.unescape(bare).partition(" ")
            found = None
            if icon in ("⚠", "⚠️", "✓", "ℹ️") and rest:          # a badge: its words alone
                inner = catalog(loc).lookup(rest)
                found = None if inner is None else f"{icon} {inner}"
            found = found or catalog(loc).lookup(html.unescape(bare))
            if found is not None:
                part = part.replace(bare, html.escape(found, quote=False))
        out.append(part)
    return "".join(out)


def localize_figure(fig, locale: str | None = None):
    """Plotly figure `fig` with its word-texts in `locale` (default: the page's), as gradio's
    PlotData (the JSON the page receives); `fig` itself when nothing changes (English, or only
    technical names). `fig` is never changed: its JSON is edited, the JSON gr.Plot would have
    sent (plotly's property access cost 20x that: 90 ms for a head view)."""
    loc = locale or CURRENT.get()
    if loc == SOURCE or fig is None or not hasattr(fig, "to_json"):
        return fig
    data = json.loads(fig.to_json())
    changed = False
    for path, text in list(figure_texts(data)):
        if path.endswith("hovertemplate"):              # piece by piece, below
            continue
        tr = translate_text(text, loc, parts=path.endswith("title.text"))
        if tr == text:
            continue
        *parents, last = path.split(".")
        node = data
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        node[last], changed = tr, True
    changed = localize_extras(data, loc) or changed
    if not changed:
        return fig
    return PlotData(type="plotly", plot=json.dumps(data))


def localize_table(block: gr.Dataframe, value, locale: str | None = None):
    """A table's headers and word cells in `locale`: gradio's own reading of the value (a
    DataFrame, a Styler with its colours, a dict), then its texts translated; the value as
    it is in English or when nothing changes."""
    loc = locale or CURRENT.get()
    if loc == SOURCE or value is None or isinstance(value, str):
        return value
    data = block.postprocess(value)
    data = data.model_dump() if hasattr(data, "model_dump") else dict(data)
    headers = [translate_text(h, loc) if isinstance(h, str) else h for h in data.get("headers") or []]
    rows = [[_cell(c, loc) for c in row] for row in data.get("data") or []]
    meta = data.get("metadata")
    if meta and meta.get("display_value"):
        meta = dict(meta, display_value=[[translate_text(c, loc) if isinstance(c, str) else c
                                          for c in row] for row in meta["display_value"]])
    if headers == data.get("headers") and rows == data.get("data") and meta == data.get("metadata"):
        return value
    return {"headers": headers, "data": rows, "metadata": meta}


def _cell(value, locale: str):
    if not isinstance(value, str):
        return value
    found = translate_text(value, locale)
    return localize_markup(value, locale) if found == value and "<" in value else found


def localize_shown(block, value):
    """A figure's or a table's value (or a gr.update carrying one) in the page's language."""
    if CURRENT.get() == SOURCE:
        return value
    update = isinstance(value, dict) and value.get("__type__") == "update"
    inner = value.get("value") if update else value
    if isinstance(block, gr.Plot):
        new = localize_figure(inner)
    elif isinstance(block, gr.Dataframe):
        new = localize_table(block, inner)
    else:
        return value
    if new is inner:
        return value
    return dict(value, value=new) if update else new


def first_table_values(*values):
    """On page load: each table's first value sent back to a page in another language than
    English, through the output boundary, which puts its headers in that language (a table
    is built once for every page, and gradio translates no table value). English: untouched."""
    if CURRENT.get() == SOURCE:
        values = [gr.skip() for _ in values]
    return values[0] if len(values) == 1 else list(values)


def translate_first_headers(demo: gr.Blocks) -> None:
    """Wire first_table_values for the tables whose first headers have a translation and no
    other load event fills (two load events would race for the same table)."""
    filled = {b._id for fn in demo.fns.values() if any(e == "load" for _, e in fn.targets)
              for b in fn.outputs}
    tables = [b for b in demo.blocks.values() if isinstance(b, gr.Dataframe)
              and b._id not in filled and isinstance(b.value, dict)
              and any(localize_table(b, b.value, loc) is not b.value for loc in LOCALES
                      if loc != SOURCE)]
    if tables:
        with demo:
            demo.load(first_table_values, tables, tables, queue=False, show_progress="hidden",
                      api_visibility="private")
