"""Image-text inspection: the zero-shot prediction step by step, and "why this label" maps.

    view = mi.inspect_clip(model, image, ["a cat", "a dog"], template="a photo of {}")
    pix = mi.attribute_image(model, image, "a photo of a cat", method="relevance")
    panel = mi.explain_prompts(model, image, view.prompts)        # one map per prompt, shared scale
"""
from __future__ import annotations

import time
from dataclasses import asdict, replace
from typing import Callable

import numpy as np
import torch

from ..explain import softmax
from ..explain.attribution import align_words, word_scores
from ..explain.image_maps import similarity_maps, upsample
from ..explain.image_methods import IMAGE_METHODS, MapOutput, compute, text_embeddings
from ..explain.pixel_attribution import patch_faithfulness, patch_problem, logit_function
from ..explain.pointing import pointing_hit
from ..explain.relevance import relevance_batched, text_pool_weights
from ..models import load
from ..models.clip_base import CLIPAdapter
from ..types import ClipView, InputError, PixelAttribution, PromptExplanations, PromptText
from .images import clean_prompts, model_mask, model_view, read_image, read_images, resize_note

F = torch.nn.functional


def as_clip(model) -> CLIPAdapter:
    adapter = load(model) if isinstance(model, str) else model
    if not isinstance(adapter, CLIPAdapter):
        raise InputError(f"{getattr(adapter, 'name', adapter)} is not an image-text model; choose "
                         "a CLIP-style model (miniclip, an HF CLIP folder, open_clip:...).")
    return adapter


def _encode(adapter: CLIPAdapter, prompts: list[str], notes: list[str]) -> list:
    encs = [adapter.tokenize(p) for p in prompts]
    for p, e in zip(prompts, encs):
        if e.n_dropped:
            notes.append(f"Prompt {p[:40]!r} is longer than the text tower's limit: its last "
                         f"{e.n_dropped} tokens were dropped.")
    return encs


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


def inspect_clip(model, images, prompts, template: str | None = None) -> ClipView:
    """Raw cosine, × logit scale, softmax over prompts, for one image or several.

    images: a PIL image, a uint8 array, the bytes of an image file, or a list of them.
    prompts: one per line (a string) or a list; template: e.g. "a photo of a {}"."""
    adapter = as_clip(model)
    notes: list[str] = []
    pils = read_images(images, notes)
    prompts = clean_prompts(prompts, template, notes)
    encs = _encode(adapter, prompts, notes)
    size = adapter.patch_grid.image_size
    for i, im in enumerate(pils):
        n = resize_note(im, size, "the image" if len(pils) == 1 else f"image {i + 1}")
        notes += [n] if n else []
    pixels = adapter.preprocess(pils)                                     # [image, 3, H, W]
    with torch.no_grad():
        outs = [adapter.image_forward(pixels[i:i + 1]) for i in range(len(pils))]
        texts = [adapter.text_forward(e) for e in encs]
    img = F.normalize(torch.stack([o.embedding for o in outs]), dim=-1).double().cpu().numpy()
    txt = F.normalize(torch.stack([o.embedding for o in texts]), dim=-1).double().cpu().numpy()
    cos = img @ txt.T                                                     # [image, prompt]
    scale = float(adapter.logit_scale)
    logits = scale * cos
    coords, var = _pca(np.concatenate([img, txt]))
    g = adapter.patch_grid
    prompt_texts = []
    for p, e, o in zip(prompts, encs, texts):
        w = text_pool_weights(adapter, e)
        pooled = int(np.argmax(w)) if w.max() == 1 else -1
        prompt_texts.append(PromptText(prompt=p, tokens=list(e.tokens), special=e.special,
                                       attention=o.attentions.float().cpu().numpy(),
                                       pooled=pooled, n_dropped=e.n_dropped))
    return ClipView(
        model_name=adapter.name, prompts=prompts,
        images=np.stack([model_view(im, size) for im in pils]),
        cosine=cos, logit_scale=scale, logits=logits, probs=softmax(logits, 1.0),
        image_embeddings=img, prompt_embeddings=txt, pca=coords, pca_variance=var,
        grid_rows=g.rows, grid_cols=g.cols, patch_size=g.patch_size,
        image_attention=np.stack([o.attentions.float().cpu().numpy() for o in outs]),
        image_tokens=list(outs[0].tokens), texts=prompt_texts, notes=notes)


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
                    progress: Callable[[float, str], None] | None = None,
                    **params) -> PixelAttribution:
    """Why does the model match `image` with `prompt` (rather than `contrast`)?

    method: one of `list_image_methods()`. mask: bool [H, W] at the image's own size, the
    object the prompt names: gives `pointing_hit`. faithfulness: also compute deletion /
    insertion over patches (about 80 extra forwards). progress(fraction, message): IG only."""
    adapter = as_clip(model)
    if method not in IMAGE_METHODS:
        raise InputError(f"Unknown method {method!r}; choose one of {', '.join(IMAGE_METHODS)}.")
    notes: list[str] = []
    im = read_image(image, "the image", notes)
    prompt = _one_prompt(prompt, "prompt")
    contrast = _one_prompt(contrast, "contrast prompt") if contrast is not None else None
    if contrast == prompt:
        raise InputError("The contrast prompt equals the prompt; 'A rather than A' is zero.")
    size = adapter.patch_grid.image_size
    n = resize_note(im, size, "the image")
    notes += [n] if n else []
    t0 = time.perf_counter()
    pixels = adapter.preprocess([im])                                     # [1, 3, H, W]
    encs = _encode(adapter, [prompt] + ([contrast] if contrast else []), notes)
    out = compute(adapter, pixels, encs, method, params, progress)
    seconds = time.perf_counter() - t0
    res = _result(adapter, out, model_view(im, size), method, prompt, contrast, encs[0],
                  seconds, IMAGE_METHODS[method].resolve(params), notes)
    extra = {}
    if mask is not None:
        extra["pointing_hit"] = pointing_hit(out.patch_scores, model_mask(mask, im, size),
                                             adapter.patch_grid)
    if faithfulness:
        forward = logit_function(adapter, text_embeddings(adapter, encs),
                                 torch.tensor([1.0, -1.0][:len(encs)]))
        problem = patch_problem(forward, pixels, adapter.patch_grid.patch_size)
        extra["faithfulness"] = patch_faithfulness(problem, out.patch_scores)
    return replace(res, **extra) if extra else res


def explain_prompts(model, image, prompts, template: str | None = None,
                    method: str = "relevance", similarity: bool = True,
                    contrasts: list[tuple[str, str]] | None = None) -> PromptExplanations:
    """One map per prompt for one image, on a shared colour scale (`vmax`).

    relevance runs all prompts in one batched backward (`explain.relevance`); other methods
    run per prompt. similarity: also the patch-text similarity map of each prompt (one image
    forward for all). contrasts: (A, B) pairs of prompts for "why A rather than B" maps."""
    adapter = as_clip(model)
    if method not in IMAGE_METHODS:
        raise InputError(f"Unknown method {method!r}; choose one of {', '.join(IMAGE_METHODS)}.")
    notes: list[str] = []
    t0 = time.perf_counter()
    im = read_image(image, "the image", notes)
    prompts = clean_prompts(prompts, template, notes)
    size = adapter.patch_grid.image_size
    n = resize_note(im, size, "the image")
    notes += [n] if n else []
    view = model_view(im, size)
    g = adapter.patch_grid
    pixels = adapter.preprocess([im])                                     # [1, 3, H, W]
    encs = _encode(adapter, prompts, notes)
    if method == "relevance":
        t = time.perf_counter()
        rel = relevance_batched(adapter, pixels, encs, words=True)
        each = (time.perf_counter() - t) / len(prompts)
        outs = []
        for i in range(len(prompts)):
            patch = g.to_image(rel.image[i][g.cls_offset:])
            outs.append((MapOutput(patch, upsample(patch, g), float(rel.scores[i]), text=rel.text[i]), each))
        by_prompt = dict(zip(prompts, rel.image))
        temb = torch.from_numpy(rel.text_embeddings).to(pixels.device)   # [prompt, embed]
        feats = torch.from_numpy(rel.patch_features)                      # [patch, embed]
    else:
        temb = text_embeddings(adapter, encs)                             # [prompt, embed]
        feats = None
        outs = []
        for i, e in enumerate(encs):
            t = time.perf_counter()
            o = compute(adapter, pixels, [e], method, text_emb=temb[i:i + 1])
            outs.append((o, time.perf_counter() - t))
        by_prompt = {}
    maps = [_result(adapter, o, view, method, p, None, e, s, {}, [])
            for (o, s), p, e in zip(outs, prompts, encs)]
    sims = []
    if similarity:
        t = time.perf_counter()
        s = similarity_maps(adapter, pixels, temb, feats)                 # [prompt, rows, cols]
        each = (time.perf_counter() - t) / len(prompts)
        sims = [_result(adapter, MapOutput(s[i], upsample(s[i], g), float(maps[i].target_value)),
                        view, "similarity", p, None, e, each, {}, []) for i, (p, e) in enumerate(zip(prompts, encs))]
    pairs = {}
    for a, b in contrasts or []:
        if a in by_prompt and b in by_prompt:                             # reuse the batched rows
            patch = g.to_image((by_prompt[a] - by_prompt[b])[g.cls_offset:])
            va = maps[prompts.index(a)].target_value - maps[prompts.index(b)].target_value
            pairs[(a, b)] = _result(adapter, MapOutput(patch, upsample(patch, g), va), view,
                                    method, a, b, encs[prompts.index(a)], 0.0, {}, [])
        else:
            pairs[(a, b)] = attribute_image(adapter, im, a, method=method, contrast=b)
    vmax = max(float(np.abs(m.patch_scores).max()) for m in maps)
    return PromptExplanations(prompts=prompts, maps=maps, similarity=sims, vmax=vmax,
                              seconds=time.perf_counter() - t0, contrasts=pairs, notes=notes)


def list_image_methods() -> list[dict]:
    """Every image map with its label, parameters (name, default, low, high, step, help) and
    whether it depends on the prompt / is signed: what a UI builds its controls from."""
    return [{"name": m.name, "label": m.label, "prompt": m.prompt, "signed": m.signed,
             "description": m.description,
             "params": [asdict(p) for p in m.params]}
            for m in IMAGE_METHODS.values()]
