"""The vision–language view (LLaVA family): the picture's patches become image tokens in the
language model's own sequence, so each token the model writes reads the picture through its
ordinary self-attention. One run writes the answer (or reads a given one) and keeps every
written token's attention and the logit lens; the layer, head and written-token controls only
redraw from the kept result (no model run)."""
from __future__ import annotations

import gradio as gr

from .. import api
from ..figures import seq2seq as figs
from ..types import InputError
from .context import AppContext
from .events import MESSAGE, Components, bind, message_markdown, picker
from .model_picker import build_picker, resolve_model
from .seq2seq_view import chosen, control_updates, head_choices, wire_views

MESSAGE_CLASS = "mm-vlm"         # this view's own message line (the tab holds two)
PROMPT = "What is in the picture?"
INTRO = ("A **vision–language model** cuts the picture into patches and turns each patch into "
         "one **image token**, placed in its text before the prompt. The language model then "
         "reads words and patches as one sequence, so each token it writes can attend to any "
         "patch. Pick a written token: its map shows how much it read each patch, in one layer "
         "(heads averaged or one head). The **logit lens** reads each layer through the "
         "model's output head, at the image tokens and at the text.")


def _picture(example, upload):
    """The uploaded file when there is one (decoded here, with the app's limits), else the
    picked example's picture."""
    if upload is not None:
        return api.read_image(upload, "the uploaded image")
    if not example:
        raise InputError("No picture: pick an example or upload an image (PNG, JPEG, GIF, BMP, WebP).")
    return api.load_example(example).image


def _redraw(state, layer, head, token) -> dict:
    view, layer, h, t = chosen(state, layer, head, token, "the language model")
    label = f"What {view.target_tokens[t]!r} read: layer {layer}, {figs.head_name(h)}"
    return {"map": gr.update(value=figs.patch_map_image(view, t, layer, h), label=label),
            "heads": figs.head_gallery(view, t, layer),
            "share": figs.image_share_figure(view, t), "image_lens": figs.image_lens_figure(view, layer),
            "text_lens": figs.vlm_text_lens_figure(view)}


def _summary(view) -> str:
    how = {"end": "it wrote its end token", "max_new_tokens": "it reached the token cap",
           "given": "given, read in one pass"}[view.stopped]
    answer = " ".join(f"`{t}`" for t in view.target_tokens)
    extra = " and one [CLS] token" if view.extra_image_tokens else ""
    return (f"**{'Written' if view.generated else 'Answer'}** ({len(view.target_tokens)} tokens; "
            f"{how}): {answer}\n\nThe picture: {view.rows} × {view.cols} patches = "
            f"{view.rows * view.cols} image tokens{extra}, in a sequence of {view.prompt_length} "
            f"prompt tokens · {view.n_layers} layers × {view.n_heads} heads")


def on_example(ctx: AppContext, example) -> dict:
    """The example's picture; the upload box is emptied (an upload would win at Run)."""
    return {"preview": _example_picture(example), "upload": None}


def on_upload(ctx: AppContext, data) -> dict:
    """Show the uploaded picture, decoded here (Pillow, the app's limits). A file that is not
    a picture empties the preview and says so: Run would refuse it too."""
    if data is None:
        return {}
    try:
        return {"preview": figs.enlarged(api.read_image(data, "the uploaded image"))}
    except InputError as e:
        gr.Warning(str(e))
        return {"preview": None, MESSAGE: message_markdown(str(e))}


def on_upload_clear(ctx: AppContext, example) -> dict:
    """The upload removed (its ×): the example's picture is what Run reads again."""
    return {"preview": _example_picture(example)}


def _example_picture(example):
    return figs.enlarged(api.load_example(example).image) if example else None


def on_run(ctx: AppContext, model_name, custom, example, upload, prompt, answer, max_new,
           layer, head, token, progress=gr.Progress()) -> dict:
    """Load the model, write (or read) the answer, keep the view; draw every figure."""
    if not isinstance(prompt, str) or not prompt.strip():        # before any model loads
        raise InputError("The prompt is empty. Ask something about the picture, e.g. " + repr(PROMPT))
    image = _picture(example, upload)
    model = resolve_model(ctx, model_name, custom, progress)
    progress(0.4, desc="Running the model")
    with api.exclusive(model):
        view = api.inspect_vlm(model, image, prompt, target_text=(answer or "").strip() or None,
                               max_new_tokens=int(max_new), logit_lens=True)
    state = {"view": view}
    controls, first = control_updates(view, layer, head)
    return _redraw(state, *first) | controls | {
        "state": state, "summary": _summary(view), "preview": figs.seen_picture(view)}


def on_redraw(ctx: AppContext, state, layer, head, token) -> dict:
    return _redraw(state, layer, head, token)


REDRAW = ["map", "heads", "share", "image_lens", "text_lens", MESSAGE]
RUN = ["state", "summary", "preview", "layer", "head", "token", *REDRAW]


def build(ctx: AppContext) -> Components:
    c = Components()
    lim = api.limits()
    examples = api.list_examples()
    gr.Markdown(INTRO)
    with gr.Row():
        with gr.Column(scale=1):
            c["model"], c["custom"] = build_picker(ctx, "vlm")
            c["example"] = gr.Dropdown(examples, value=examples[0], label="Example picture")
            c["upload"] = gr.File(label="…or upload an image (PNG, JPEG, GIF, BMP, WebP)",
                                  file_types=["image"], type="binary", height=120)
            c["preview"] = gr.Image(_example_picture(examples[0]), label="Picture",
                                    interactive=False, height=240)
        with gr.Column(scale=2):
            c["prompt"] = gr.Textbox(PROMPT, label="Prompt")
            c["answer"] = gr.Textbox("", label="Answer to read (empty: the model writes it)")
            c["max_new"] = gr.Slider(1, lim.max_new_tokens, value=min(8, lim.max_new_tokens),
                                     step=1, label="Tokens to write at most")
            c["run"] = gr.Button("Run", variant="primary")
            c[MESSAGE] = gr.Markdown(elem_classes=["mm-message", MESSAGE_CLASS])
            c["summary"] = gr.Markdown()
    with gr.Row():
        c["layer"] = gr.Slider(0, 23, value=23, step=1, label="Layer")
        c["head"] = gr.Dropdown(head_choices(14), value=figs.MEAN, label="Head")
        c["token"] = gr.Dropdown([], value=None, label="Written token")
    c["state"] = gr.State(None)
    with gr.Tab("Written token → patches"):
        with gr.Row():
            c["map"] = gr.Image(label="The written token's map over the picture", interactive=False, height=380)
            c["heads"] = gr.Gallery(label="Head by head", columns=4, height=380)
        c["share"] = gr.Plot(show_label=False)
    with gr.Tab("Logit lens"):
        c["image_lens"] = gr.Plot(show_label=False)
        c["text_lens"] = gr.Plot(show_label=False)
    wire(ctx, c)
    return c


def wire(ctx: AppContext, c: Components) -> None:
    comps = picker(c)
    inputs = ["model", "custom", "example", "upload", "prompt", "answer", "max_new",
              "layer", "head", "token"]
    wire_views(ctx, c, on_run, inputs, RUN, on_redraw, REDRAW, "inspect_vlm")
    c["example"].input(bind(on_example, ctx, ["preview", "upload", MESSAGE]), c["example"],
                       comps(["preview", "upload", MESSAGE]), api_name="vlm_example",
                       show_progress="hidden")
    c["upload"].upload(bind(on_upload, ctx, ["preview", MESSAGE]), c["upload"],
                       comps(["preview", MESSAGE]), api_visibility="private", show_progress="hidden")
    c["upload"].clear(bind(on_upload_clear, ctx, ["preview", MESSAGE]), c["example"],
                      comps(["preview", MESSAGE]), api_visibility="private", show_progress="hidden")
