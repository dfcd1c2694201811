"""The Text tab's causal lab: which heads the prediction actually needs (remove each one and
measure), click a head to remove it, attention vs importance, and activation patching.

Every panel is behind a button (each is a model run in the shared "model" queue). The scan
keeps its `HeadImportance`, the head summary of the same text and the target in `gr.State`,
so a click on a head ablates it for exactly what was scanned, and picking another attention
statistic only redraws the scatter.
"""
from __future__ import annotations

import itertools

import gradio as gr

from .. import api
from ..figures import causal as cfig
from ..api.causal_stats import head_statistics
from ..figures.attention import SUMMARY_TITLES
from ..types import InputError
from .inputs import parse_labels
from .text_targets import TARGETS, check_target_fits, target_kwargs
from .context import AppContext
from .events import Components, bind, picker, reporter
from .gpu import gpu
from .model_picker import model_label, resolve_model
from .prediction_view import md_escape as _md

MODES = [("remove it (its output set to zero)", "zero"),
         ("replace it by its average over the text", "mean")]
MODE_WORDS = {"zero": "its output set to zero", "mean": "its output replaced by its average "
              "over the text's positions"}
# the scatter's x axis: the head summary's statistics and the largest weight per query
STATS = {"special": SUMMARY_TITLES["special"], "max": "largest weight per query: high = peaked",
         **{k: v for k, v in SUMMARY_TITLES.items() if k != "special"}}
SITES = [("residual stream: layer × position", "residual"), ("heads: layer × head", "heads")]

CAPTIONS = {
    "importance": "**Head importance.** Each head is removed alone and the model is run again; "
                  "the cell is the change of the score (after − before). **Red** = removing "
                  "the head *lowers* the score (the head supports it), **blue** = raises it, "
                  "white = the head does not matter here. **Click a cell** to remove that head "
                  "and read the prediction before → after below.",
    "scatter": "**Attention is not importance.** Each dot is a head: how it spreads its "
               "attention (x, from the head summary of the same text) against how much the score "
               "changes when it is removed (y). A weak correlation means a striking attention "
               "pattern says little about whether the prediction needs that head.",
    "patching": "**Activation patching.** Run a *clean* and a *corrupted* text (e.g. one word "
                "changed), then copy one activation from the clean run into the corrupted run "
                "and see how much of the score's gap comes back: 100 % = that activation alone "
                "carries the difference, 0 % = it carries none. **Rule:** positions are copied one "
                "to one, so both texts must have the same number of tokens (change a word for "
                "another single-token word).",
}


def progress_stop(report, start: float, end: float, steps: int, desc: str):
    """A `should_stop` for the api's batch loops that reports progress at each batch; the
    reporter itself raises Cancelled when the client has left (never returns True)."""
    count = itertools.count()

    def should_stop() -> bool:
        report(start + (end - start) * min(1.0, next(count) / max(1, steps)), desc)
        return False

    return should_stop


def _target(model, target_kind, compare, labels_text, temperature, choice, label_name) -> dict:
    """The api's target keywords for the radio's choice (as in the Attributions tab); the
    model's own prediction is measured as a probability, which students read most easily."""
    check_target_fits(model, target_kind, label_name)
    kwargs = target_kwargs(target_kind, compare, labels_text, choice, choice)
    if target_kind == "prediction":
        kwargs["output"] = "prob"
    return kwargs | {"temperature": float(temperature)}


def heads_words(heads) -> str:
    return ", ".join(f"L{layer} H{head}" for layer, head in heads)


def _ablation_words(abl, what: str) -> str:
    share = f", {abl.delta / abs(abl.before):+.1%}" if abs(abl.before) > 1e-9 else ""
    return (f"{what}: the {_md(abl.target)} goes from **{abl.before:.4f}** to "
            f"**{abl.after:.4f}** (change **{abl.delta:+.4f}**{share}).")


def _mode_note(state: dict, mode: str) -> str:
    """Said when the ranking came from the other way of removing heads (it may differ)."""
    scanned = state["imp"].mode
    return ("" if mode == scanned else
            f"\n\nℹ️ The ranking is from a scan with {MODE_WORDS[scanned]}; press “Scan every "
            "head” again to rank the heads the way they are removed now.")


def _scan_summary(imp, name: str, text: str) -> str:
    n = imp.delta.size
    top = imp.top(3)
    helps = [(l, h) for l, h in top if imp.delta[l, h] < 0]
    return (f"**{_md(name)}** on “{_md(_short(text))}” · {_md(imp.target)} = "
            f"**{imp.before:.4f}** with every head · "
            f"{n} heads removed one at a time ({MODE_WORDS[imp.mode]}) in {imp.seconds:.2f} s · "
            + (f"the score needs **{heads_words(helps)}** most" if helps else
               "no head's removal lowers the score"))


def on_scan(ctx: AppContext, model_name, custom_model, text, compare, labels_text, temperature,
            target_kind, choice, mode, stat, progress=gr.Progress()) -> dict:
    """Remove every head alone (batched), and the head summary of the same text."""
    report = reporter(progress)
    model = resolve_model(ctx, model_name, custom_model, report)
    name = model_label(ctx, model.name)
    kwargs = _target(model, target_kind, compare, labels_text, temperature, choice, name)
    report(0.2, "Removing each head in turn")
    with api.exclusive(model):
        imp = api.head_importance(model, text, mode=mode, **kwargs,
                                  should_stop=progress_stop(report, 0.2, 0.9, model.n_layers,
                                                             "Removing each head in turn"))
        stats = head_statistics(api.inspect_text(model, text).attention)
    state = {"imp": imp, "stats": stats, "model": model_name, "custom": custom_model,
             "text": text, "kwargs": kwargs, "name": name,
             "inputs": input_key(model.name, text, compare, labels_text, temperature)}
    return {"imp_state": state, "imp_table": cfig.importance_table(imp.delta),
            "imp_summary": _scan_summary(imp, name, text), "imp_scatter": _scatter(state, stat),
            "imp_result": "Click a head in the table to remove it and see what changes."}


def _short(text: str, n: int = 60) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[:n - 1] + "…"


def input_key(model: str, text, compare, labels_text, temperature) -> tuple:
    """What a result of this lab depends on among the Text tab's inputs (compared after each
    Inspect: a result of other inputs is cleared, never shown next to the new ones)."""
    compare = (compare or "").strip()
    return (model, (text or "").strip(), compare, tuple(parse_labels(labels_text)),
            round(float(temperature), 4))


def on_inspected(ctx: AppContext, view_state, imp_state, patch_key) -> dict:
    """After an Inspect: clear the scan and the patching result made with other inputs, and
    say so where they were (the tables and plots would otherwise describe the old text)."""
    new = (view_state or {}).get("inputs")
    if new is None:
        return {}
    out = {}
    if imp_state is not None and imp_state["inputs"] != new:
        old = imp_state["inputs"]
        out |= {"imp_state": None, "imp_scatter": None, "imp_result": "",
                "imp_table": cfig.empty_importance_table("Press “Scan every head” to scan the "
                                                         "new input."),
                "imp_summary": f"ℹ️ The scan of the previous input (“{_md(_short(old[1]))}”) was "
                               "cleared: it did not belong to the text inspected now. Press "
                               "“Scan every head” to scan this one."}
    if patch_key is not None and patch_key[:1] + patch_key[2:] != new[:1] + new[2:]:
        out |= {"patch_key": None, "patch_plot": None,
                "patch_summary": "ℹ️ The patching result was cleared: it was measured with the "
                                 "previous model, second text or labels. Press “Patch” again."}
    return out


def _scatter(state: dict, stat: str):
    imp = state["imp"]
    return cfig.importance_scatter(state["stats"][stat], imp.delta, STATS[stat], imp.target)


def redraw_scatter(ctx: AppContext, state, stat) -> dict:
    return {} if state is None else {"imp_scatter": _scatter(state, stat)}


def _ablate(ctx: AppContext, state: dict, heads, mode: str, report):
    model = resolve_model(ctx, state["model"], state["custom"], report)
    report(0.4, f"Removing {heads_words(heads)}")
    with api.exclusive(model):
        return api.ablate_heads(model, state["text"], heads=heads, mode=mode, **state["kwargs"])


def on_head_click(ctx: AppContext, state, mode, evt: gr.SelectData,
                  progress=gr.Progress()) -> dict:
    """A click on the importance table removes that head and says what changed."""
    if state is None:
        raise InputError("Press “Scan every head” first; then click a head in the table.")
    imp = state["imp"]
    head = cfig.clicked_head(evt.index, imp.delta.shape)
    if head is None:
        return {}                                # the layer names: nothing to remove
    abl = _ablate(ctx, state, [head], mode, reporter(progress))
    rank = int((imp.delta < imp.delta[head]).sum()) + 1
    return {"imp_table": cfig.importance_table(imp.delta, selected=head),
            "imp_result": _ablation_words(abl, f"Removing head **L{head[0]} H{head[1]}** "
                                               f"({MODE_WORDS[mode]})")
            + f"\n\nIn the scan this head ranked **#{rank} of {imp.delta.size}** by how much "
              f"its removal lowers the score (scan: {imp.delta[head]:+.4f})."
            + _mode_note(state, mode)}


def on_top_k(ctx: AppContext, state, mode, k, stat, progress=gr.Progress()) -> dict:
    """Remove the k heads the scan ranks most important, and for comparison the k heads with
    the highest attention statistic: the lesson in one line."""
    if state is None:
        raise InputError("Press “Scan every head” first: the ranking comes from the scan.")
    report = reporter(progress)
    k = max(1, min(int(k), state["imp"].delta.size))
    by_importance = state["imp"].top(k)
    values = state["stats"][stat]                                         # [layer, head]
    order = values.ravel().argsort()[::-1][:k]
    by_attention = [divmod(int(j), values.shape[1]) for j in order]
    a = _ablate(ctx, state, by_importance, mode, report)
    b = _ablate(ctx, state, by_attention, mode, report)
    return {"imp_result": _ablation_words(a, f"Removing the **{k} most important** heads "
                                             f"({heads_words(by_importance)})")
            + "\n\n" + _ablation_words(b, f"Removing the **{k} heads with the highest "
                                          f"{STATS[stat].split(':')[0]}** "
                                          f"({heads_words(by_attention)})")
            + _mode_note(state, mode)}


def on_patch(ctx: AppContext, model_name, custom_model, clean, corrupted, compare, labels_text,
             temperature, target_kind, choice, site, progress=gr.Progress()) -> dict:
    """Copy each activation of the clean run into the corrupted run, one at a time."""
    report = reporter(progress)
    model = resolve_model(ctx, model_name, custom_model, report)
    name = model_label(ctx, model.name)
    kwargs = _target(model, target_kind, compare, labels_text, temperature, choice, name)
    report(0.2, "Patching")
    with api.exclusive(model):
        p = api.patch_activations(model, clean, corrupted, site=site, **kwargs,
                                  should_stop=progress_stop(report, 0.2, 0.95, model.n_layers,
                                                             "Patching"))
    key = input_key(model.name, "", compare, labels_text, temperature)
    best = divmod(int(p.restored.argmax()), p.restored.shape[1])
    where = (f"layer {best[0]} at “{_md(p.tokens[best[1]])}”" if site == "residual"
             else f"head L{best[0]} H{best[1]}")
    return {"patch_key": key, "patch_plot": cfig.patching_figure(p),
            "patch_summary": f"**{_md(name)}** · {_md(p.target)}: clean **{p.clean_value:.4f}**, "
                             f"corrupted **{p.corrupted_value:.4f}** · {p.restored.size} patched "
                             f"runs in {p.seconds:.2f} s · most restored by {where}: "
                             f"**{p.restored.max():.0%}**"}


def _target_controls(c: Components, prefix: str) -> None:
    with gr.Row():
        c[f"{prefix}_target"] = gr.Radio([(v, k) for k, v in TARGETS.items()], value="similarity",
                                         label="Score to measure (uses the second text / labels "
                                               "above)", scale=3)
        c[f"{prefix}_choice"] = gr.Textbox(label="Label, class or token to measure (optional)",
                                           lines=1, scale=1)


def build_importance(ctx: AppContext, c: Components) -> None:
    """The "Head importance" sub-tab (inside the Text tab's gr.Tabs)."""
    c["imp_state"] = gr.State(None)
    gr.Markdown(CAPTIONS["importance"])
    _target_controls(c, "imp")
    with gr.Row():
        c["imp_mode"] = gr.Radio(MODES, value="zero", label="How a head is removed", scale=3)
        c["imp_scan"] = gr.Button("Scan every head", variant="primary", scale=1)
    c["imp_message"] = gr.Markdown(elem_classes=["mm-panel-message", "mm-imp-message"])
    c["imp_summary"] = gr.Markdown()
    c["imp_table"] = gr.Dataframe(
        cfig.empty_importance_table("Press “Scan every head” to fill this table."),
        label="Change of the score when the head is removed (click a head)", interactive=False,
        max_height=420, wrap=False)
    c["imp_result"] = gr.Markdown()
    with gr.Row():
        c["imp_k"] = gr.Slider(1, 12, value=3, step=1, label="k heads", scale=2)
        c["imp_topk"] = gr.Button("Remove the top k heads together", scale=1)
    c["imp_stat"] = gr.Dropdown([(v, k) for k, v in STATS.items()], value="special",
                                label="Attention statistic")
    c["imp_scatter"] = gr.Plot(show_label=False)
    gr.Markdown(CAPTIONS["scatter"])


def build_patching(ctx: AppContext, c: Components) -> None:
    """The "Patching" sub-tab."""
    c["patch_key"] = gr.State(None)           # the inputs above that the last patch used
    gr.Markdown(CAPTIONS["patching"])
    with gr.Row():
        c["patch_clean"] = gr.Textbox(label="Clean text", lines=1,
                                      value="The cat sat on the mat because it was warm.")
        c["patch_corrupted"] = gr.Textbox(label="Corrupted text (same number of tokens)", lines=1,
                                          value="The car sat on the mat because it was warm.")
    _target_controls(c, "patch")
    with gr.Row():
        c["patch_site"] = gr.Radio(SITES, value="residual", label="What is copied", scale=3)
        c["patch_run"] = gr.Button("Patch", variant="primary", scale=1)
    c["patch_message"] = gr.Markdown(elem_classes=["mm-panel-message", "mm-patch-message"])
    c["patch_summary"] = gr.Markdown()
    c["patch_plot"] = gr.Plot(show_label=False)


def build(ctx: AppContext, c: Components) -> None:
    """The "Causal lab" sub-tab of the Text tab: its own two tabs (one tab title in the
    Text tab's row, which is full)."""
    with gr.Tabs():
        with gr.Tab("Head importance"):
            build_importance(ctx, c)
        with gr.Tab("Patching"):
            build_patching(ctx, c)


STALE_OUT = ["imp_state", "imp_table", "imp_summary", "imp_scatter", "imp_result", "patch_key",
             "patch_summary", "patch_plot", "imp_message"]


def wire_after_inspect(ctx: AppContext, c: Components, event) -> None:
    """Chain the staleness check after the Text tab's Inspect event (a private step: the
    public inspect_text endpoint keeps its inputs and outputs)."""
    event.then(bind(on_inspected, ctx, STALE_OUT, "imp_message"),
               [c["state"], c["imp_state"], c["patch_key"]], [c[n] for n in STALE_OUT],
               api_visibility="private", concurrency_limit=None, show_progress="hidden")


def wire(ctx: AppContext, c: Components) -> None:
    comps = picker(c)

    model = {"concurrency_id": "model", "concurrency_limit": ctx.model_concurrency}
    long = {"concurrency_id": "long", "concurrency_limit": 1}       # ui/lanes.py
    quick = {"concurrency_limit": None, "show_progress": "hidden", "api_visibility": "private"}
    text_in = ["model", "custom", "text", "compare", "labels", "temperature"]
    out = ["imp_state", "imp_table", "imp_summary", "imp_scatter", "imp_result", "imp_message"]
    c["imp_scan"].click(bind(gpu(on_scan), ctx, out, "imp_message", release=True),
                        comps([*text_in, "imp_target", "imp_choice", "imp_mode", "imp_stat"]),
                        comps(out), api_name="head_importance", **long)
    out = ["imp_table", "imp_result", "imp_message"]
    c["imp_table"].select(bind(gpu(on_head_click), ctx, out, "imp_message"),
                          comps(["imp_state", "imp_mode"]), comps(out), api_visibility="private",
                          **model)
    out = ["imp_result", "imp_message"]
    c["imp_topk"].click(bind(gpu(on_top_k), ctx, out, "imp_message"),
                        comps(["imp_state", "imp_mode", "imp_k", "imp_stat"]), comps(out),
                        api_visibility="private", **model)
    out = ["imp_scatter", "imp_message"]
    c["imp_stat"].input(bind(redraw_scatter, ctx, out, "imp_message"),
                        comps(["imp_state", "imp_stat"]), comps(out), **quick)
    out = ["patch_key", "patch_summary", "patch_plot", "patch_message"]
    c["patch_run"].click(bind(gpu(on_patch), ctx, out, "patch_message", release=True),
                         comps(["model", "custom", "patch_clean", "patch_corrupted", "compare",
                                "labels", "temperature", "patch_target", "patch_choice",
                                "patch_site"]), comps(out), api_name="patch_activations", **long)
