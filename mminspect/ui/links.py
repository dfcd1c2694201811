"""Open the app from a link: the tab, its inputs and the view they draw (see share.py).

`on_open_link` runs once per page load. It fills the linked tab's inputs from the query
(every value checked), selects the tab, and names the tab whose run button the browser then
presses (`PRESS_RUN_JS`), so the view is drawn exactly as by a click. A link the app cannot
use (unknown tab, a model the host does not offer, a layer out of range) opens the app with
a message on that tab, never an error page, and loads nothing the host did not allow."""
from __future__ import annotations

from dataclasses import replace

import gradio as gr

from . import attention_tab, attribution_tab, clip_tab, lessons_tab, text_tab
from .compare_clip import REFUSED    # on_open's key for the values it refused
from .context import AppContext
from .events import MESSAGE, bind, message_markdown
from .share import (QUIET_END_JS, QUIET_JS, LinkField, TabLink, read_link, subtab_follower_js,
                    subtab_writer_js)

LINKS: dict[str, TabLink] = {t.LINK.tab: t.LINK for t in (text_tab, attribution_tab, clip_tab,
                                                          attention_tab, lessons_tab)}
_DECLARED = dict(LINKS)                # before add_subpanels extends a tab's link

# The browser presses the linked tab's run button (the same queue, progress and checks as a
# click); nothing happens when the link named no tab.
PRESS_RUN_JS = """(button) => {
  // the selected tab renders after this event: wait for its button (up to 2 min: on a
  // busy machine a heavy tab took over 20 s to render, and the link then drew nothing);
  // "text:<label>" names a button by its visible text (one without an elem_id)
  let tries = 0;
  const find = () => !button ? null : !button.startsWith('text:')
    ? document.getElementById(button)
    : [...document.querySelectorAll('button')].find(
        b => b.offsetParent !== null
          && (window.mmEnglish || String)(b.innerText.trim()) === button.slice(5));  // any language
  const press = () => {
    const b = find();
    if (b) b.click(); else if (button && tries++ < 1200) setTimeout(press, 100);
  };
  press();
  return button;
}"""


# A sub-panel drawn by another button than the tab's run button: its link presses that one
# (the method comparison is what "Compare all methods" draws, not "Attribute").
PANEL_RUNS = {("attributions", "compare"): "text:Compare all methods"}
# A link that sets this field presses this button instead (text B: the comparison).
LINK_RUNS = {("text", "b"): "cmp-run", ("attributions", "b"): "acmp-run",
             ("image-text", "scene"): "icmp-run", ("image-text", "model_b"): "icmp-run"}


def link_components(link: TabLink) -> list[str]:
    names = [n for f in link.fields for n in (f.name, *f.also)]
    names += ["custom"] if any(f.kind == "model" for f in link.fields) else []
    names += list(link.extra_outputs)
    return list(dict.fromkeys(names)) + [MESSAGE]


def outputs_of() -> list[str]:
    """Every output of the load event: each tab's linked components and message line
    ("tab:name"), the app's Tabs and the run button to press."""
    return [f"{t}:{n}" for t, link in LINKS.items() for n in link_components(link)] + [
        "tabs", "press"]


def on_open_link(ctx: AppContext, request: gr.Request) -> dict:
    query = dict(request.query_params) if request is not None else {}
    tab = query.get("tab")
    if not tab:
        return {}
    link = LINKS.get(tab)
    if link is None:
        first = next(iter(LINKS))
        gr.Warning(f"The link names no tab of this app ({tab[:30]!r}).")
        return {f"{first}:{MESSAGE}": message_markdown(
            f"The link names no tab of this app ({tab[:30]!r}); nothing was opened from it.")}
    values, refused = read_link(ctx, query, link)
    if link.on_open is not None:
        opened = link.on_open(ctx, values)
        refused += opened.pop(REFUSED, [])        # a value only the tab's opener can check
        values.update(opened)
    out = {f"{tab}:{name}": value for name, value in values.items()}
    out["tabs"] = gr.Tabs(selected=tab)
    if refused:
        text = ("Opened from a link, except: " + "; ".join(refused) + ". Check the inputs, "
                "then press the tab's button.")
        gr.Warning(text)
        out[f"{tab}:{MESSAGE}"] = message_markdown(text)
    else:                                 # a clean link draws its view; a doubtful one waits
        out["press"] = next((button for (t, key), button in LINK_RUNS.items()
                             if t == tab and query.get(key)),
                            PANEL_RUNS.get((tab, query.get("panel")), link.run_button))
    return out


def add_subpanels(comps: dict[str, dict]) -> None:
    """A tab whose link names no sub-panel but which has sub-tabs (`c["tabs"]`, e.g. the
    Attributions tab's Map / Top words / ...) gets a "panel" field: its sub-tabs write it into
    the URL when picked, and a link selects it again. The choices are the sub-tabs' own ids."""
    for tab, link in _DECLARED.items():          # as each tab declares it (every build alike)
        sub = comps.get(tab, {}).get("tabs")
        if sub is None or any(f.kind == "subtab" for f in link.fields):
            continue
        panels = {child.id: child for child in sub.children if getattr(child, "id", None)}
        LINKS[tab] = replace(link, fields=link.fields + (
            LinkField("panel", "tabs", "subtab", choices=tuple(panels)),))
        first = next(iter(panels), None)
        for value, child in panels.items():
            child.select(None, None, None, js=subtab_writer_js(tab, "panel", value, first),
                         queue=False)
        # a switch made by the app (Compare all methods opens its panel) fires no select
        sub.change(None, None, None, queue=False, js=subtab_follower_js(
            tab, "panel", {child.label: value for value, child in panels.items()}, first))


# ---- first views: what a visitor without a link sees ----------------------------------------
FIRST_VIEWS = {"text": text_tab, "attention": attention_tab}


def first_view_outputs() -> list[str]:
    return [f"text:{n}" for n in ("state", "label", "summary", "notes", "layer", "head", "grid")] + [
        f"attention:{n}" for n in ("state", "badge", "query", "layer", "head", "summary",
                                   "variant", "damage", "broken", "plot", "sentence", "question",
                                   "answer", "step")]


def on_first_views(ctx: AppContext, request: gr.Request) -> dict:
    """The Text tab shows its example already inspected and the attention tab its lesson's
    head, both computed once per server (text_tab.first_view, attention_tab.first_view) and
    handed to every page. A link draws its own tab instead (its values must not be raced)."""
    query = dict(request.query_params) if request is not None else {}
    linked = query.get("tab")
    # the tab a link draws is left to it (and a lesson's link sets up How attention works)
    skip = {linked} | ({"attention"} if linked == "lessons" else set())
    out = {}
    for tab, module in FIRST_VIEWS.items():
        if tab not in skip:
            out |= {f"{tab}:{name}": value for name, value in module.first_view(ctx).items()}
    return out


def wire_first_views(demo: gr.Blocks, ctx: AppContext, comps: dict[str, dict]) -> None:
    names = first_view_outputs()
    targets = [comps[tab][name] for tab, name in (n.split(":", 1) for n in names)]
    # QUIET_JS: the values it sets are the app's defaults, not the visitor's work, so they are
    # not written into the address bar (a reload would otherwise open them as a link)
    demo.load(bind(on_first_views, ctx, names, message=None), None, targets, js=QUIET_JS,
              api_visibility="private", concurrency_limit=None, show_progress="hidden").then(
        None, None, None, js=QUIET_END_JS, queue=False)


def wire_links(demo: gr.Blocks, ctx: AppContext, tabs: gr.Tabs, comps: dict[str, dict]) -> None:
    """comps: {tab id: that tab's components}. Called inside the Blocks."""
    add_subpanels(comps)
    wire_first_views(demo, ctx, comps)
    press = gr.Textbox(visible=False)
    names = outputs_of()
    targets = []
    for name in names:
        if name == "tabs":
            targets.append(tabs)
        elif name == "press":
            targets.append(press)
        else:
            tab, comp = name.split(":", 1)
            targets.append(comps[tab][comp])
    # queued (no slot limit), so its gr.Warning reaches the page as a toast
    demo.load(bind(on_open_link, ctx, names, message=None), None, targets,
              api_visibility="private", concurrency_limit=None, show_progress="hidden").then(
        None, press, press, js=PRESS_RUN_JS, queue=False)
