"""Compare mode of the Attributions tab: the same method, target and baseline on text B
(and model B), and the attribution of every aligned word side by side with A − B.

Text A, the model, the target and the method are the tab's own inputs. Faithfulness curves
are skipped on both sides: the comparison is about the maps, and they would triple the cost.
"""
from __future__ import annotations

from dataclasses import replace

import gradio as gr

from .. import api
from ..figures.compare import word_change_figure
from ..types import InputError
from .compare_view import LINK_FIELDS as TEXT_LINK_FIELDS
from .compare_view import RANDOM, RANDOM_K, SAME, esc, model_b_choices
from .context import AppContext
from .events import bind, client_left, reporter
from .gpu import gpu
from .model_picker import model_label, resolve_model
from .share import LinkField
from .text_targets import check_target_fits, target_kwargs

MESSAGE = "acmp_message"
CAPTION = ("**Compare A and B.** The method, target and baseline above explain text A; the same "
           "run explains text B (with model B if you pick one). Words are lined up by edit "
           "distance (`+not` = only in B, `−old` = only in A, `cat→cats` = changed). Top: both "
           "maps on one scale; bottom: A − B for the words both texts have.")

# A link to the Attributions tab carries text B and model B as the Text tab's does (the same
# keys and checks); a link with text B opens the panel and presses its button (links.LINK_RUNS).
LINK_FIELDS: tuple[LinkField, ...] = tuple(
    replace(f, name="a" + f.name) for f in TEXT_LINK_FIELDS)     # cmp_text_b -> acmp_text_b


def open_link(ctx: AppContext, values: dict) -> dict:
    return {"acmp_accordion": gr.Accordion(open=True)} if values.get("acmp_text_b") else {}


def summary_markdown(ctx: AppContext, diff) -> str:
    al = diff.alignment
    edits = [lab for lab, op in zip(al.labels, al.ops) if op != "same"]
    both = al.both
    lines = [f"**A**: {esc(model_label(ctx, diff.a.model_name))} · **B**: "
             f"{esc(model_label(ctx, diff.b.model_name))} · {esc(diff.a.method)}",
             f"**Aligned words**: {len(al.ops)}, edits: {al.n_edits}"
             + (f" ({esc(', '.join(edits))})" if edits else " (the same words)"),
             esc(" ".join(diff.prediction))]
    if both.any():
        i = int(abs(diff.word_diff[both]).argmax())
        word = [lab for lab, b in zip(al.labels, both) if b][i]
        lines.append(f"**Largest change** among shared words: “{esc(word)}”, A − B = "
                     f"{diff.word_diff[both][i]:+.4f}")
    lines += [f"ℹ️ {esc(n)}" for n in diff.notes]
    return "\n\n".join(lines)


def on_compare_attr(ctx: AppContext, model_name, custom_model, text, target_kind, compare,
                    labels_text, label, choice, method, baseline, text_b, model_b,
                    progress=gr.Progress()) -> dict:
    """Attribute text A and text B with one method and compare the maps word by word."""
    if not (text_b or "").strip():
        raise InputError("Type a text B to compare with the text to explain.")
    report = reporter(progress)
    model = resolve_model(ctx, model_name, custom_model, report)
    check_target_fits(model, target_kind, model_label(ctx, model.name))
    other = (model if model_b in (SAME, None, "") else
             api.randomized_copy(model, k=RANDOM_K) if model_b == RANDOM else
             resolve_model(ctx, model_b, None))
    check_target_fits(other, target_kind, model_label(ctx, other.name))
    kwargs = target_kwargs(target_kind, compare, labels_text, label, choice)
    maps = []
    for i, (m, t) in enumerate(((model, text), (other, text_b))):
        report(0.2 + 0.4 * i, f"Attributing text {'AB'[i]}")
        with api.exclusive(m):
            maps.append(api.attribute_text(m, t, method=method, baseline=baseline,
                                           faithfulness=False, both_sides=False,
                                           should_stop=client_left, **kwargs))
    diff = api.compare(*maps)
    return {"acmp_state": diff, "acmp_summary": summary_markdown(ctx, diff),
            "acmp_figure": word_change_figure(diff)}


def build(ctx: AppContext, c: dict) -> None:
    gr.Markdown(CAPTION)
    c["acmp_state"] = gr.State(None)            # the comparison, for Save report
    with gr.Row():
        c["acmp_text_b"] = gr.Textbox(label="Text B (to explain the same way)", lines=2, scale=3)
        with gr.Column(scale=2):
            c["acmp_model_b"] = gr.Dropdown(model_b_choices(ctx), value=SAME, label="Model B")
            c["acmp_run"] = gr.Button("Compare the maps of A and B", variant="primary",
                                      elem_id="acmp-run")
            c[MESSAGE] = gr.Markdown(elem_classes="mm-acmp-message")
    c["acmp_summary"] = gr.Markdown()
    c["acmp_figure"] = gr.Plot(show_label=False)
    wire(ctx, c)


def wire(ctx: AppContext, c: dict) -> None:
    inputs = ["model", "custom", "text", "target", "compare", "labels", "label", "choice",
              "method", "baseline", "acmp_text_b", "acmp_model_b"]
    out = ["acmp_summary", "acmp_figure", MESSAGE, "acmp_state"]   # new outputs after the message
    c["acmp_run"].click(bind(gpu(on_compare_attr), ctx, out, message=MESSAGE, release=True),
                        [c[n] for n in inputs], [c[n] for n in out], api_name="compare_attribution",
                        concurrency_id="long", concurrency_limit=1)
