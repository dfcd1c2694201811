"""The "Can I trust this map?" panel: the sanity check of chosen methods on this model and
input (runs on demand, with progress, in the shared model queue), the shipped sanity table,
and the caveat badges next to a map.

The Attributions tab builds it as one of its sub-tabs (`build`), wires it (`wire`) with the
names of its target inputs, and calls `badges` after each map. Handlers follow ui/events.py:
a problem is a message (toast + message line), nothing drawn is wiped.
"""
from __future__ import annotations

import html

import gradio as gr

from .. import api
from ..figures import trust as fig
from ..types import InputError, SanityCheck
from .events import MESSAGE, bind, client_left, reporter
from .gpu import gpu
from .text_targets import check_target_fits, target_kwargs

DEFAULT_METHODS = ("integrated_gradients", "saliency", "input_x_gradient")
CAPTION = (
    "**Can I trust this map?** A map should explain *this trained model*. The sanity check "
    "(Adebayo et al. 2018) re-initialises the model's blocks from the top down, on a copy, and "
    "recomputes the map after each: a map that still ranks the words the same way with half "
    "the model random shows the input and the baseline more than what the model learned. "
    "The line is the rank correlation (Spearman, the larger of signed scores and |scores|) "
    "with the trained model's map; a method **passes** when its mean over the shaded steps "
    "(top half random or more) is below the dashed line. The check also explains a *random* "
    "target (another second text or label) with the trained model: a map that does not "
    "change then is not about your target. One input is noisy (few words); the table below "
    "averages several.")


def _labels() -> dict[str, str]:
    return {m["name"]: m["label"] for m in api.list_attribution_methods()}


def badges(attr, checks: dict | None = None) -> str:
    """The caveat badges of one map: from its numbers, and from a sanity check run here (or
    else the shipped table)."""
    if attr is None:
        return ""
    sanity = (checks or {}).get(attr.method)
    if sanity is not None and sanity.model_name != attr.model_name:
        sanity = None
    return fig.caveats_html(api.caveats(attr, sanity=sanity,
                                        method_label=_labels().get(attr.method, attr.method)))


def comparison_caveats(comparison) -> dict:
    """{method: its caveats} for every row of a method comparison."""
    labels = _labels()
    return {r.method: api.caveats(r, method_label=labels.get(r.method, r.method))
            for r in comparison.results}


def summary_markdown(checks: list[SanityCheck], labels: dict[str, str] | None = None) -> str:
    """One line per check: the verdict, its score, the random target's correlation, time.
    labels: method -> label (default: the text methods')."""
    labels = _labels() if labels is None else labels
    lines = []
    for c in checks:
        data = ("" if c.data_score is None else
                f"; with a random target ({c.data_target}) ρ = {c.data_score:+.2f}"
                + (f" — **the map hardly changes: it ignores the target** (ρ ≥ "
                   f"{c.data_threshold:g})" if c.target_ignored else ""))
        lines.append(f"- **{labels.get(c.method, c.method)}**: "
                     f"{'passes' if c.passed else '**fails**'} — score {c.score:+.2f} "
                     f"(threshold {c.threshold:g}){data} · {c.seconds:.1f} s")
    notes = {n for c in checks for n in c.notes if "features are compared" in n}
    return "\n".join(lines + [f"\nℹ️ {n}" for n in sorted(notes)])


def run_checks(model, methods, labels: dict, report, **inputs) -> list:
    """`api.sanity_check` of each method in turn on `inputs` (text= or image=, and the
    target), the model held for the whole run; progress spread over the methods, each step
    named, and the run stops if the client leaves. Shared by the text and image panels."""
    checks = []
    with api.exclusive(model):
        for i, m in enumerate(methods):
            def step(f, desc, i=i, m=m):
                report((i + f) / len(methods), f"{labels.get(m, m)}: {desc}")
            checks.append(api.sanity_check(model, method=m, progress=step,
                                           should_stop=client_left, **inputs))
    return checks


def on_sanity(ctx, model_name, custom_model, text, target_kind, compare, labels_text, label,
              choice, baseline, methods, attr, progress=gr.Progress()) -> dict:
    """Run the sanity check of each chosen method on this input; redraw the curves and the
    current map's badges."""
    from .model_picker import model_label, resolve_model
    if not methods:
        raise InputError("Choose at least one method to check (the boxes above the button).")
    report = reporter(progress)
    model = resolve_model(ctx, model_name, custom_model, report)
    check_target_fits(model, target_kind, model_label(ctx, model.name))
    kwargs = target_kwargs(target_kind, compare, labels_text, label, choice)
    labels = _labels()
    checks = run_checks(model, methods, labels, report, text=text, baseline=baseline, **kwargs)
    by_method = {c.method: c for c in checks}
    return {"sanity_state": by_method, "sanity_plot": fig.sanity_figure(checks, labels),
            "sanity_summary": summary_markdown(checks, labels), "caveats": badges(attr, by_method)}


def build(ctx) -> dict:
    """The panel's components (inside the current Tab)."""
    labels = _labels()
    c = {"sanity_state": gr.State(None)}
    gr.Markdown(CAPTION)
    c["sanity_methods"] = gr.CheckboxGroup([(v, k) for k, v in labels.items()],
                                           value=list(DEFAULT_METHODS), label="Methods to check")
    c["sanity_run"] = gr.Button("Run the sanity check")
    c["sanity_summary"] = gr.Markdown()
    c["sanity_plot"] = gr.Plot(show_label=False)
    gr.Markdown("**Measured on the bundled models** (python -m mminspect.lab.sanity_table; "
                "the badge “failed the sanity check” reads this table):")
    image = {m["name"]: m["label"] for m in api.list_image_methods()}
    c["sanity_table"] = gr.HTML(fig.sanity_table_html(api.shipped_sanity(wait=False),
                                                      {"text": labels, "image": image}))
    return c


def wire(ctx, c: dict, target: list[str]) -> None:
    """Bind the button: the target inputs (named as in the Attributions tab), the chosen
    methods and the current map in; curves, summary, badges and the message line out."""
    out = ["sanity_state", "sanity_plot", "sanity_summary", "caveats", MESSAGE]
    c["sanity_run"].click(
        bind(gpu(on_sanity), ctx, out, release=True),
        [c[n] for n in [*target, "baseline", "sanity_methods", "state"]], [c[n] for n in out],
        api_name="sanity_check", concurrency_id="long", concurrency_limit=1)


def image_trust_html(attrs: list) -> str:
    """For the Image–text tab's "Every method": each method's caveat badges and the
    agreement matrix of their maps, as HTML under its table (no extra component)."""
    if not attrs:
        return ""
    labels = {m["name"]: m["label"] for m in api.list_image_methods()}
    parts = []
    for a in attrs:                         # one line per map that has caveats, not a wall
        cav = api.caveats(a, method_label=labels.get(a.method, a.method))
        if cav:
            name = html.escape(labels.get(a.method, a.method))
            parts.append("<div style='display:flex;flex-wrap:wrap;gap:0 8px;align-items:"
                         f"baseline'><b>{name}</b>{fig.caveats_html(cav)}</div>")
    head = ("<p style='margin:8px 0 2px'><b>Caveats</b> (hover a badge, or open “why?”):</p>"
            if parts else "")
    grid = fig.agreement_html(api.method_agreement(attrs), labels)
    return (head + "".join(parts) + "<details style='margin-top:8px'><summary style='cursor:"
            f"pointer'><b>Where methods agree</b> ({len(attrs)} × {len(attrs)} grid)</summary>"
            f"{grid}</details>")
