"""Causal lab for text models: remove heads, or copy activations from another input, and
measure what that does to the target an attribution explains.

    abl = mi.ablate_heads(model, "The cat sat.", heads=[(0, 3), (2, 1)], compare_to="A kitten.")
    imp = mi.head_importance(model, "The cat sat.", compare_to="A kitten.")   # delta [layer, head]
    pat = mi.patch_activations(model, "The cat sat.", "The dog sat.", site="heads",
                               compare_to="A kitten.")                       # restored [layer, head]

The target is given as in `attribute_text` (compare_to= / labels=, label= / target="class" |
"mask_fill" | "next_token", token=, mask=, output=) and its value equals attribute_text's
f(text): the same Target's prepare / bind / score on the same forward from word embeddings.

The three public calls are also the one door for CLIP-style models: they hand the image
tower to api/causal_clip.py and the text tower to api/causal_clip_text.py. What all three
files share (head sites, ablation modes, the time budget) is in api/causal_common.py and
api/causal_towers.py, below them, so no file of the causal lab imports one that imports it.
"""
from __future__ import annotations

import time

import torch

from ..capture.heads import capture_head_inputs, capture_residual, edit_heads, patch_residual
from ..explain.attribution import Target, make_target
from ..explain.attribution.problem import batch_for_memory
from ..types import InputError, StopCheck
from ..types.causal import PATCH_SITES, ActivationPatching, HeadAblation, HeadImportance
from ..models import load
from .adapters import as_text_adapter
from .causal_clip import ablate_image_heads, image_head_importance, patch_image_activations
from .causal_clip_text import ablate_text_heads, text_head_importance
from .causal_common import (MEAN_OVER, CausalBudget, Sites, check_mode, fits_tokens, head_sites,
                            replacement, timed)
from .causal_towers import check_tower
from .clip import as_clip
from .limits import check_labels, check_memory_mb, check_text, limits


def _bound_target(adapter, text: str, target, compare_to, labels, label, temperature, token,
                  mask, output):
    """(encoded text, the Target prepared and bound to it), after every model-free check."""
    lim = limits()
    check_text(text, lim)
    check_text(compare_to, lim, "The second text")
    labels = check_labels(labels, lim)
    tgt = make_target(target, compare_to, labels, label, temperature, kind=adapter.kind,
                      token=token, mask=mask, output=output)
    tgt.check(adapter)
    enc = adapter.encode(text)
    return enc, tgt.prepare(adapter).bind(adapter, enc)


@torch.no_grad()
def _scores(adapter, enc, target: Target, batch: int = 1) -> torch.Tensor:
    """The target for `batch` copies of the text in one forward: word embeddings ->
    forward_embeds -> score, as attribute_text computes f. Returns [items]: an edit hook
    may broadcast a one-item input to many items from its layer on (see `_layer_groups`)."""
    ids = enc.inputs["input_ids"]                                        # [1, token]
    embeds = adapter.input_embeddings()(ids).expand(batch, -1, -1)       # [batch, token, d_model]
    outputs = adapter.forward_embeds(embeds, enc)
    items = outputs[0].shape[0]                                          # last_hidden_state or logits
    return target.score(adapter, outputs, enc.inputs["attention_mask"].expand(items, -1))  # [items]


def _layer_groups(n_layers: int, width: int, batch: int):
    """(layer, [j, ...]) chunks: one forward per chunk, every item editing the same layer.

    Why per layer: the items of a chunk are identical to the clean (or corrupted) run below
    that layer, so the forward starts as ONE item and the edit hook's torch.where broadcasts
    it to the chunk's items from there on (the residual additions broadcast the same way).
    The layers below run once instead of once per item: for MiniLM's 72 heads, 267 item-layers
    instead of 432."""
    for layer in range(n_layers):
        for i in range(0, width, batch):
            yield layer, list(range(i, min(i + batch, width)))


def _clean_run(adapter, sites: Sites, enc, target: Target) -> tuple[float, dict, dict]:
    """(target value, head contexts {layer: [1, token, head, d_head]}, residual stream
    {layer: [1, token, d_model]}) of the unedited forward."""
    with capture_head_inputs(sites.attention_out, sites.n_heads) as heads, \
            capture_residual(sites.blocks) as resid:
        value = float(_scores(adapter, enc, target, 1)[0])
    return value, dict(heads), dict(resid)


def _check_heads(heads, sites: Sites) -> tuple[tuple[int, int], ...]:
    try:
        pairs = tuple(dict.fromkeys((int(a), int(b)) for a, b in heads))
    except (TypeError, ValueError):
        raise InputError(f"heads must be a list of (layer, head) pairs, got {heads!r}.") from None
    if not pairs:
        raise InputError("Name at least one head to ablate: heads=[(layer, head), ...].")
    bad = [p for p in pairs if not (0 <= p[0] < sites.n_layers and 0 <= p[1] < sites.n_heads)]
    if bad:
        raise InputError(f"No such head(s) {bad}: this model has layers 0..{sites.n_layers - 1} "
                         f"and heads 0..{sites.n_heads - 1} in each.")
    return pairs


def _ablation_edits(items: list[list[tuple[int, int]]], sites: Sites, mode: str, contexts: dict):
    """select / values for edit_heads: batch item i removes the heads in items[i]."""
    select: dict[int, torch.Tensor] = {}
    device = next(iter(contexts.values())).device
    for i, pairs in enumerate(items):
        for layer, head in pairs:
            if layer not in select:
                select[layer] = torch.zeros(len(items), sites.n_heads, dtype=torch.bool, device=device)
            select[layer][i, head] = True                                # [batch, head]
    return select, {layer: replacement(mode, contexts, layer) for layer in select}


def _clip_tower(adapter, tower: str):
    """The CLIP-style adapter, once `tower` is known to be "image" or "text" (the caller then
    picks api/causal_clip.py or api/causal_clip_text.py)."""
    adapter = as_clip(adapter)
    check_tower(tower)
    return adapter


def ablate_heads(model, text: str | None = None, heads=None, mode: str = "zero", target=None, *,
                 compare_to: str | None = None, labels=None, label: str | None = None,
                 temperature: float = 0.05, token: str | None = None, mask: int = 0,
                 output: str | None = None, image=None, prompts=None, tower: str = "image",
                 template: str | None = None):
    """The target with `heads` [(layer, head), ...] removed together, before and after.

    mode "zero": each head's context vector (its input slice to the attention output
    projection) set to zeros; "mean": replaced by its mean over this input's positions (from
    the clean run). The projection's bias and the other heads are untouched.

    CLIP-style models: `mi.ablate_heads(clip, image=..., prompts=[...], heads=...)` removes
    heads of the image tower, with tower="text" heads of the text tower from every prompt's
    encoding -> ClipHeadAblation (every prompt's logit and probability); HF CLIP, open_clip
    ViTs and mini-CLIP (api/causal_clip.py, api/causal_clip_text.py)."""
    adapter = load(model) if isinstance(model, str) else model
    if "image" in adapter.modalities:
        if image is None or prompts is None:
            raise InputError(f"{adapter.name} is an image-text model: pass image=... and "
                             "prompts=[...] (and heads=[(layer, head), ...]).")
        adapter = _clip_tower(adapter, tower)
        if tower == "text":
            return ablate_text_heads(adapter, image, prompts, heads, mode, template)
        return ablate_image_heads(adapter, image, prompts, heads, mode, template)
    if image is not None:
        raise InputError(f"{adapter.name} reads text only; image=... needs a CLIP-style model.")
    if heads is None:
        raise InputError("Name the heads to ablate: heads=[(layer, head), ...].")
    adapter = as_text_adapter(adapter)
    check_mode(mode)
    sites = head_sites(adapter)
    pairs = _check_heads(heads, sites)
    enc, bound = _bound_target(adapter, text, target, compare_to, labels, label, temperature,
                               token, mask, output)
    before, contexts, _ = _clean_run(adapter, sites, enc, bound)
    select, values = _ablation_edits([list(pairs)], sites, mode, contexts)
    with edit_heads(sites.attention_out, sites.n_heads, select, values):
        after = float(_scores(adapter, enc, bound, 1)[0])
    return HeadAblation(before=before, after=after, delta=after - before, heads=pairs, mode=mode,
                        target=bound.describe(), mean_over=MEAN_OVER if mode == "mean" else "",
                        tokens=tuple(enc.tokens), model_name=adapter.name)


def _batch_size(adapter, n_tokens: int, memory_mb: float | None) -> int:
    """Items per forward within the activation budget. batch_for_memory counts what autograd
    keeps for a backward, so for these no-grad forwards it errs on the safe side."""
    mb = check_memory_mb(memory_mb, limits())
    return batch_for_memory(adapter.sizes(), n_tokens, mb)


def head_importance(model, text: str | None = None, mode: str = "zero", target=None, *,
                    compare_to: str | None = None, labels=None, label: str | None = None,
                    temperature: float = 0.05, token: str | None = None, mask: int = 0,
                    output: str | None = None, memory_mb: float | None = None,
                    should_stop: StopCheck | None = None, image=None, prompts=None,
                    prompt: str | None = None, tower: str = "image",
                    template: str | None = None, budget_s: float | None = None) -> HeadImportance:
    """delta [layer, head]: the target's change when that head alone is ablated.

    Batched: one clean forward (for `before` and the means), then one forward per layer
    whose item i ablates that layer's head i, starting as one item and broadcast to the
    layer's heads at that layer (see `_layer_groups`), so 72 heads cost 7 forwards, not 72. Equal to one
    `ablate_heads` per head (tested to 1e-5).

    CLIP-style models: `mi.head_importance(clip, image=..., prompts=[...], prompt=...)`: the
    change of `prompt`'s probability per image-tower head (api/causal_clip.py); with
    tower="text" per text-tower head, removed from every prompt (api/causal_clip_text.py).

    budget_s (default MMINSPECT_BUDGET_S): estimated after the clean forward, refused above
    the budget (OverBudget), stopped at the budget (see CausalBudget)."""
    start = time.perf_counter()
    adapter = load(model) if isinstance(model, str) else model
    if "image" in adapter.modalities:
        if image is None or prompts is None:
            raise InputError(f"{adapter.name} is an image-text model: pass image=... and "
                             "prompts=[...] (and prompt=... to pick the prompt measured).")
        adapter = _clip_tower(adapter, tower)
        scan = text_head_importance if tower == "text" else image_head_importance
        return scan(adapter, image, prompts, prompt, mode, template, should_stop, budget_s)
    if image is not None:
        raise InputError(f"{adapter.name} reads text only; image=... needs a CLIP-style model.")
    adapter = as_text_adapter(adapter)
    check_mode(mode)
    sites = head_sites(adapter)
    enc, bound = _bound_target(adapter, text, target, compare_to, labels, label, temperature,
                               token, mask, output)
    clock = CausalBudget(budget_s, should_stop)
    (before, contexts, _), clean_s = timed(_clean_run, adapter, sites, enc, bound)
    n_tok = len(enc.tokens)
    clock.plan((adapter.name, n_tok, "scan"), clean_s, sites.n_layers * sites.n_heads,
               f"Scanning {sites.n_layers * sites.n_heads} heads at {n_tok} tokens",
               f"Shorten the text to about {fits_tokens(n_tok, clock.guard.budget_s, clock.estimate_s)} "
               "tokens, or ablate chosen heads instead.")
    batch = _batch_size(adapter, n_tok, memory_mb)
    after = []
    for layer, heads in _layer_groups(sites.n_layers, sites.n_heads, batch):
        clock.step(f"Heads of layer {layer}", len(heads))
        select, values = _ablation_edits([[(layer, h)] for h in heads], sites, mode, contexts)
        with edit_heads(sites.attention_out, sites.n_heads, select, values):
            after.append(_scores(adapter, enc, bound))                   # [heads]
    delta = (torch.cat(after) - before).reshape(sites.n_layers, sites.n_heads)  # [layer, head]
    return HeadImportance(delta=delta.cpu().numpy(), before=before, mode=mode,
                          target=bound.describe(), seconds=time.perf_counter() - start,
                          batch_size=min(batch, sites.n_heads),
                          mean_over=MEAN_OVER if mode == "mean" else "",
                          tokens=tuple(enc.tokens), model_name=adapter.name)


def _aligned(adapter, clean_enc, corrupted_enc) -> None:
    n, m = len(clean_enc.tokens), len(corrupted_enc.tokens)
    if n != m:
        raise InputError(f"Patching copies activations position by position, so both texts must "
                         f"have the same number of tokens; the clean text has {n} "
                         f"({' '.join(clean_enc.tokens)}) and the corrupted one {m} "
                         f"({' '.join(corrupted_enc.tokens)}). Make them the same length in "
                         "tokens, e.g. change one word for another word of one token.")


def patched_scores(adapter, sites: Sites, enc, target: Target, site: str,
                   select: dict[int, torch.Tensor], source: dict) -> torch.Tensor:
    """The target of one batched forward of `enc` with clean activations copied in.

    site "residual": select[layer] bool [batch, position], source = the clean residual stream
    {layer: [1, token, d_model]}; "heads": select[layer] bool [batch, head], source = the clean
    contexts {layer: [1, token, head, d_head]}. Returns [batch]."""
    values = {layer: source[layer] for layer in select}
    if site == "residual":
        ctx = patch_residual(sites.blocks, select, values)
    else:
        ctx = edit_heads(sites.attention_out, sites.n_heads, select, values)
    with ctx:
        return _scores(adapter, enc, target)


def patch_activations(model, clean: str, corrupted: str, site: str = "residual", target=None, *,
                      compare_to: str | None = None, labels=None, label: str | None = None,
                      temperature: float = 0.05, token: str | None = None, mask: int = 0,
                      output: str | None = None, memory_mb: float | None = None,
                      should_stop: StopCheck | None = None, prompts=None,
                      prompt: str | None = None, template: str | None = None,
                      budget_s: float | None = None) -> ActivationPatching:
    """Copy one activation from the clean run into the corrupted run and measure the share
    of the gap restored: (patched - corrupted) / (clean - corrupted).

    site "residual": the residual stream after layer l at position p -> restored [layer,
    position]; "heads": head h's context vector at every position -> [layer, head]. Both texts
    must have the same number of tokens (positions are patched aligned, i to i); otherwise an
    InputError says so. The target is bound on the clean text (its top class / filler / next
    token when none is named) and scores both runs.

    CLIP-style models: `mi.patch_activations(clip, image, other_image, prompts=[...],
    prompt=...)` patches the image tower (api/causal_clip.py): restored [layer, image token]
    or [layer, head] of the prompt's logit.

    budget_s (default MMINSPECT_BUDGET_S): estimated after the clean forward (site
    "residual" costs one forward per layer and position: 3,072 at 512 tokens on MiniLM),
    refused above the budget (OverBudget), stopped at the budget (see CausalBudget)."""
    start = time.perf_counter()
    adapter = load(model) if isinstance(model, str) else model
    if "image" in adapter.modalities:
        if prompts is None:
            raise InputError(f"{adapter.name} is an image-text model: pass two images (clean, "
                             "corrupted) and prompts=[...] (and prompt=... to pick one).")
        return patch_image_activations(adapter, clean, corrupted, prompts, prompt, site,
                                       template, should_stop, budget_s)
    if site not in PATCH_SITES:
        raise InputError(f"Unknown patching site {site!r}; choose one of: {', '.join(PATCH_SITES)}.")
    adapter = as_text_adapter(adapter)
    sites = head_sites(adapter)
    clean_enc, bound = _bound_target(adapter, clean, target, compare_to, labels, label,
                                     temperature, token, mask, output)
    check_text(corrupted, limits(), "The corrupted text")
    corrupted_enc = adapter.encode(corrupted)
    _aligned(adapter, clean_enc, corrupted_enc)
    clock = CausalBudget(budget_s, should_stop)
    (clean_value, heads, resid), clean_s = timed(_clean_run, adapter, sites, clean_enc, bound)
    corrupted_value = float(_scores(adapter, corrupted_enc, bound, 1)[0])
    gap = clean_value - corrupted_value
    if abs(gap) < 1e-6:
        raise InputError(f"The target is the same for both texts ({clean_value:.6g}): there is "
                         "no gap to restore. Choose a corrupted text that changes the target.")
    n_tok = len(clean_enc.tokens)
    width = n_tok if site == "residual" else sites.n_heads
    other = ("" if site == "heads" else
             f", or patch heads (site=\"heads\": {sites.n_layers * sites.n_heads} passes)")
    clock.plan((adapter.name, n_tok, "patch"), clean_s, sites.n_layers * width,
               f"Patching the {site} of {sites.n_layers} layers at {n_tok} tokens",
               f"Shorten both texts to about {fits_tokens(n_tok, clock.guard.budget_s, clock.estimate_s)} "
               f"tokens{other}.")
    batch = _batch_size(adapter, n_tok, memory_mb)
    source = resid if site == "residual" else heads
    patched = []
    for layer, cells in _layer_groups(sites.n_layers, width, batch):
        clock.step(f"Patching layer {layer}", len(cells))
        select = torch.zeros(len(cells), width, dtype=torch.bool, device=adapter.device)
        select[torch.arange(len(cells)), cells] = True                   # [batch, position | head]
        patched.append(patched_scores(adapter, sites, corrupted_enc, bound, site,
                                      {layer: select}, source))
    restored = ((torch.cat(patched) - corrupted_value) / gap).reshape(sites.n_layers, width)
    return ActivationPatching(restored=restored.cpu().numpy(), site=site, clean_value=clean_value,
                              corrupted_value=corrupted_value, target=bound.describe(),
                              tokens=tuple(clean_enc.tokens),
                              corrupted_tokens=tuple(corrupted_enc.tokens),
                              seconds=time.perf_counter() - start, model_name=adapter.name)
