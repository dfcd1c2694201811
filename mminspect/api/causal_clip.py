"""Causal lab for CLIP-style models: remove heads of the image tower (or of the text tower,
api/causal_clip_text.py) and see every prompt's logit and probability change.

    abl = mi.ablate_heads(clip, image=img, prompts=["a cat", "a dog"], heads=[(3, 1)])
    abl.delta_prob, abl.delta_logit          # [prompt]
    imp = mi.head_importance(clip, image=img, prompts=["a cat", "a dog"], prompt="a cat")
    imp.delta                                # [layer, head]: change of "a cat"'s probability
    pat = mi.patch_activations(clip, img, other_img, prompts=["a cat", "a dog"], prompt="a cat")
    pat.restored                             # [layer, image token]: share of the logit gap

The heads are cut where they enter their output projection (`IMAGE_HEAD_SITES`,
`TEXT_HEAD_SITES`), by the same hooks as for text models (`capture/heads.py`); open_clip's
fused attention is recomputed meanwhile so that its projection is called at all
(`capture/open_clip_heads.py`)."""
from __future__ import annotations

import time

import torch

from ..capture.heads import capture_head_inputs, capture_residual, edit_heads, patch_residual
from ..types import InputError, StopCheck
from ..types.causal import PATCH_SITES, ActivationPatching, ClipHeadAblation, HeadImportance
from .causal_common import MEAN_OVER, CausalBudget, check_mode, replacement, timed
from .causal_towers import check_pairs, heads_visible, image_head_sites, prompt_index
from .clip import as_clip
from .images import clean_prompts, read_image


def _inputs(adapter, image, prompts, template):
    """(clean prompts, pixels [1, 3, H, W], prompt embeddings [prompt, embed])."""
    notes: list[str] = []
    prompts = clean_prompts(prompts, template, notes)
    pixels = adapter.preprocess([read_image(image, "the image", notes)])   # [1, 3, H, W]
    with torch.no_grad():
        text = adapter.encode_text(prompts)                                 # [prompt, embed]
    return prompts, pixels, text


def _clean_logits(adapter, outs, n_heads, pixels, text):
    """(logits [1, prompt] of the unedited image, head contexts {layer: [1, token, head, d]})."""
    with capture_head_inputs(outs, n_heads) as contexts:
        logits = adapter.logits_of(adapter.encode_image(pixels) @ text.T)   # [1, prompt]
    return logits, dict(contexts)


def ablate_image_heads(model, image, prompts, heads, mode: str = "zero",
                       template: str | None = None) -> ClipHeadAblation:
    """Every prompt's logit and probability (the adapter's link: softmax over the prompts, or
    SigLIP's sigmoid per prompt) with `heads` [(layer, head), ...] of the image tower removed
    ("zero": context set to zeros; "mean": its mean over the image's tokens), before and after."""
    adapter = as_clip(model)
    check_mode(mode)
    outs, n_heads = image_head_sites(adapter)
    pairs = check_pairs(heads, len(outs), n_heads, "image")
    prompts, pixels, text = _inputs(adapter, image, prompts, template)
    with torch.no_grad(), heads_visible(adapter, "image"):
        before, contexts = _clean_logits(adapter, outs, n_heads, pixels, text)
        select = {}
        for layer, head in pairs:
            select.setdefault(layer, torch.zeros(1, n_heads, dtype=torch.bool,
                                                 device=pixels.device))[0, head] = True
        values = {layer: replacement(mode, contexts, layer) for layer in select}
        with edit_heads(outs, n_heads, select, values):
            after = adapter.logits_of(adapter.encode_image(pixels) @ text.T)    # [1, prompt]
    return ClipHeadAblation(
        logits_before=before[0].cpu().numpy(), logits_after=after[0].cpu().numpy(),
        probs_before=adapter.probabilities(before[0]).cpu().numpy(),
        probs_after=adapter.probabilities(after[0]).cpu().numpy(), prompts=tuple(prompts), heads=pairs,
        mode=mode, tower="image", mean_over=MEAN_OVER.replace("input's positions", "image's tokens")
        if mode == "mean" else "", model_name=adapter.name)


def image_head_importance(model, image, prompts, prompt: str | None = None, mode: str = "zero",
                          template: str | None = None,
                          should_stop: StopCheck | None = None,
                          budget_s: float | None = None) -> HeadImportance:
    """delta [layer, head]: the change of `prompt`'s probability (by the adapter's link)
    when that image-tower head alone is removed; prompt=None: the best prompt before.

    Batched as for text (api/causal.py): one clean forward, then one forward per layer whose
    item i removes that layer's head i. The image enters as ONE item and the edit hook
    broadcasts it to the layer's heads from that layer on. Equal to one `ablate_heads` per
    head (tested). budget_s: as for text (api/causal.py, CausalBudget)."""
    start = time.perf_counter()
    adapter = as_clip(model)
    check_mode(mode)
    outs, n_heads = image_head_sites(adapter)
    prompts, pixels, text = _inputs(adapter, image, prompts, template)
    clock = CausalBudget(budget_s, should_stop)
    with torch.no_grad(), heads_visible(adapter, "image"):
        (before, contexts), clean_s = timed(_clean_logits, adapter, outs, n_heads, pixels, text)
        clock.plan((adapter.name, "image scan"), clean_s, len(outs) * n_heads,
                   f"Scanning {len(outs) * n_heads} image heads", "Remove chosen heads instead.")
        probs = adapter.probabilities(before[0])                            # [prompt]
        if prompt is None:
            index = int(probs.argmax())
        else:
            index = prompt_index(prompt, prompts, template)
        rows = []
        one_each = torch.eye(n_heads, dtype=torch.bool, device=pixels.device)  # [item = head, head]
        for layer in range(len(outs)):
            clock.step(f"Heads of layer {layer}", n_heads)
            select = {layer: one_each}
            values = {layer: replacement(mode, contexts, layer)}
            with edit_heads(outs, n_heads, select, values):
                logits = adapter.logits_of(adapter.encode_image(pixels) @ text.T)  # [head, prompt]
            rows.append(adapter.probabilities(logits)[:, index])            # [head]
        delta = torch.stack(rows) - probs[index]                            # [layer, head]
    return HeadImportance(
        delta=delta.cpu().numpy(), before=float(probs[index]), mode=mode,
        target=f"probability of “{prompts[index]}” ({adapter.link_words}; {len(prompts)} prompts)",
        seconds=time.perf_counter() - start, batch_size=n_heads,
        mean_over=MEAN_OVER.replace("input's positions", "image's tokens") if mode == "mean" else "",
        tokens=tuple(prompts), model_name=adapter.name)


PATCH_BATCH = 64        # patched items per forward (a ViT-L/14 has 257 image tokens per layer)


def patched_image_logits(adapter, outs, n_heads, blocks, pixels, text, site: str,
                         select: dict[int, torch.Tensor], source: dict) -> torch.Tensor:
    """Logits [item, prompt] of `pixels` (one image) with clean activations copied in:
    site "residual": select[layer] bool [item, token], source {layer: [1, token, d_model]};
    "heads": select[layer] bool [item, head], source {layer: [1, token, head, d_head]}."""
    values = {layer: source[layer] for layer in select}
    ctx = (patch_residual(blocks, select, values) if site == "residual"
           else edit_heads(outs, n_heads, select, values))
    with ctx, heads_visible(adapter, "image"):
        return adapter.logits_of(adapter.encode_image(pixels) @ text.T)      # [item, prompt]


def patch_image_activations(model, clean, corrupted, prompts, prompt: str | None = None,
                            site: str = "residual", template: str | None = None,
                            should_stop: StopCheck | None = None,
                            budget_s: float | None = None) -> ActivationPatching:
    """Copy one image-tower activation of the clean image's run into the corrupted image's
    run and measure the share of the gap in `prompt`'s logit restored: (patched - corrupted)
    / (clean - corrupted). site "residual": the residual stream after layer l at image token
    t -> restored [layer, token]; "heads": head h's output at every token -> [layer, head].
    Both images are resized to the model's input, so their tokens always align. prompt=None:
    the prompt the clean image matches best. The logit (logit scale x cosine), not the
    probability: it is defined with a single prompt too. budget_s: as for text (CausalBudget)."""
    start = time.perf_counter()
    if site not in PATCH_SITES:
        raise InputError(f"Unknown patching site {site!r}; choose one of: {', '.join(PATCH_SITES)}.")
    adapter = as_clip(model)
    outs, n_heads, blocks = image_head_sites(adapter, blocks=True)
    prompts, clean_px, text = _inputs(adapter, clean, prompts, template)
    corrupted_px = adapter.preprocess([read_image(corrupted, "the corrupted image", [])])
    clock = CausalBudget(budget_s, should_stop)
    with torch.no_grad(), heads_visible(adapter, "image"):
        t0 = time.perf_counter()
        with capture_head_inputs(outs, n_heads) as heads, capture_residual(blocks) as resid:
            clean_logits = adapter.logits_of(adapter.encode_image(clean_px) @ text.T)  # [1, prompt]
        clean_s = time.perf_counter() - t0
        index = (int(clean_logits[0].argmax()) if prompt is None
                 else prompt_index(prompt, prompts, template))
        corrupted_logits = adapter.logits_of(adapter.encode_image(corrupted_px) @ text.T)
        clean_value, corrupted_value = float(clean_logits[0, index]), float(corrupted_logits[0, index])
        gap = clean_value - corrupted_value
        if abs(gap) < 1e-6:
            raise InputError(f"The logit of “{prompts[index]}” is the same for both images "
                             f"({clean_value:.6g}): there is no gap to restore. Choose two "
                             "images the prompt tells apart.")
        source = dict(resid) if site == "residual" else dict(heads)
        width = source[0].shape[1] if site == "residual" else n_heads
        other = "" if site == "heads" else f" or patch heads ({len(blocks) * n_heads} passes)"
        clock.plan((adapter.name, "image patch"), clean_s, len(blocks) * width,
                   f"Patching the {site} of {len(blocks)} layers of the image tower",
                   f"Use a smaller model{other}.")
        rows = []
        for layer in range(len(blocks)):
            row = []
            for i in range(0, width, PATCH_BATCH):
                clock.step(f"Patching layer {layer}", min(PATCH_BATCH, width - i))
                cells = torch.arange(i, min(i + PATCH_BATCH, width), device=clean_px.device)
                select = torch.zeros(len(cells), width, dtype=torch.bool, device=clean_px.device)
                select[torch.arange(len(cells)), cells] = True           # [item, token | head]
                logits = patched_image_logits(adapter, outs, n_heads, blocks, corrupted_px,
                                              text, site, {layer: select}, source)
                row.append(logits[:, index])                             # [item]
            rows.append(torch.cat(row))
        restored = ((torch.stack(rows) - corrupted_value) / gap)         # [layer, token | head]
    labels = adapter.patch_grid.token_labels() if site == "residual" else []
    if site == "residual" and len(labels) == width + 1 and adapter.patch_grid.cls_label == "[POOL]":
        labels = labels[1:]                  # SigLIP's [POOL] is not in the residual stream
    if site == "residual" and len(labels) != width:
        labels = [f"t{i}" for i in range(width)]
    return ActivationPatching(
        restored=restored.cpu().numpy(), site=site, clean_value=clean_value,
        corrupted_value=corrupted_value,
        target=f"logit of “{prompts[index]}” (logit scale × cosine"
               f"{' + bias' if adapter.link == 'sigmoid' else ''})",
        tokens=tuple(labels), corrupted_tokens=tuple(labels),
        seconds=time.perf_counter() - start, model_name=adapter.name)
