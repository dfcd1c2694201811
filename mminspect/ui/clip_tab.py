"""The Image–text tab: how a CLIP-style model picks a label (cosine -> logit scale ->
softmax), which patches and words carried it, and attention over the patch grid.

`on_inspect` runs the model once (similarity for every image, relevance and patch-text
similarity for every prompt, batched) and keeps the results in `gr.State`; contrast maps,
attention sliders and the text-tower view only redraw. "Every method" runs the captum
methods on one prompt, with their faithfulness numbers.
"""
from __future__ import annotations

import html

import gradio as gr
import numpy as np

from .. import api, figures
from ..figures import clip as cfig
from ..types import AttentionMaps, InputError
from .context import AppContext
from .errors import user_errors
from .inputs import parse_prompts
from .gpu import gpu
from .model_picker import build_picker, resolve_model

CAPTIONS = {
    "steps": "**The prediction, step by step.** (1) the cosine between the image's embedding and "
             "each prompt's; (2) times the model's learned logit scale (1 / temperature) gives "
             "the logits; (3) the softmax over *these prompts* gives the probabilities. Small "
             "cosine gaps become large probability gaps: that is the temperature at work. The "
             "probabilities depend on which prompts you list.",
    "relevance": "**Why this label** — gradient-weighted attention relevance (Chefer et al. "
                 "2021), one map per prompt on one shared colour scale: bright patches carried "
                 "the prompt's logit. Below: the prompt's words shaded by the same relevance in "
                 "the text tower.",
    "similarity": "**Patch–text similarity**: each patch's own projected feature against the "
                  "prompt (red = closer than average, blue = farther), with no gradients — a "
                  "zero-shot localisation. It reads patch tokens the model never compares with "
                  "text in training, so it is noisier than relevance.",
    "contrast": "**Why A rather than B**: A's relevance minus B's (red = evidence for A, blue = for B).",
    "methods": "**Every method on one prompt**, each on its own scale. *Deletion / insertion*: "
               "remove (or add back) patches in the map's order and watch the prompt's logit; "
               "the area between that curve and a random order (> 0 = better than chance). "
               "*Pointing*: on a mini-CLIP scene, whether the map's peak falls on the named object.",
    "attention": "**Attention over patches**: where one query token of the image tower looks. "
                 "Pick [CLS] or a patch in the list, or click the image to use the patch under "
                 "the pointer (outlined in green).",
    "text": "**The prompt's attention** in the text tower, all layers × heads (as in the Text tab).",
    "pca": "**Embedding space**: the image and prompt embeddings projected on their first two "
           "principal components. Images and texts form two separate clouds — the 'modality "
           "gap' — so only the *relative* closeness to each prompt matters.",
}


def pointing_markdown() -> str:
    """The measured pointing-game table, with where it came from (or how to make it)."""
    rec = api.pointing_results()
    if rec is None:
        return ("*No pointing-game table shipped: run `python -m mminspect.explain.pointing "
                "--json assets/miniclip/pointing.json`.*")
    res = rec["results"]
    rows = sorted(((m, r["hit_rate"]) for m, r in res.items() if m != "chance"), key=lambda x: -x[1])
    table = "| map | peak on the named object |\n|---|---|\n" + "".join(
        f"| {m.replace('_', ' ')} | {100 * h:.1f} % |\n" for m, h in rows)
    stale = "" if rec["current"] else " ⚠️ measured on other weights than the shipped ones."
    return (f"**Pointing game** on {rec['n']} held-out two-object mini-CLIP scenes (seed "
            f"{rec['seed']}; chance {100 * res['chance']:.1f} %): does the map's peak patch lie "
            f"on the object the prompt names?{stale}\n\n{table}\nReproduce: `{rec['command']}`")


def _contrast(state, a: str, b: str):
    expl = state["expl"]
    if a not in expl.prompts or b not in expl.prompts:
        raise InputError("Pick two of the prompts for the contrast.")
    ma, mb = expl.maps[expl.prompts.index(a)], expl.maps[expl.prompts.index(b)]
    diff = ma.patch_scores - mb.patch_scores                                 # [rows, cols]
    return (cfig.overlay(ma.image, diff, signed=True),
            f"logit({html.escape(a)}) − logit({html.escape(b)}) = "
            f"**{ma.target_value - mb.target_value:+.3f}**")


def _query_index(state, query: str) -> int:
    tokens = state["view"].image_tokens
    return tokens.index(query) if query in tokens else 0


def _text_attention(state, prompt: str):
    view = state["view"]
    text = view.texts[view.prompts.index(prompt)] if prompt in view.prompts else view.texts[0]
    w = text.attention
    causal = bool(np.allclose(np.triu(w, k=1), 0))
    maps = AttentionMaps(weights=w, tokens=text.tokens, special=text.special, causal=causal)
    return figures.model_view(maps)


def make_on_inspect(ctx: AppContext):
    @user_errors
    @gpu
    def on_inspect(model_name, custom_model, image, more_images, prompts_text, template,
                   example, progress=gr.Progress()):
        model = resolve_model(ctx, model_name, custom_model, progress)
        if image is None:
            raise InputError("Upload an image or pick an example.")
        images = [image] + [item[0] for item in (more_images or [])]
        prompts = parse_prompts(prompts_text)
        template = (template or "").strip() or None
        progress(0.3, desc="Similarity of every image to every prompt")
        view = api.inspect_clip(model, images, prompts, template)
        progress(0.6, desc="Relevance maps of every prompt (one batched backward)")
        expl = api.explain_prompts(model, image, prompts, template, similarity=True)
        state = {"view": view, "expl": expl, "example": example}
        probs = dict(zip(view.prompts, view.probs[0].astype(float)))
        rel = [(cfig.overlay(m.image, m.patch_scores, expl.vmax),
                f"{m.prompt} · p = {probs[m.prompt]:.2f}") for m in expl.maps]
        sims = [(cfig.overlay(m.image, m.patch_scores - m.patch_scores.mean(), signed=True),
                 m.prompt) for m in expl.similarity]
        words = "<br>".join(f"<b>{html.escape(m.prompt)}</b>: "
                            + cfig.word_relevance_html(m.words, m.word_scores)
                            for m in expl.maps if m.words)
        order = list(np.argsort(-view.probs[0]))
        a, b = view.prompts[order[0]], view.prompts[order[1 if len(order) > 1 else 0]]
        n_layers, n_heads = view.image_attention.shape[1:3]
        summary = (f"**{html.escape(model.name)}** on {model.device} · best match: "
                   f"**{html.escape(view.top(0))}** (p = {view.probs[0].max():.2f}) · "
                   f"logit scale {view.logit_scale:.1f} · {view.grid_rows}×{view.grid_cols} "
                   f"patches · maps in {expl.seconds:.2f} s")
        notes = "\n\n".join(f"⚠️ {html.escape(n)}" for n in dict.fromkeys(view.notes + expl.notes))
        choices = gr.update(choices=view.prompts, value=a)
        return (state, probs, summary, notes, cfig.prediction_steps_figure(view),
                cfig.similarity_matrix_figure(view),
                rel, sims, words, cfig.embedding_figure(view),
                *(_contrast(state, a, b) if a != b else (None, "")),
                choices, gr.update(choices=view.prompts, value=b), choices, choices,
                gr.update(maximum=n_layers - 1, value=n_layers - 1),
                gr.update(maximum=n_heads - 1, value=0),
                gr.update(choices=view.image_tokens, value=view.image_tokens[0]),
                cfig.attention_over_patches(view, 0, n_layers - 1, 0, 0),
                _text_attention(state, a))
    return on_inspect


def make_on_all_methods(ctx: AppContext):
    @user_errors
    @gpu
    def on_all_methods(model_name, custom_model, state, prompt, progress=gr.Progress()):
        if state is None:
            raise InputError("Press Inspect first.")
        model = resolve_model(ctx, model_name, custom_model, progress)
        image = state["view"].images[0]
        mask = None
        if state["example"]:
            mask = api.load_example(state["example"]).masks.get(prompt)
        gallery, rows = [], []
        methods = api.list_image_methods()
        for i, m in enumerate(methods):
            start, span = 0.1 + 0.85 * i / len(methods), 0.85 / len(methods)
            progress(start, desc=m["label"])

            def report(fraction, desc, start=start, span=span):   # IG reports its steps
                progress(start + span * fraction, desc=desc)

            attr = api.attribute_image(model, image, prompt, method=m["name"], faithfulness=True,
                                       mask=None if mask is None else _resize_mask(mask, image),
                                       progress=report)
            gallery.append((cfig.overlay(attr.image, attr.patch_scores, signed=m["signed"]), m["label"]))
            f = attr.faithfulness
            hit = "—" if attr.pointing_hit is None else ("✅" if attr.pointing_hit else "❌")
            rows.append(f"<tr><td>{html.escape(m['label'])}</td><td>{f.deletion_area:+.3f}</td>"
                        f"<td>{f.insertion_area:+.3f}</td><td>{hit}</td><td>{attr.seconds:.2f} s</td></tr>")
        table = ("<table><tr><th>method</th><th>deletion area</th><th>insertion area</th>"
                 "<th>pointing</th><th>time</th></tr>" + "".join(rows) + "</table>")
        return gallery, table
    return on_all_methods


def _resize_mask(mask: np.ndarray, image: np.ndarray) -> np.ndarray:
    """An example's mask is drawn at the example's own size, which is the image's (scenes are
    square and unresized); anything else has no trustworthy mask."""
    return mask if mask.shape == image.shape[:2] else None


@user_errors
def redraw_contrast(state, a, b):
    if state is None:
        raise InputError("Press Inspect first.")
    return _contrast(state, a, b)


@user_errors
def redraw_attention(state, layer, head, query):
    if state is None:
        raise InputError("Press Inspect first.")
    return cfig.attention_over_patches(state["view"], 0, int(layer), int(head),
                                       _query_index(state, query))


def on_patch_select(state, evt: gr.SelectData):
    """Clicking the attention image picks the patch under the pointer as the query."""
    if state is None or evt.index is None:
        return gr.update()
    view = state["view"]
    x, y = evt.index
    size = cfig.upscale(view.images[0]).shape[0]
    r, c = int(y) * view.grid_rows // size, int(x) * view.grid_cols // size
    offset = len(view.image_tokens) - view.grid_rows * view.grid_cols
    return gr.update(value=view.image_tokens[offset + r * view.grid_cols + c])


@user_errors
def redraw_text_attention(state, prompt):
    if state is None:
        raise InputError("Press Inspect first.")
    return _text_attention(state, prompt)


def forget_example():
    """An uploaded image is not the example any more: its object masks no longer apply."""
    return None


def on_example(title):
    ex = api.load_example(title)
    return ex.image, "\n".join(ex.prompts), ex.template or "", title


def build(ctx: AppContext) -> None:
    """Lay out the Image–text tab inside the current Blocks and wire its events."""
    state, example = gr.State(None), gr.State(None)
    examples = api.list_examples()
    first = api.load_example(examples[0])
    with gr.Row():
        with gr.Column(scale=2):
            image = gr.Image(type="pil", label="Image", value=first.image, height=280,
                             sources=["upload", "clipboard"])
            more = gr.Gallery(type="pil", label="More images (optional): an images × prompts matrix",
                              height=120, columns=6)
        with gr.Column(scale=3):
            pick = gr.Dropdown(examples, value=examples[0], label="Example")
            prompts = gr.Textbox(label="Prompts, one per line", lines=5, value="\n".join(first.prompts))
            template = gr.Textbox(label="Template (optional), e.g. a photo of {}", value="")
            model, custom = build_picker(ctx, "image")
            run = gr.Button("Inspect", variant="primary")
    notes = gr.Markdown()
    with gr.Row():
        label = gr.Label(label="Probabilities", num_top_classes=8)
        summary = gr.Markdown()
    with gr.Tabs():
        with gr.Tab("Prediction"):
            steps = gr.Plot(show_label=False)
            gr.Markdown(CAPTIONS["steps"])
            matrix = gr.Plot(show_label=False)
        with gr.Tab("Why this label"):
            rel = gr.Gallery(label="Relevance", columns=5, height="auto")
            words = gr.HTML()
            gr.Markdown(CAPTIONS["relevance"])
            sims = gr.Gallery(label="Patch–text similarity", columns=5, height="auto")
            gr.Markdown(CAPTIONS["similarity"])
        with gr.Tab("A rather than B"):
            with gr.Row():
                a = gr.Dropdown(label="A")
                b = gr.Dropdown(label="B")
            contrast = gr.Image(label="A − B", interactive=False, height=360)
            contrast_md = gr.Markdown()
            gr.Markdown(CAPTIONS["contrast"])
        with gr.Tab("Every method"):
            with gr.Row():
                method_prompt = gr.Dropdown(label="Prompt")
                run_all = gr.Button("Run every method on this prompt")
            method_maps = gr.Gallery(label="Maps", columns=4, height="auto")
            method_table = gr.HTML()
            gr.Markdown(CAPTIONS["methods"])
            gr.Markdown(pointing_markdown())
        with gr.Tab("Attention over patches"):
            with gr.Row():
                layer = gr.Slider(0, 1, value=0, step=1, label="Layer")
                head = gr.Slider(0, 1, value=0, step=1, label="Head")
                query = gr.Dropdown(label="Query token")
            patches = gr.Image(label="Attention", interactive=False, height=380)
            gr.Markdown(CAPTIONS["attention"])
        with gr.Tab("Prompt attention"):
            text_prompt = gr.Dropdown(label="Prompt")
            text_att = gr.Plot(show_label=False)
            gr.Markdown(CAPTIONS["text"])
        with gr.Tab("Embedding space"):
            pca = gr.Plot(show_label=False)
            gr.Markdown(CAPTIONS["pca"])
    pick.change(on_example, pick, [image, prompts, template, example], api_visibility="private")
    image.upload(forget_example, None, example, api_visibility="private")
    run.click(make_on_inspect(ctx), [model, custom, image, more, prompts, template, example],
              [state, label, summary, notes, steps, matrix, rel, sims, words, pca, contrast,
               contrast_md, a, b, method_prompt, text_prompt, layer, head, query, patches, text_att],
              api_name="inspect_clip", concurrency_id="model", concurrency_limit=1)
    for control in (a, b):
        control.input(redraw_contrast, [state, a, b], [contrast, contrast_md], api_visibility="private")
    for control in (layer, head, query):
        control.input(redraw_attention, [state, layer, head, query], patches,
                      api_visibility="private", trigger_mode="always_last", show_progress="hidden")
    query.change(redraw_attention, [state, layer, head, query], patches, api_visibility="private",
                 show_progress="hidden")
    patches.select(on_patch_select, state, query, api_visibility="private")
    text_prompt.input(redraw_text_attention, [state, text_prompt], text_att, api_visibility="private")
    run_all.click(make_on_all_methods(ctx), [model, custom, state, method_prompt],
                  [method_maps, method_table], api_name="explain_methods",
                  concurrency_id="model", concurrency_limit=1)
