"""Image-text inspection: the zero-shot prediction step by step, and "why this label" maps.

    view = mi.inspect_clip(model, image, ["a cat", "a dog"], template="a photo of {}", maps=True)
    view.maps.maps[0]                                             # relevance of "a photo of a cat"
    pix = mi.attribute_image(model, image, "a photo of a cat", method="relevance")
    panel = mi.explain_prompts(model, image, view.prompts)        # one map per prompt, shared scale

One click, one pass: the inputs are read, resized and tokenized once (`_read`), both towers
run once (`explain.towers.run_towers`: each image through the image tower, each prompt through
the text tower), and the view and its maps are all derived from that pass.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch
from PIL import Image

from ..explain import softmax
from ..explain.attribution import align_words, word_scores
from ..explain.image_methods import IMAGE_METHODS, ImageQuery, MapOutput
from ..explain.pixel_attribution import patch_faithfulness, patch_problem
from ..explain.pointing import energy_in_mask, pointing_hit
from ..explain.towers import TowerPass, run_towers
from ..models.base import Encoded
from ..models.clip_base import CLIPAdapter
from ..types import ClipView, InputError, PixelAttribution, Progress, PromptExplanations, PromptText
from .adapters import as_adapter_of
from .languages import HAN, prompt_script_note
from .images import clean_prompts, model_mask, model_view, read_image, read_images, resize_note


def as_clip(model) -> CLIPAdapter:
    return as_adapter_of(model, CLIPAdapter, "is not an image-text model; choose a CLIP-style "
                         "model (miniclip, an HF CLIP folder, open_clip:...).")


def _method(method: str):
    if method not in IMAGE_METHODS:
        raise InputError(f"Unknown method {method!r}; choose one of {', '.join(IMAGE_METHODS)}.")
    return IMAGE_METHODS[method]


# How tokenizers write a piece their vocabulary lacks (BERT's WordPiece, SentencePiece);
# byte-level BPE (CLIP, GPT-2) has none: every character maps to some bytes.
UNKNOWN = ("[UNK]", "<unk>")


def unknown_words(prompt: str, enc: Encoded) -> list[str]:
    """The characters of `prompt` the tokenizer turned into an unknown token (emoji, scripts
    outside its vocabulary), in order, once each: the model reads each as the same [UNK]."""
    found: list[str] = []
    for tok, (a, b), special in zip(enc.tokens, enc.offsets, enc.special):
        if not special and tok.split(" ")[0] in UNKNOWN:
            piece = prompt[int(a):int(b)] if b > a else tok
            if piece not in found:
                found.append(piece)
    return found


def _encode(adapter: CLIPAdapter, prompts: list[str], notes: list[str]) -> list[Encoded]:
    encs = [adapter.tokenize(p) for p in prompts]
    chinese = prompt_script_note(adapter, prompts)      # one line for all Chinese prompts
    notes += [chinese] if chinese else []
    for p, e in zip(prompts, encs):
        if e.n_dropped:
            notes.append(f"Prompt {p[:40]!r} is longer than the text tower's limit: its last "
                         f"{e.n_dropped} tokens were dropped.")
        unknown = unknown_words(p, e)
        if unknown and not (chinese and HAN.search(p)):
            what = (f"{unknown[0]!r}, so the model reads it as the unknown token [UNK]"
                    if len(unknown) == 1 else
                    f"{', '.join(repr(u) for u in unknown)}, so the model reads each as the same "
                    "unknown token [UNK] (it cannot tell them apart)")
            notes.append(f"Prompt {p[:40]!r}: the tokenizer does not know {what}; the map "
                         "and the score see no meaning there. Use plain words.")
    return encs


@dataclass(frozen=True)
class _Inputs:
    """One click's inputs, read, resized and tokenized once. pixels: [image, 3, H, W] as the
    model takes them; views: uint8 [image, H, W, 3] as it sees them (for overlays)."""

    pils: list[Image.Image]
    prompts: list[str]
    encs: list[Encoded]
    pixels: torch.Tensor
    views: np.ndarray
    notes: list[str]


def _read(adapter: CLIPAdapter, pils: list[Image.Image], prompts, template: str | None,
          notes: list[str]) -> _Inputs:
    prompts = clean_prompts(prompts, template, notes)
    encs = _encode(adapter, prompts, notes)
    size = adapter.patch_grid.image_size
    for i, im in enumerate(pils):
        n = resize_note(im, size, "the image" if len(pils) == 1 else f"image {i + 1}")
        notes += [n] if n else []
    return _Inputs(pils=pils, prompts=prompts, encs=encs, pixels=adapter.preprocess(pils),
                   views=np.stack([model_view(im, size) for im in pils]), notes=notes)


def _pca(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows [n, d] -> 2-D coordinates [n, 2] and the share of variance per axis [2]."""
    xc = x - x.mean(0, keepdims=True)
    u, s, _ = np.linalg.svd(xc, full_matrices=False)
    coords = np.zeros((len(x), 2))
    k = min(2, len(s))
    coords[:, :k] = u[:, :k] * s[:k]
    var = np.zeros(2)
    total = float((s ** 2).sum())
    var[:k] = (s[:k] ** 2) / total if total > 0 else 0
    return coords, var


def _view(adapter: CLIPAdapter, inp: _Inputs, towers: TowerPass,
          maps: PromptExplanations | None) -> ClipView:
    """Cosine, logits, probabilities, PCA and attentions, all from the one pass."""
    img, txt = towers.image_embeddings(), towers.text_embeddings()       # [image | prompt, embed]
    cos = img @ txt.T                                                     # [image, prompt]
    scale, bias = float(adapter.logit_scale), float(adapter.logit_bias)
    logits = scale * cos + bias                                           # [image, prompt]
    # CLIP: softmax over the prompts; SigLIP: a sigmoid per pair, prompts independent
    probs = softmax(logits, 1.0) if adapter.link == "softmax" else 0.5 * (1 + np.tanh(logits / 2))
    coords, var = _pca(np.concatenate([img, txt]))
    g = adapter.patch_grid
    texts = []
    for i, (p, e) in enumerate(zip(inp.prompts, inp.encs)):
        w = adapter.text_pool_weights(e)                                  # [token]
        pooled = int(np.argmax(w)) if w.max() == 1 else -1
        texts.append(PromptText(prompt=p, tokens=list(e.tokens), special=e.special,
                                attention=towers.text_attention(i), pooled=pooled,
                                n_dropped=e.n_dropped))
    return ClipView(
        model_name=adapter.name, prompts=inp.prompts, images=inp.views,
        cosine=cos, logit_scale=scale, logits=logits, probs=probs, link=adapter.link,
        logit_bias=bias,
        image_embeddings=img, prompt_embeddings=txt, pca=coords, pca_variance=var,
        grid_rows=g.rows, grid_cols=g.cols, patch_size=g.patch_size,
        image_attention=np.stack([o.attentions.detach().float().cpu().numpy() for o in towers.images]),
        image_tokens=list(towers.images[0].tokens), texts=texts, notes=inp.notes, maps=maps)


def inspect_clip(model, images, prompts, template: str | None = None,
                 maps: bool = False) -> ClipView:
    """Raw cosine, × logit scale (+ bias), softmax over prompts (CLIP) or a sigmoid per
    prompt (SigLIP: `view.link == "sigmoid"`), for one image or several.

    images: a PIL image, a uint8 array, the bytes of an image file, or a list of them.
    prompts: one per line (a string) or a list; template: e.g. "a photo of a {}".
    maps: also the relevance and patch-text similarity maps of every prompt for the FIRST
    image (`view.maps`), from the same forward pass (it then keeps the autograd graph)."""
    adapter = as_clip(model)
    t0 = time.perf_counter()
    notes: list[str] = []
    inp = _read(adapter, read_images(images, notes), prompts, template, notes)
    towers = run_towers(adapter, inp.pixels, inp.encs, keep_graph=maps)
    panel = _panel(adapter, inp, towers, "relevance", True, None, t0, notes=[]) if maps else None
    return _view(adapter, inp, towers, panel)


def _one_prompt(prompt: str, what: str) -> str:
    if not isinstance(prompt, str) or not " ".join(prompt.split()):
        raise InputError(f"The {what} is empty: type a label, e.g. 'a photo of a cat'.")
    return " ".join(prompt.split())


def _words(adapter, prompt: str, enc, scores: np.ndarray | None) -> tuple[list[str], np.ndarray]:
    """Token relevance [token] -> (words, float32 [word]); special tokens (SOT/EOT, [CLS]/[SEP])
    are left out: their relevance is mostly the pooled token's identity."""
    if scores is None:
        return [], np.zeros(0, np.float32)
    words, _, token_word = align_words(prompt, enc.offsets, enc.special)
    s = np.where(enc.special, 0.0, scores)
    return words, word_scores(s, token_word, len(words))


def _result(adapter, out: MapOutput, view: np.ndarray, method: str, prompt: str, contrast,
            enc, seconds: float, params: dict, notes: list[str]) -> PixelAttribution:
    words, ws = _words(adapter, prompt, enc, out.text)
    target = f"logit({prompt!r})" + (f" - logit({contrast!r})" if contrast else "")
    return PixelAttribution(
        scores=out.pixel_scores, patch_scores=out.patch_scores, image=view, method=method,
        prompt=prompt, target=target, target_value=out.target_value, seconds=seconds,
        model_name=adapter.name, contrast=contrast, words=words, word_scores=ws,
        convergence_delta=out.delta, n_steps=out.n_steps, params=params,
        notes=notes + out.notes)


def attribute_image(model, image, prompt: str, method: str = "relevance",
                    contrast: str | None = None, mask=None, faithfulness: bool = False,
                    progress: Progress | None = None,
                    **params) -> PixelAttribution:
    """Why does the model match `image` with `prompt` (rather than `contrast`)?

    method: one of `list_image_methods()`. mask: bool [H, W] at the image's own size (any
    size: it is centre-cropped and resized like the image), the object the prompt names:
    gives `pointing_hit` and `energy_in_mask`. faithfulness: also compute deletion /
    insertion over patches (about 80 extra forwards). progress(fraction, message): IG only."""
    adapter = as_clip(model)
    m = _method(method)
    notes: list[str] = []
    im = read_image(image, "the image", notes)
    prompt = _one_prompt(prompt, "prompt")
    contrast = _one_prompt(contrast, "contrast prompt") if contrast is not None else None
    if contrast == prompt:
        raise InputError("The contrast prompt equals the prompt; 'A rather than A' is zero.")
    size = adapter.patch_grid.image_size
    n = resize_note(im, size, "the image")
    notes += [n] if n else []
    used = m.resolve(params)
    target_mask = None if mask is None else model_mask(mask, im, size)   # checked before the work
    t0 = time.perf_counter()
    pixels = adapter.preprocess([im])                                     # [1, 3, H, W]
    encs = _encode(adapter, [prompt] + ([contrast] if contrast else []), notes)
    query = ImageQuery(adapter, pixels, encs)
    out = m.fn(query, used, progress)
    seconds = time.perf_counter() - t0
    res = _result(adapter, out, model_view(im, size), method, prompt, contrast, encs[0],
                  seconds, used, notes)
    extra = {}
    if target_mask is not None:
        extra["pointing_hit"] = pointing_hit(out.patch_scores, target_mask, adapter.patch_grid)
        extra["energy_in_mask"] = energy_in_mask(out.patch_scores, target_mask, adapter.patch_grid)
    if faithfulness:
        problem = patch_problem(query.forward(), pixels, adapter.patch_grid.patch_size)
        extra["faithfulness"] = patch_faithfulness(problem, out.patch_scores)
    return replace(res, **extra) if extra else res


def _panel(adapter: CLIPAdapter, inp: _Inputs, towers: TowerPass, method: str, similarity: bool,
           contrasts, t0: float, notes: list[str]) -> PromptExplanations:
    """Every prompt's map for the first image, from the pass: the method's `from_pass` where it
    has one (relevance: one batched backward), else one call per prompt."""
    m = IMAGE_METHODS[method]
    view, prompts, encs = inp.views[0], inp.prompts, inp.encs
    t = time.perf_counter()
    outs = m.every_prompt(adapter, towers, encs)
    each = (time.perf_counter() - t) / len(prompts)
    maps = [_result(adapter, o, view, method, p, None, e, each, {}, [])
            for o, p, e in zip(outs, prompts, encs)]
    sims = []
    if similarity:
        t = time.perf_counter()
        outs_s = IMAGE_METHODS["similarity"].every_prompt(adapter, towers, encs)
        each = (time.perf_counter() - t) / len(prompts)
        sims = [_result(adapter, o, view, "similarity", p, None, e, each, {}, [])
                for o, p, e in zip(outs_s, prompts, encs)]
    pairs = {}
    for a, b in contrasts or []:
        if m.from_pass is not None and a in prompts and b in prompts:   # map(A) - map(B)
            ma, mb = maps[prompts.index(a)], maps[prompts.index(b)]
            patch = ma.patch_scores - mb.patch_scores                     # [rows, cols]
            out = MapOutput(patch, ma.scores - mb.scores, ma.target_value - mb.target_value)
            pairs[(a, b)] = _result(adapter, out, view, method, a, b, encs[prompts.index(a)],
                                    0.0, {}, [])
        else:
            pairs[(a, b)] = attribute_image(adapter, inp.pils[0], a, method=method, contrast=b)
    vmax = max(float(np.abs(r.patch_scores).max()) for r in maps)
    return PromptExplanations(prompts=prompts, maps=maps, similarity=sims, vmax=vmax,
                              seconds=time.perf_counter() - t0, contrasts=pairs, notes=notes)


def explain_prompts(model, image, prompts, template: str | None = None,
                    method: str = "relevance", similarity: bool = True,
                    contrasts: list[tuple[str, str]] | None = None) -> PromptExplanations:
    """One map per prompt for one image, on a shared colour scale (`vmax`).

    One pass of both towers (as `inspect_clip(..., maps=True)` runs); relevance then explains
    all prompts in one batched backward (`explain.relevance`); methods without a shared-pass
    form run per prompt. similarity: also the patch-text similarity map of each prompt (from
    the same pass). contrasts: (A, B) pairs of prompts for "why A rather than B" maps."""
    adapter = as_clip(model)
    m = _method(method)
    t0 = time.perf_counter()
    notes: list[str] = []
    inp = _read(adapter, [read_image(image, "the image", notes)], prompts, template, notes)
    towers = run_towers(adapter, inp.pixels, inp.encs, keep_graph=m.needs_graph)
    return _panel(adapter, inp, towers, method, similarity, contrasts, t0, notes)


def list_image_methods() -> list[dict]:
    """Every image map with its label, parameters (name, default, low, high, step, help) and
    whether it depends on the prompt / is signed: what a UI builds its controls from."""
    return [{"name": m.name, "label": m.label, "prompt": m.prompt, "signed": m.signed,
             "description": m.description,
             "params": [asdict(p) for p in m.params]}
            for m in IMAGE_METHODS.values()]
