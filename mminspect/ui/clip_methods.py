"""The Image–text tab's "Every method" panel: every image explainer on one prompt, with
deletion / insertion, pointing and energy-in-mask on a mini-CLIP (or mini-CLIP 2) example
scene, and the shipped pointing-game table of the model in use, which it is read against. clip_tab.py lays the panel out and wires it."""
from __future__ import annotations

import html

import gradio as gr

from .. import api
from ..figures import clip as cfig
from ..types import InputError
from . import trust_panel
from .context import AppContext
from .events import reporter
from .model_picker import resolve_model
from .words import param_words


def _percent(share: float | None) -> str:
    return "—" if share is None else f"{100 * share:.1f} %"      # "—": a table from before energy


def pointing_markdown(model: str = "miniclip") -> str:
    """The pointing-game table measured on `model` (a bundled mini-CLIP), with where it came
    from and its parameters; for another model, how to measure one."""
    rec = api.pointing_results(model, wait=False)     # a page never waits for a re-check
    if rec is None:
        return (f"*No pointing-game table shipped for {html.escape(model)}: the bundled mini-CLIPs "
                f"have one each. Measure it with `python -m mminspect.lab.pointing --model "
                f"{html.escape(model)} --json assets/{html.escape(model)}/pointing.json` "
                "(its scenes are mini-CLIP's own, so read it against a mini-CLIP's).*")
    res = rec["results"]
    labels = {m["name"]: m["label"] for m in api.list_image_methods()}
    rows = sorted(((m, r["hit_rate"], r.get("energy")) for m, r in res.items()
                   if isinstance(r, dict)), key=lambda x: -x[1])       # skip the chance levels
    table = ("| map | peak on the named object | positive mass on it |\n|---|---|---|\n"
             + "".join(f"| {html.escape(labels.get(m, m))} | {100 * h:.1f} % | {_percent(e)} |\n"
                       for m, h, e in rows))
    # what to trust for localisation, read off this table (never hard-coded: it follows a re-run)
    best = max(rows, key=lambda r: r[1], default=None)
    mass = max((r for r in rows if r[2] is not None), key=lambda r: r[2], default=None)
    verdict = "" if best is None else (f"\n\nOn these scenes the peak is most often right with "
               f"**{html.escape(labels.get(best[0], best[0]))}**"
               + (f"; the most positive mass on the object: "
                  f"**{html.escape(labels.get(mass[0], mass[0]))}**" if mass else "")
               + ". Maps near chance here do not localise on this model (which maps to trust for "
                 "what, and why: docs/image-explainers.md in the repository).")
    stale = ("" if rec.get("current") else
             f" ⚠️ stale: {rec.get('stale_reason') or 'measured on other weights or code'}.")
    params = rec.get("params") or {}
    used = "; ".join(f"{labels.get(m, m)}: " + ", ".join(f"{param_words(k)[0].lower()} {v}"
                                                          for k, v in p.items())
                     for m, p in params.items() if isinstance(p, dict) and p)
    used = f"\n\nParameters: {used}." if used else ""
    world = ("mini-CLIP 2 world scenes (any background, shapes and everyday things, "
             "sometimes overlapping)" if rec.get("scenes") == "world" else "mini-CLIP scenes")
    name = next((m["label"].split(" · ")[0] for m in api.list_models() if m["name"] == model), model)
    return (f"**Pointing game, {html.escape(name)}**, on {rec['n']} held-out two-object "
            f"{world} (seed "
            f"{rec['seed']}; chance {100 * res['chance']:.1f} %): does the map's peak patch lie "
            f"on the object the prompt names? Energy-in-mask: the share of the map's positive "
            f"mass on that object"
            + (f" (a uniform map: {100 * res['energy_chance']:.1f} %)" if "energy_chance" in res
               else "") + f".{stale}\n\n{table}{verdict}{used}\n\n"
            f"Reproduce: `{rec['command']}`")


def on_all_methods(ctx: AppContext, model_name, custom_model, state, prompt,
                   progress=gr.Progress()) -> dict:
    """Every image method on one prompt, with deletion / insertion and (on scenes) pointing."""
    if state is None:
        raise InputError("Press Inspect first.")
    if not prompt:
        raise InputError("Pick a prompt from the list (Inspect fills it with your prompts).")
    report = reporter(progress)
    model = resolve_model(ctx, model_name, custom_model, report)
    image = state["image"]
    mask = api.load_example(state["example"]).masks.get(prompt) if state["example"] else None
    gallery, rows, attrs = [], [], []
    methods = api.list_image_methods()
    for i, m in enumerate(methods):
        start, span = 0.1 + 0.85 * i / len(methods), 0.85 / len(methods)
        report(start, m["label"])

        def step(fraction, desc, start=start, span=span):   # IG reports its steps
            report(start + span * fraction, desc)

        with api.exclusive(model):
            attr = api.attribute_image(model, image, prompt, method=m["name"], faithfulness=True,
                                       mask=mask, progress=step)
        attrs.append(attr)                  # for the badges and the agreement (trust_panel)
        # a taller band: a two-line caption ("Relevance, last layer (Chefer notebook)") fits
        gallery.append((cfig.caption_room(cfig.overlay(attr.image, attr.patch_scores,
                                                       signed=m["signed"]), 100), m["label"]))
        f = attr.faithfulness
        hit = "—" if attr.pointing_hit is None else ("✅" if attr.pointing_hit else "❌")
        rows.append(f"<tr><td>{html.escape(m['label'])}</td><td>{f.deletion_area:+.3f}</td>"
                    f"<td>{f.insertion_area:+.3f}</td><td>{hit}</td><td>{_percent(attr.energy_in_mask)}"
                    f"</td><td>{attr.seconds:.2f} s</td></tr>")
    where = ("" if mask is not None else "<p><i>Pointing needs an example scene's object mask: "
             "pick a mini-CLIP or mini-CLIP 2 example scene and one of its object prompts.</i></p>")
    # word maps of the methods that make one (relevance, last-layer relevance, Grad-ECLIP)
    words = "".join(f"<p><b>{html.escape(m['label'])}</b>, the prompt's words: "
                    f"{cfig.word_relevance_html(a.words, a.word_scores)}</p>"
                    for m, a in zip(methods, attrs) if a.words)
    table = ("<div style='overflow-x:auto'><table><tr><th>method</th><th>deletion area</th><th>insertion area</th>"
             "<th>pointing</th><th>energy in mask</th><th>time</th></tr>" + "".join(rows) + "</table></div>"
             + where + words
             + trust_panel.image_trust_html(attrs))
    return {"method_maps": gallery, "method_table": table, "pointing_md": pointing_markdown(model.name)}
