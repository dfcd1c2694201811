"""Keep and share what a tab shows: a link that reopens the same view, and downloads of the
numbers (JSON) and of an offline report (HTML).

Links. Each tab declares its link as data: `LinkField`s (query key, component name, kind and
bounds). As the user works, a few lines of browser JS write the tab's fields into the page
URL (`history.replaceState`; no server round trip). On load, `on_open_link` reads the query,
checks every value (known model, number in range, text within the app's limit, a custom model
only where the host allows it), fills the tab, selects it and presses its run button, so the
view is drawn by the same path as a click. Anything refused is named in the tab's message
line; the rest of the link still opens. An uploaded image is never put in a link (only an
example image, by name): the tab says so and offers the report instead.

Exports. "Save numbers" and "Save report" write the tab's current result with the library's
own `save_result` / `report` into a temporary folder (files older than an hour are removed)
and hand it to a `gr.File`. A result too large for JSON on a shared server is refused with
what to do instead.
"""
from __future__ import annotations

import copy
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import numpy as np

from .. import api
from ..report import report
from ..types import InputError
from .context import AppContext
from .events import MESSAGE, bind

EXPORT_DIR = Path(tempfile.gettempdir()) / "mminspect-exports"
EXPORT_MAX_AGE_S = 3600
MAX_EXPORT_NUMBERS = 2_000_000          # ~50 MB of JSON; a 128-token text view is 1.2 M
MAX_LINK_CHARS = 4000                   # browsers and proxies cut longer URLs


@dataclass(frozen=True)
class TabLink:
    """A tab's link: its id (the `tab` query value and the app's Tab id), which models it
    lists ("text" / "image"), its fields, and the elem_id of the button that draws the view."""
    tab: str
    modality: str
    fields: tuple
    run_button: str
    # more components a link can fill, through `on_open(ctx, values) -> dict` (a tab-level
    # function, e.g. an example image picked by name must load the image as well)
    extra_outputs: tuple = ()
    on_open: object = None


@dataclass(frozen=True)
class LinkField:
    """One value of a tab's link. kind: "text" | "int" | "float" | "bool" | "choice" |
    "model" | "subtab" (a gr.Tabs, written by its tabs' select events, not by a value).
    low/high: bounds for numbers; choices: allowed values for "choice" / "subtab";
    also: components that take the same value (e.g. the state naming the open panel)."""
    key: str
    name: str
    kind: str = "text"
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    also: tuple[str, ...] = ()
    default: object = None              # left out of the URL while the value equals it
    # a slider whose range the run sets (layer, head): its maximum when the page is built.
    # A link's larger value widens the range to take it (else the slider refuses it and the
    # run button answers with an error); the run then says where it lies beyond the model.
    slider_max: float | None = None


# ---- links: browser side --------------------------------------------------------------------

# While the page fills in its first views, the values set are the app's defaults: the URL
# writers of those tabs leave the address bar alone (window.mmQuiet: the tabs being filled),
# so a reload is not a link. Only those tabs: a visitor working on another tab meanwhile (a
# link to Attributions, say) still has each change written. The 1.5 s after the fill covers
# the change events gradio fires for the values it has just set.
QUIET_TABS = ("text", "attention")        # the tabs links.FIRST_VIEWS fills on page load
QUIET_JS = "() => { window.mmQuiet = %s; return []; }" % json.dumps(list(QUIET_TABS))
QUIET_END_JS = "() => { setTimeout(() => { window.mmQuiet = null; }, 1500); }"


def url_writer_js(tab: str, fields: list[LinkField], result: str = "vals") -> str:
    """JS for an event with the tab's value fields as inputs: write them into the page URL
    (other keys of the same tab, such as its open sub-tab, are kept). result: what the
    function returns ("vals" for a plain change, "location.href" for Copy link)."""
    keys = json.dumps([f.key for f in fields if f.kind != "subtab"])
    defaults = json.dumps([None if f.default is None else str(f.default)
                           for f in fields if f.kind != "subtab"])
    return f"""(...vals) => {{
  const keys = {keys}, defaults = {defaults};
  if ((window.mmQuiet || []).includes({json.dumps(tab)}) && {json.dumps(result)} !== 'location.href') return vals;
  const old = new URLSearchParams(location.search);
  const p = old.get('tab') === {json.dumps(tab)} ? old : new URLSearchParams();
  p.set('tab', {json.dumps(tab)});
  keys.forEach((k, i) => {{
    const v = vals[i];
    if (v === null || v === undefined || v === '' || typeof v === 'object'
        || (defaults[i] !== null && (String(v) === defaults[i]
            || (typeof v === 'number' && v === Number(defaults[i]))))) p.delete(k);
    else p.set(k, String(v));
  }});
  let q = p.toString();
  if (q.length > {MAX_LINK_CHARS}) {{ p.delete('text'); p.delete('compare'); q = p.toString(); }}
  history.replaceState(null, '', location.pathname + '?' + q);
  if ({json.dumps(result)} === 'location.href') {{
    try {{ navigator.clipboard.writeText(location.href); }} catch (e) {{}}
    return location.href;
  }}
  return vals;
}}"""


def subtab_writer_js(tab: str, key: str, value: str, default: str | None = None) -> str:
    """JS for a sub-tab's select event: remember it in the URL. The default sub-tab (the one a
    page opens on) is not a choice the visitor made: it starts no link of its own (gradio
    selects it once as the page renders)."""
    return f"""() => {{
  if ((window.mmQuiet || []).includes({json.dumps(tab)})) return;
  const old = new URLSearchParams(location.search);
  const mine = old.get('tab') === {json.dumps(tab)};
  if ({json.dumps(value)} === {json.dumps(default)} && !mine) return;
  const p = mine ? old : new URLSearchParams([['tab', {json.dumps(tab)}]]);
  if ({json.dumps(value)} === {json.dumps(default)}) p.delete({json.dumps(key)});
  else p.set({json.dumps(key)}, {json.dumps(value)});
  history.replaceState(null, '', location.pathname + '?' + p.toString());
}}"""


def subtab_follower_js(tab: str, key: str, labels: dict[str, str], default: str | None) -> str:
    """JS for a gr.Tabs' change event: the app itself switched the sub-tab (e.g. "Compare all
    methods" opens its panel), so no select event fired; read the selected one from the page
    (labels: {tab label: tab id}) and remember it as a click would."""
    write = subtab_writer_js(tab, key, "__V__", default).replace('"__V__"', "value")
    return f"""() => {{ setTimeout(() => {{
  const labels = {json.dumps(labels)}, english = window.mmEnglish || String;  // a tab's name shown in any language
  const on = [...document.querySelectorAll('[role=tab][aria-selected=true]')]
    .find(b => b.offsetParent !== null && labels[english(b.innerText.trim())] !== undefined);
  if (!on) return;
  const value = labels[english(on.innerText.trim())];
  ({write})();
}}, 0); }}"""


# ---- links: server side ---------------------------------------------------------------------

def _model_value(ctx: AppContext, modality: str, value: str) -> tuple[dict, str | None]:
    listed = {m["name"] for m in ctx.models if modality in ("any", m["modality"])}
    if value in listed:
        return {"model": value, "custom": ""}, None
    if ctx.allow_custom_models:
        return {"custom": value}, None
    return {}, (f"the link names a model this server does not offer ({value[:60]!r}); "
                "the tab's default model is kept")


def check_field(ctx: AppContext, f: LinkField, raw: str, modality: str) -> tuple[dict, str | None]:
    """{component name: value} for one query value, or a reason it was refused."""
    if f.kind == "model":
        return _model_value(ctx, modality, raw)
    if f.kind in ("int", "float"):
        try:
            x = int(raw) if f.kind == "int" else float(raw)
        except ValueError:
            return {}, f"“{f.key}” must be a number, the link has {raw[:20]!r}"
        if not np.isfinite(x) or (f.low is not None and x < f.low) or (f.high is not None and x > f.high):
            return {}, f"“{f.key}” = {raw[:20]} is outside {f.low:g}..{f.high:g}"
        if f.slider_max is not None and x > f.slider_max:
            return {f.name: gr.update(value=x, maximum=x)}, None
        return {f.name: x}, None
    if f.kind in ("choice", "subtab"):
        if raw not in f.choices:
            return {}, f"“{f.key}” = {raw[:30]!r} is not one of {', '.join(f.choices)}"
        value = gr.Tabs(selected=raw) if f.kind == "subtab" else raw
        return {f.name: value, **{n: raw for n in f.also}}, None
    if f.kind == "bool":
        if raw not in ("true", "false"):
            return {}, f"“{f.key}” must be true or false, the link has {raw[:20]!r}"
        return {f.name: raw == "true"}, None
    if len(raw) > ctx.max_chars:
        return {}, f"“{f.key}” is longer than {ctx.max_chars} characters"
    return {f.name: raw}, None


def read_link(ctx: AppContext, query: dict, link: TabLink) -> tuple[dict, list[str]]:
    """({component name: value}, [what was refused]) for one tab's fields."""
    values, refused = {}, []
    for f in link.fields:
        if f.key in query:
            got, why = check_field(ctx, f, str(query[f.key]), link.modality)
            values.update(got)
            if why and why not in refused:
                refused.append(why)
    return values, refused


def fresh_copy(cached: dict) -> dict:
    """A page's own copy of a cached first view: gradio consumes the gr.update dicts it is
    handed (a second page got an empty update: its sliders stayed at 0), so every dict is
    copied; the state's large arrays are shared, read-only."""
    out = {k: copy.deepcopy(v) if isinstance(v, dict) and k != "state" else v
           for k, v in cached.items()}
    out["state"] = dict(cached["state"])     # each page its own state dict
    return out


# ---- exports --------------------------------------------------------------------------------

def _fresh_export_path(suffix: str) -> Path:
    EXPORT_DIR.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for old in EXPORT_DIR.iterdir():                 # the hour-old files of everybody
        try:
            if now - old.stat().st_mtime > EXPORT_MAX_AGE_S:
                old.unlink()
        except OSError:
            pass
    handle = tempfile.NamedTemporaryFile(dir=EXPORT_DIR, prefix="mminspect-", suffix=suffix,
                                         delete=False)
    handle.close()
    return Path(handle.name)


def _numbers_in(result) -> int:
    total = 0
    for value in vars(result).values() if hasattr(result, "__dict__") else ():
        if isinstance(value, np.ndarray):
            total += value.size
        elif hasattr(value, "__dataclass_fields__"):
            total += _numbers_in(value)
        elif isinstance(value, (list, tuple)):
            total += sum(_numbers_in(v) for v in value if hasattr(v, "__dataclass_fields__"))
    return total


def _first_result(results):
    result = next((r for r in results if r is not None and not isinstance(r, dict)), None)
    if result is None:
        for r in results:                   # a tab state such as {"view": ...} or {"trace": ...}
            if isinstance(r, dict):
                found = next((r[k] for k in ("view", "trace") if r.get(k) is not None), None)
                if found is not None:
                    return found
        raise InputError("Nothing to save yet: run the tab first.")
    return result


def on_save_json(ctx: AppContext, *results) -> dict:
    result = _first_result(results)
    n = _numbers_in(result)
    if n > MAX_EXPORT_NUMBERS:
        raise InputError(f"This result holds {n:,} numbers, more than this server writes as "
                         f"JSON ({MAX_EXPORT_NUMBERS:,}): save the report instead, or use a "
                         "shorter input, or the library (mi.save_result) on your own machine.")
    path = _fresh_export_path(".json")
    api.save_result(result, path)
    return {"export_file": gr.update(value=str(path), visible=True)}


def on_save_report(ctx: AppContext, *results) -> dict:
    path = _fresh_export_path(".html")
    report(_first_result(results), path)
    return {"export_file": gr.update(value=str(path), visible=True)}


def build_exports(c: dict) -> tuple[gr.Button, gr.Button]:
    """The buttons and the file they fill, in the current layout."""
    with gr.Row():
        save_json = gr.Button("Save numbers (JSON)", size="sm")
        save_report = gr.Button("Save report (HTML, opens offline)", size="sm")
        c["copy_link"] = gr.Button("Copy link to this view", size="sm")
    c["link_box"] = gr.Textbox(label="Link to this view", interactive=False, buttons=["copy"],
                               max_lines=2, placeholder="Press “Copy link to this view”: the "
                               "link appears here (and on your clipboard). It opens this tab "
                               "with these inputs and draws the view again. Uploaded images are "
                               "never put in a link: share them with “Save report”.")
    c["export_file"] = gr.File(label="Download", visible=False, interactive=False)
    return save_json, save_report


def wire_exports(ctx: AppContext, c: dict, save_json, save_report, states: list[str]) -> None:
    quick = {"concurrency_limit": 2, "api_visibility": "private"}
    outs = ["export_file", MESSAGE]
    save_json.click(bind(on_save_json, ctx, outs), [c[s] for s in states], [c[o] for o in outs],
                    **quick)
    save_report.click(bind(on_save_report, ctx, outs), [c[s] for s in states],
                      [c[o] for o in outs], **quick)


def wire_url(c: dict, link: TabLink, subtabs: dict | None = None) -> None:
    """Write the tab's link fields into the URL whenever one of them changes, and on Copy
    link. subtabs: {key: {tab id: gr.Tab}} for each "subtab" field (their select events
    write the key)."""
    fields = [f for f in link.fields if f.kind != "subtab"]
    inputs = [c[f.name] for f in fields]
    js = url_writer_js(link.tab, fields)
    for comp in inputs:
        comp.change(None, inputs, None, js=js, queue=False)
    if "copy_link" in c:
        c["copy_link"].click(None, inputs, c["link_box"],
                             js=url_writer_js(link.tab, fields, "location.href"), queue=False)
    for key, tabs in (subtabs or {}).items():
        first = next(iter(tabs), None)                    # the sub-tab a page opens on
        for value, tab in tabs.items():
            tab.select(None, None, None, js=subtab_writer_js(link.tab, key, value, first),
                       queue=False)
