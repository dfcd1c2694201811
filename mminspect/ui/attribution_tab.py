"""The Attributions tab: which words push the model's score up or down, with the method's
faithfulness numbers next to the map, and every method side by side.

`on_attribute` runs one method and keeps the `TokenAttribution` in `gr.State`; the word /
token toggle calls `redraw`, which never touches the model. "Compare all methods" opens its
sub-tab first, so the progress shows where the user looks. The method's controls are built
from the parameters each method declares (METHODS[...].params), one group per method, shown
only for the selected method.
"""
from __future__ import annotations

import gradio as gr

from .. import api
from ..figures import attribution as fig
from ..figures import trust as trust_fig
from ..types import InputError, TokenAttribution
from .context import AppContext
from .events import MESSAGE, Components, bind, picker, client_left, reporter
from .gpu import gpu
from .model_picker import build_picker, model_label, resolve_model
from .prediction_view import md_escape as _md
from . import compare_attr, trust_panel
from .compare_export import wire_compare_exports
from .share import LinkField, TabLink, build_exports, wire_url
from .text_targets import TARGETS, check_target_fits, target_kwargs
from .words import BASELINES, param_words

LEVELS = ["word", "token"]
BASELINE_WORDS = {name: words for words, name in BASELINES}     # "pad" -> "[PAD] tokens"

CAPTIONS = {
    "map": "**How to read the map.** Red words raise the score being explained, blue words "
           "lower it; the stronger the colour, the larger the effect (the bar gives the range; "
           "hover a word for its number). Dashed grey = special tokens ([CLS], [SEP]), kept in "
           "place in every baseline. The word view sums the scores of each word's pieces.",
    "other": "**The second text**, explained against the first: the same similarity, seen "
             "from the other side.",
    "bar": "**Top words.** The largest effects by size, signed: bars to the right raise the "
           "score, to the left lower it.",
    "curves": "**Deletion / insertion.** Left: remove words in the map's order (most positive "
              "first, replaced by the baseline) and watch the score; a faithful map makes it "
              "fall faster than the dashed random order. Right: start from the baseline and "
              "add words back; it should rise faster than random. The shaded area between the "
              "curves is the *area* number (in score units; > 0 = better than chance).",
    "compare": "**Every method on this input**, same target and baseline, each row on its own "
               "colour scale. Larger deletion / insertion areas: the map ranks words more like "
               "the model uses them.",
    "compare_details": "Same target, baseline and random reference. *Completeness error*: "
                       "|sum of scores − (f(input) − f(baseline))| relative to "
                       "the gap, for methods that promise to add up (IG, GradientSHAP, KernelSHAP). "
                       "*Areas*: deletion / insertion, higher = the map ranks words more like the model "
                       "uses them. Each row has its own colour scale (methods' units differ).",
    "agreement": "**Where methods agree.** Each cell is the rank correlation (Spearman) "
                 "between two methods' maps on this input: 1 = the same ranking of the words, "
                 "0 = unrelated, negative = opposite; a column's number is its row's method. Top: "
                 "signed scores; bottom: sizes only. "
                 "Where methods disagree, trust the one that passes the sanity check (sub-tab "
                 "“Can I trust this map?”) and has the larger deletion area.",
}


LINK = TabLink("attributions", "text", (
    LinkField("model", "model", "model"), LinkField("model", "custom", "model"),
    LinkField("text", "text"), LinkField("target", "target", "choice", choices=tuple(TARGETS)),
    LinkField("compare", "compare"), LinkField("labels", "labels"), LinkField("label", "label"),
    LinkField("choice", "choice"),
    LinkField("method", "method", "choice",
              choices=tuple(m["name"] for m in api.list_attribution_methods())),
    LinkField("baseline", "baseline", "choice", choices=tuple(name for _, name in BASELINES)),
    LinkField("level", "level", "choice", choices=tuple(LEVELS)),
    # each method's own parameters (steps, samples, windows), as "<method>.<param>"
    *(LinkField(f"{m['name']}.{p['name']}", f"param:{m['name']}:{p['name']}",
                "int" if float(p["step"]).is_integer() else "float", p["low"], p["high"],
                default=p["default"])
      for m in api.list_attribution_methods() for p in m["params"]),
    *compare_attr.LINK_FIELDS), "attributions-run", extra_outputs=("acmp_accordion",),
    on_open=compare_attr.open_link)


def param_controls() -> list[tuple[str, dict]]:
    """(method, param) for every declared parameter, in the order the sliders are built."""
    return [(m["name"], p) for m in api.list_attribution_methods() for p in m["params"]]


def method_labels() -> dict[str, str]:
    return {m["name"]: m["label"] for m in api.list_attribution_methods()}


def method_label(name: str) -> str:
    return next((m["label"] for m in api.list_attribution_methods() if m["name"] == name), name)


def _method_params(method: str, values) -> dict:
    return {p["name"]: v for (m, p), v in zip(param_controls(), values) if m == method}


WARN = ("above", "cut", "budget")          # a note saying the map is less exact than asked


def _summary(attr: TokenAttribution, model_name: str) -> str:
    """Two short plain lines (what was explained, how faithful the map is); the internals
    (precision, steps along the path, budget notes) are in `_details`, behind a toggle. A
    map less exact than asked gets one visible line that points there."""
    f = attr.faithfulness
    lines = [f"**{method_label(attr.method)}** on **{_md(model_name)}** · explaining the "
             f"{_md(attr.target)} · f(text) = **{attr.target_value:.4f}** · baseline: "
             f"{_md(BASELINE_WORDS.get(attr.baseline, attr.baseline))} · {attr.seconds:.2f} s"]
    if f is not None:
        comp = ("" if f.completeness_relative is None else
                f" · the scores add up to the change within **{f.completeness_relative:.2%}**")
        lines.append(f"Faithfulness: deletion area **{f.deletion_area:+.3f}**, insertion area "
                     f"**{f.insertion_area:+.3f}** (> 0 = better than a random order){comp}.")
    if any(w in n for n in attr.notes for w in WARN):
        lines.append("⚠️ **Less exact than asked** (its accuracy goal or time budget was "
                     "not met): see *Details* below.")
    return "\n\n".join(lines)


def _details(attr: TokenAttribution) -> str:
    """What the summary leaves out: the baseline's score, the steps used, and every note
    (precision, quadrature, time budget), for who wants the internals."""
    f = attr.faithfulness
    lines = [f"f(baseline) = {attr.baseline_value:.4f}"
             + (f" · {attr.n_steps} steps along the path" if attr.n_steps else "")]
    if f is not None and f.completeness_relative is not None:
        lines.append(f"Completeness error {f.completeness_error:.4f} "
                     f"({f.completeness_relative:.2%} of f(text) − f(baseline)).")
    lines += [("⚠️ " if any(w in n for w in WARN) else "ℹ️ ") + _md(n) for n in attr.notes]
    return "\n\n".join(lines)


def _draw(attr: TokenAttribution, level: str) -> dict:
    other = (fig.highlight_html(attr.other, level) if attr.other is not None else
             "<p><i>Only for the similarity target.</i></p>")
    return {"text_map": fig.highlight_html(attr, level), "other_map": other,
            "bar": fig.top_tokens_bar(attr, level, method=method_label(attr.method))}


def on_attribute(ctx: AppContext, model_name, custom_model, text, target_kind, compare,
                 labels_text, label, choice, method, baseline, level, *param_values,
                 progress=gr.Progress()) -> dict:
    """Run one method; the state, summary, both maps, bar chart and curves."""
    report = reporter(progress)
    model = resolve_model(ctx, model_name, custom_model, report)
    name = model_label(ctx, model.name)
    check_target_fits(model, target_kind, name)
    with api.exclusive(model):
        attr = api.attribute_text(model, text, method=method, baseline=baseline, progress=report,
                                  should_stop=client_left,
                                  **target_kwargs(target_kind, compare, labels_text, label, choice),
                                  **_method_params(method, param_values))
    return {"state": attr, "summary": _summary(attr, name), "details": _details(attr),
            **_draw(attr, level),
            "curves": fig.faithfulness_figure(attr.faithfulness, method_label(attr.method)),
            "caveats": trust_panel.badges(attr)}


def redraw(ctx: AppContext, attr, level) -> dict:
    if attr is None:
        return {}                      # nothing drawn yet: the toggle has nothing to change
    return _draw(attr, level)


def show_comparison_tab(ctx: AppContext) -> dict:
    """Open the comparison sub-tab first, so its progress shows where the user looks."""
    return {"tabs": gr.Tabs(selected="compare")}


def previous_run_note(attr, comparison) -> dict:
    """The single-method summary once "Compare all" ran: kept when it explains the same
    text, target and baseline; else marked as the previous run's (it described another
    input next to the new comparison)."""
    if attr is None:
        return {}
    first = comparison.results[0]
    if (attr.text, attr.target, attr.baseline) == (first.text, first.target, first.baseline):
        return {}
    return {"summary": "*From the previous run (another text, target or baseline than the "
                       "comparison): press Attribute to redo the map for these inputs.*",
            "caveats": "", "details": ""}


def on_compare_methods(ctx: AppContext, model_name, custom_model, text, target_kind, compare,
                       labels_text, label, choice, baseline, level, attr=None,
                       progress=gr.Progress()) -> dict:
    """Every method on one input, side by side with its numbers and time."""
    report = reporter(progress)
    model = resolve_model(ctx, model_name, custom_model, report)
    check_target_fits(model, target_kind, model_label(ctx, model.name))
    with api.exclusive(model):
        comparison = api.compare_attributions(
            model, text, baseline=baseline, progress=report, should_stop=client_left,
            **target_kwargs(target_kind, compare, labels_text, label, choice))
    return {"comparison": comparison,
            "table": fig.comparison_html(comparison, level, method_labels(),
                                         trust_panel.comparison_caveats(comparison)),
            "agreement": trust_fig.agreement_figure(api.method_agreement(comparison),
                                                    method_labels()),
            **previous_run_note(attr, comparison)}


def redraw_comparison(ctx: AppContext, comparison, level) -> dict:
    return {} if comparison is None else {
        "table": fig.comparison_html(comparison, level, method_labels(),
                                     trust_panel.comparison_caveats(comparison))}


def on_method_change(ctx: AppContext, method) -> dict:
    """Show the chosen method's controls and description (no model)."""
    methods = api.list_attribution_methods()
    desc = next(m["description"] for m in methods if m["name"] == method)
    return {f"group_{m['name']}": gr.update(visible=m["name"] == method) for m in methods} | {
        "description": desc}


def build(ctx: AppContext) -> dict:
    """Lay out the Attributions tab inside the current Blocks and wire its events."""
    methods = api.list_attribution_methods()
    c = Components(state=gr.State(None), comparison=gr.State(None))
    with gr.Row():
        with gr.Column(scale=3):
            c["text"] = gr.Textbox(label="Text to explain", lines=3, value=ctx.example_text)
            c["target"] = gr.Radio([(v, k) for k, v in TARGETS.items()], value="similarity",
                                   label="What to explain")
            c["compare"] = gr.Textbox(label="Second text (similarity)", lines=1,
                                      value=ctx.example_compare)
            with gr.Row():
                c["labels"] = gr.Textbox(label="Labels (zero-shot; comma-separated)", lines=1,
                                         value=ctx.example_labels)
                c["label"] = gr.Textbox(label="Label to explain (default: the first)", lines=1)
            c["choice"] = gr.Textbox(label="Class or token to explain (own prediction; default: "
                                     "the model's top choice)", lines=1)
        with gr.Column(scale=2):
            c["model"], c["custom"] = build_picker(ctx, "text")
            c["method"] = gr.Dropdown(choices=[(m["label"], m["name"]) for m in methods],
                                      value=methods[0]["name"], label="Method")
            c["description"] = gr.Markdown(methods[0]["description"])
            sliders = []
            # the method's settings (steps, samples, quadrature) are for who wants them: the
            # defaults are measured to be good enough, so they start folded away
            with gr.Accordion("Settings of this method", open=False):
                for m in methods:
                    with gr.Group(visible=m is methods[0]) as c[f"group_{m['name']}"]:
                        for p in m["params"]:
                            words, info = param_words(p["name"], p["help"])
                            slider = gr.Slider(p["low"], p["high"], value=p["default"],
                                               step=p["step"], label=words, info=info)
                            c[f"param:{m['name']}:{p['name']}"] = slider     # for links
                            sliders.append(slider)
            c["baseline"] = gr.Radio(BASELINES, value="pad", label="Baseline (what a word is "
                                     "replaced with when it is taken away)")
            c["level"] = gr.Radio(LEVELS, value="word", label="Show scores per")
            with gr.Row():
                run = gr.Button("Attribute", variant="primary", elem_id=LINK.run_button)
                run_all = gr.Button("Compare all methods")
            c[MESSAGE] = gr.Markdown(elem_classes="mm-message")
    with gr.Accordion("Compare A/B: the same explanation for a second text or model",
                      open=False) as c["acmp_accordion"]:
        compare_attr.build(ctx, c)
    c["summary"] = gr.Markdown()
    c["caveats"] = gr.HTML()                    # the map's caveat badges, next to it
    with gr.Accordion("Details: baseline score, steps, precision, time budget", open=False):
        c["details"] = gr.Markdown()
    save_json, save_report = build_exports(c)
    with gr.Tabs() as c["tabs"]:
        with gr.Tab("Map", id="map"):
            c["text_map"] = gr.HTML()
            gr.Markdown(CAPTIONS["map"])
            c["other_map"] = gr.HTML()
            gr.Markdown(CAPTIONS["other"])
        with gr.Tab("Top words", id="bar"):
            c["bar"] = gr.Plot(show_label=False)
            gr.Markdown(CAPTIONS["bar"])
        with gr.Tab("Deletion / insertion", id="curves"):
            c["curves"] = gr.Plot(show_label=False)
            gr.Markdown(CAPTIONS["curves"])
        with gr.Tab("Method comparison", id="compare"):
            gr.Markdown(CAPTIONS["compare"])
            with gr.Accordion("Details: what the columns measure", open=False):
                gr.Markdown(CAPTIONS["compare_details"])
            c["table"] = gr.HTML()
            c["agreement"] = gr.Plot(show_label=False)
            gr.Markdown(CAPTIONS["agreement"])
        with gr.Tab("Can I trust this map?", id="trust"):
            for name, comp in trust_panel.build(ctx).items():
                c[name] = comp
    wire(ctx, c, run, run_all, sliders)
    wire_compare_exports(ctx, c, save_json, save_report, ["state", "comparison"], "acmp_state",
                         "text")
    wire_url(c, LINK)
    return c


def wire(ctx: AppContext, c: dict, run, run_all, sliders: list) -> None:
    comps = picker(c)

    methods = [m["name"] for m in api.list_attribution_methods()]
    quick = {"concurrency_limit": None, "show_progress": "hidden", "api_visibility": "private"}
    method_out = [*(f"group_{m}" for m in methods), "description"]
    c["method"].change(bind(on_method_change, ctx, method_out, None), c["method"],
                       comps(method_out), **quick)
    target = ["model", "custom", "text", "target", "compare", "labels", "label", "choice"]
    # new outputs go after the message line: callers of the endpoint read them by position
    out = ["state", "summary", "text_map", "other_map", "bar", "curves", MESSAGE, "caveats",
           "details"]
    run.click(bind(gpu(on_attribute), ctx, out, release=True),
              comps([*target, "method", "baseline", "level"]) + sliders, comps(out),
              api_name="attribute_text", concurrency_id="long", concurrency_limit=1)
    compare_out = ["comparison", "table", MESSAGE, "agreement", "summary", "caveats", "details"]
    # Two outputs, not one: gradio wraps a single output's return value in a list again, and
    # bind returns a list, so with `c["tabs"]` alone the switch failed ("not a valid output").
    tab_out = ["tabs", MESSAGE]
    run_all.click(bind(show_comparison_tab, ctx, tab_out, None), None, comps(tab_out),
                  **quick).then(
        bind(gpu(on_compare_methods), ctx, compare_out, release=True),
        comps([*target, "baseline", "level", "state"]), comps(compare_out),
        api_name="compare_attributions", concurrency_id="long", concurrency_limit=1)
    trust_panel.wire(ctx, c, target)
    draw_out = ["text_map", "other_map", "bar", MESSAGE]
    c["level"].change(bind(redraw, ctx, draw_out), comps(["state", "level"]), comps(draw_out),
                      **quick)
    c["level"].change(bind(redraw_comparison, ctx, ["table", MESSAGE]),
                      comps(["comparison", "level"]), comps(["table", MESSAGE]), **quick)
