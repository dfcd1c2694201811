"""A vision–language model (LLaVA family) reading one picture and one prompt: for each token
it writes, how much it read each image token (each patch of the picture), layer by layer and
head by head, and the logit lens at the image and text positions.

    view = mi.inspect_vlm(model, image, "What is in the picture?")
    view.attention                       # float32 [layer, head, written_token, position]
    view.patch_map(0, layer=-1)          # [rows, cols]: the first written token's map, heads averaged
    view = mi.inspect_vlm(model, image, "What is in the picture?", logit_lens=True)

The model writes greedily (at most `max_new_tokens`), or you give the answer (`target_text`)
and it is read in one pass. Either way the attention comes from one pass over the prompt and
the answer, where the row of each writing position sees exactly the tokens before it, as
the step that wrote that token did.
"""
from __future__ import annotations

from ..types import InputError
from ..types.vlm import VLMLens, VLMView
from .images import read_image
from .limits import check_text, limits
from .seq2seq import _new_tokens, adapter_with


def as_vlm_adapter(model):
    return adapter_with(model, "vlm", "does not read pictures inside its text, so it has no "
                        "image tokens; choose a vision–language model such as "
                        "'llava-interleave-qwen-0.5b'.")


def _prompt(prompt, lim) -> str:
    if not isinstance(prompt, str) or not prompt.strip():
        raise InputError("The prompt is empty. Ask something about the picture, e.g. "
                         "'What is in the picture?'")
    check_text(prompt, lim, "The prompt")
    return prompt


def _target_ids(adapter, text, cap: int) -> list[int]:
    if not isinstance(text, str) or not text.strip():
        raise InputError("The answer to read is empty. Type one, or leave it out (None) and the "
                         "model writes its own.")
    ids = adapter.token_ids(text)
    if len(ids) > cap:
        raise InputError(f"The answer is {len(ids)} tokens; at most {cap} are read "
                         "(max_new_tokens). Shorten it or raise max_new_tokens.")
    return ids


def _lens(adapter, inputs, target_ids) -> VLMLens:
    got = adapter.lens(inputs, target_ids)
    seen = sorted(set(got["top_ids"].ravel().tolist()))
    tokens = dict(zip(seen, adapter.tokens(seen)))           # id -> display, each decoded once
    return VLMLens(top_ids=got["top_ids"], top_probs=got["top_probs"], target_probs=got["target_probs"],
                   top_tokens=[[[tokens[i] for i in row] for row in layer]
                               for layer in got["top_ids"].tolist()])


def sequence_tokens(adapter, ids: list[int], positions: list[int], extra: int, cols: int) -> list[str]:
    """Display strings for the sequence read: each image token named by its patch ("<img r2c5>"),
    a leading extra image token as "<img cls>"."""
    shown = adapter.tokens(ids)
    for k, p in enumerate(positions):
        g = k - extra
        shown[p] = "<img cls>" if g < 0 else f"<img r{g // cols}c{g % cols}>"
    return shown


def inspect_vlm(model, image, prompt: str, target_text: str | None = None,
                max_new_tokens: int | None = None, logit_lens: bool = False) -> VLMView:
    """Image-token attention of every layer and head for one picture and one prompt.

    model: a loaded vision–language adapter or a registry name ("llava-interleave-qwen-0.5b").
    image: a PIL image, a uint8 array or the bytes of an image file.
    target_text: None: the model writes its answer (greedy, at most `max_new_tokens` tokens,
    default 16); a string: the model reads it as its answer (teacher forcing).
    logit_lens: also read every layer at every position through the output head (`view.lens`).
    """
    lim = limits()                  # every limit before any model work (api/limits.py)
    prompt = _prompt(prompt, lim)
    if target_text is not None:
        check_text(target_text, lim, "The answer")
    cap = _new_tokens(max_new_tokens, lim)
    picture = read_image(image)
    adapter = as_vlm_adapter(model)
    inputs = adapter.prepare(picture, prompt)
    if target_text is not None:
        target_ids, generated, stopped = _target_ids(adapter, target_text, cap), False, "given"
    else:
        target_ids, generated = adapter.generate(inputs, cap), True
        if not target_ids:
            raise InputError("The model wrote nothing for this prompt; give it an answer to read "
                             "(target_text) or change the prompt.")
        stopped = "end" if target_ids[-1] == adapter.end_id else "max_new_tokens"
    ids = inputs["input_ids"][0].tolist() + list(target_ids[:-1])
    positions = adapter.image_positions(inputs["input_ids"])
    extra = len(positions) - adapter.rows * adapter.cols
    return VLMView(
        model=adapter.name, prompt=prompt,
        tokens=sequence_tokens(adapter, ids, positions, extra, adapter.cols),
        image_positions=positions, rows=adapter.rows, cols=adapter.cols, extra_image_tokens=extra,
        prompt_length=inputs["input_ids"].shape[1], target_tokens=adapter.tokens(target_ids),
        target_ids=list(target_ids), generated=generated, stopped=stopped,
        attention=adapter.read(inputs, target_ids), image=adapter.seen_image(inputs["pixel_values"]),
        lens=_lens(adapter, inputs, target_ids) if logit_lens else None)
