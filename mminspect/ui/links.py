"""Open the app from a link: the tab, its inputs and the view they draw (see share.py).

`on_open_link` runs once per page load. It fills the linked tab's inputs from the query
(every value checked), selects the tab, and names the tab whose run button the browser then
presses (`PRESS_RUN_JS`), so the view is drawn exactly as by a click. A link the app cannot
use (unknown tab, a model the host does not offer, a layer out of range) opens the app with
a message on that tab, never an error page, and loads nothing the host did not allow."""
from __future__ import annotations

import gradio as gr

from . import attention_tab, attribution_tab, clip_tab, lessons_tab, text_tab
from .context import AppContext
from .events import MESSAGE, bind, message_markdown
from .share import TabLink, read_link

LINKS: dict[str, TabLink] = {t.LINK.tab: t.LINK for t in (text_tab, attribution_tab, clip_tab,
                                                          attention_tab, lessons_tab)}

# The browser presses the linked tab's run button (the same queue, progress and checks as a
# click); nothing happens when the link named no tab.
PRESS_RUN_JS = """(button) => {
  // the selected tab renders after this event: wait for its button (up to 20 s)
  let tries = 0;
  const press = () => {
    const b = button && document.getElementById(button);
    if (b) b.click(); else if (button && tries++ < 200) setTimeout(press, 100);
  };
  press();
  return button;
}"""


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
        values.update(link.on_open(ctx, values))
    out = {f"{tab}:{name}": value for name, value in values.items()}
    out["tabs"] = gr.Tabs(selected=tab)
    if refused:
        text = ("Opened from a link, except: " + "; ".join(refused) + ". Check the inputs, "
                "then press the tab's button.")
        gr.Warning(text)
        out[f"{tab}:{MESSAGE}"] = message_markdown(text)
    else:
        out["press"] = link.run_button    # a clean link draws its view; a doubtful one waits
    return out


def wire_links(demo: gr.Blocks, ctx: AppContext, tabs: gr.Tabs, comps: dict[str, dict]) -> None:
    """comps: {tab id: that tab's components}. Called inside the Blocks."""
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
