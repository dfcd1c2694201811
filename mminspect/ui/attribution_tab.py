"""The Attributions tab: which words push the model's score up or down, with the method's
faithfulness numbers next to the map, and every method side by side.

`on_attribute` runs one method and keeps the `TokenAttribution` in `gr.State`; the word /
token toggle calls `redraw`, which never touches the model. The method's controls are built
from the parameters each method declares (METHODS[...].params), one group per method, shown
only for the selected method.
"""
from __future__ import annotations

import gradio as gr

from .. import api
from ..figures import attribution as fig
from ..types import InputError, TokenAttribution
from .context import AppContext
from .errors import user_errors
from .gpu import gpu
from .inputs import parse_labels
from .model_picker import build_picker, resolve_model

TARGETS = {"similarity": "Cosine similarity to the second text",
           "zero_shot": "Zero-shot score of one label against the others",
           "prediction": "The model's own prediction (its class, [MASK] filler or next token)"}
LEVELS = ["word", "token"]

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
    "compare": "**Every method on this input.** Same target, baseline and random reference. "
               "*Completeness error*: |sum of scores − (f(input) − f(baseline))| relative to "
               "the gap, for methods that promise to add up (IG, GradientSHAP, KernelSHAP). "
               "*Areas*: deletion / insertion, higher = the map ranks words more like the model "
               "uses them. Each row has its own colour scale (methods' units differ).",
}


def param_controls() -> list[tuple[str, dict]]:
    """(method, param) for every declared parameter, in the order the sliders are built."""
    return [(m["name"], p) for m in api.list_attribution_methods() for p in m["params"]]


def _target_kwargs(target_kind, compare, labels_text, label, choice="") -> dict:
    choice = (choice or "").strip() or None
    if target_kind == "prediction":
        # None lets the model's kind pick (class / mask_fill / next_token); the box names the
        # class or token to explain instead of the model's top choice.
        return {"target": None, "label": choice, "token": choice}
    if target_kind == "similarity":
        if not (compare or "").strip():
            raise InputError("Type a second text: the map explains the cosine similarity to it.")
        return {"target": "similarity", "compare_to": compare}
    labels = parse_labels(labels_text)
    return {"target": "zero_shot", "labels": labels, "label": (label or "").strip() or None}


def _method_params(method: str, values) -> dict:
    return {p["name"]: v for (m, p), v in zip(param_controls(), values) if m == method}


def _summary(attr: TokenAttribution) -> str:
    f = attr.faithfulness
    lines = [f"**{attr.method}** on **{attr.model_name}** · explaining the {attr.target} · "
             f"f(text) = **{attr.target_value:.4f}**, f(baseline '{attr.baseline}') = "
             f"{attr.baseline_value:.4f} · {attr.seconds:.2f} s"
             + (f" · {attr.n_steps} IG steps" if attr.n_steps else "")]
    if f is not None:
        comp = ("" if f.completeness_relative is None else
                f"completeness error {f.completeness_error:.4f} "
                f"(**{f.completeness_relative:.2%}** of f(text) − f(baseline)) · ")
        lines.append(f"Faithfulness: {comp}deletion area **{f.deletion_area:+.3f}**, insertion "
                     f"area **{f.insertion_area:+.3f}** (> 0 = better than a random order).")
    lines += [f"⚠️ {n}" if "above" in n or "cut" in n else f"ℹ️ {n}" for n in attr.notes]
    return "\n\n".join(lines)


def _draw(attr: TokenAttribution, level: str):
    other = (fig.highlight_html(attr.other, level) if attr.other is not None else
             "<p><i>Only for the similarity target.</i></p>")
    return fig.highlight_html(attr, level), other, fig.top_tokens_bar(attr, level)


def _check_target_fits(model, target_kind: str) -> None:
    embedding = model.kind == "embedding"
    if embedding and target_kind == "prediction":
        raise InputError(f"{model.name} is a sentence-embedding model with no prediction head: "
                         "explain the similarity to a second text or a zero-shot label.")
    if not embedding and target_kind != "prediction":
        raise InputError(f"{model.name} is a {model.kind.replace('_', ' ')} model: choose "
                         f"“{TARGETS['prediction']}” as what to explain.")


def make_on_attribute(ctx: AppContext):
    @user_errors
    @gpu
    def on_attribute(model_name, custom_model, text, target_kind, compare, labels_text, label,
                     choice, method, baseline, level, *param_values, progress=gr.Progress()):
        """Run one method; returns the state, summary, both maps, bar chart and curves."""
        model = resolve_model(ctx, model_name, custom_model, progress)
        _check_target_fits(model, target_kind)

        def report(fraction, desc):
            progress(fraction, desc=desc)

        attr = api.attribute_text(model, text, method=method, baseline=baseline, progress=report,
                                  **_target_kwargs(target_kind, compare, labels_text, label, choice),
                                  **_method_params(method, param_values))
        return (attr, _summary(attr), *_draw(attr, level),
                fig.faithfulness_figure(attr.faithfulness, attr.method))
    return on_attribute


@user_errors
def redraw(attr, level):
    if attr is None:
        raise InputError("Run an attribution first (press Attribute).")
    return _draw(attr, level)


def make_on_compare_methods(ctx: AppContext):
    @user_errors
    @gpu
    def on_compare_methods(model_name, custom_model, text, target_kind, compare, labels_text,
                           label, choice, baseline, level, progress=gr.Progress()):
        """Every method on one input, side by side with its numbers and time."""
        model = resolve_model(ctx, model_name, custom_model, progress)
        _check_target_fits(model, target_kind)
        comparison = api.compare_attributions(
            model, text, baseline=baseline, progress=lambda f, d: progress(f, desc=d),
            **_target_kwargs(target_kind, compare, labels_text, label, choice))
        return comparison, fig.comparison_html(comparison, level)
    return on_compare_methods


@user_errors
def redraw_comparison(comparison, level):
    if comparison is None:
        return "<p><i>Press “Compare all methods”.</i></p>"
    return fig.comparison_html(comparison, level)


def on_method_change(method):
    """Show the chosen method's controls and description (no model)."""
    methods = api.list_attribution_methods()
    desc = next(m["description"] for m in methods if m["name"] == method)
    return [gr.update(visible=m["name"] == method) for m in methods] + [desc]


def build(ctx: AppContext) -> None:
    """Lay out the Attributions tab inside the current Blocks and wire its events."""
    methods = api.list_attribution_methods()
    state, comp_state = gr.State(None), gr.State(None)
    with gr.Row():
        with gr.Column(scale=3):
            text = gr.Textbox(label="Text to explain", lines=3, value=ctx.example_text,
                              max_length=ctx.max_chars)
            target = gr.Radio([(v, k) for k, v in TARGETS.items()], value="similarity",
                              label="What to explain")
            compare = gr.Textbox(label="Second text (similarity)", lines=1,
                                 value=ctx.example_compare, max_length=ctx.max_chars)
            with gr.Row():
                labels = gr.Textbox(label="Labels (zero-shot; comma-separated)", lines=1,
                                    value=ctx.example_labels)
                label = gr.Textbox(label="Label to explain (default: the first)", lines=1)
            choice = gr.Textbox(label="Class or token to explain (own prediction; default: the "
                                "model's top choice)", lines=1, max_length=100)
        with gr.Column(scale=2):
            model, custom = build_picker(ctx, "text")
            method = gr.Dropdown(choices=[(m["label"], m["name"]) for m in methods],
                                 value=methods[0]["name"], label="Method")
            description = gr.Markdown(methods[0]["description"])
            groups, sliders = [], []
            for m in methods:
                with gr.Group(visible=m is methods[0]) as group:
                    for p in m["params"]:
                        sliders.append(gr.Slider(p["low"], p["high"], value=p["default"],
                                                 step=p["step"], label=p["name"], info=p["help"]))
                groups.append(group)
            baseline = gr.Radio(["pad", "mask", "zero"], value="pad", label="Baseline")
            level = gr.Radio(LEVELS, value="word", label="Show")
            with gr.Row():
                run = gr.Button("Attribute", variant="primary")
                run_all = gr.Button("Compare all methods")
    summary = gr.Markdown()
    with gr.Tabs():
        with gr.Tab("Map"):
            text_map = gr.HTML()
            gr.Markdown(CAPTIONS["map"])
            other_map = gr.HTML()
            gr.Markdown(CAPTIONS["other"])
        with gr.Tab("Top words"):
            bar = gr.Plot(show_label=False)
            gr.Markdown(CAPTIONS["bar"])
        with gr.Tab("Deletion / insertion"):
            curves = gr.Plot(show_label=False)
            gr.Markdown(CAPTIONS["curves"])
        with gr.Tab("Method comparison"):
            table = gr.HTML()
            gr.Markdown(CAPTIONS["compare"])
    method.change(on_method_change, method, [*groups, description], api_visibility="private",
                  show_progress="hidden")
    inputs = [model, custom, text, target, compare, labels, label, choice, method, baseline,
              level, *sliders]
    run.click(make_on_attribute(ctx), inputs, [state, summary, text_map, other_map, bar, curves],
              api_name="attribute_text", concurrency_id="model", concurrency_limit=1)
    run_all.click(make_on_compare_methods(ctx),
                  [model, custom, text, target, compare, labels, label, choice, baseline, level],
                  [comp_state, table], api_name="compare_attributions",
                  concurrency_id="model", concurrency_limit=1)
    level.change(redraw, [state, level], [text_map, other_map, bar], api_name="redraw_attribution")
    level.change(redraw_comparison, [comp_state, level], table, api_visibility="private",
                 show_progress="hidden")
