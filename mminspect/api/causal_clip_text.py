"""Causal lab for the TEXT tower of CLIP-style models: remove text-tower heads from every
prompt's encoding and see every prompt's logit and probability change; the image's
embedding is untouched.

    abl = mi.ablate_heads(clip, image=img, prompts=["a cat", "a dog"], tower="text",
                          heads=[(0, 1)])
    abl.delta_prob, abl.delta_logit          # [prompt]
    imp = mi.head_importance(clip, image=img, prompts=["a cat", "a dog"], prompt="a cat",
                             tower="text")
    imp.delta                                # [layer, head]

Sites: `TEXT_HEAD_SITES` (HF CLIP's text encoder layers' `self_attn.out_proj`, open_clip's
`transformer.resblocks.{layer}.attn.out_proj` under the recomputation, mini-CLIP's MiniLM
through `families.HEAD_SITES["bert"]`), hooked by `capture/heads.py`.

Prompts of different lengths run as one batch padded to the longest: the adapter's
`text_forward_batch` where it has one (HF CLIP; open_clip, cut after the end-of-text token
instead of its 77-token context: the scan of ViT-B-32's text tower costs ~1/10), else
`encode_text` (mini-CLIP's MiniLM pads to the longest too). Padding never reaches a real
token (causal towers, or a pad mask), so editing it too changes nothing. Mean ablation replaces a head's context by its mean over THAT prompt's own
tokens (the first `len(adapter.tokenize(prompt).tokens)` positions: every family pads on the
right), never over the padding or the other prompts.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from ..capture.heads import capture_head_inputs, edit_heads
from ..types import StopCheck
from ..types.causal import ClipHeadAblation, HeadImportance
from .causal_common import CausalBudget, check_mode, timed
from .causal_towers import check_pairs, heads_visible, prompt_index, tower_sites
from .images import clean_prompts, read_image

MEAN_OVER_PROMPT = "each prompt's own tokens"
SCAN_ITEMS = 256        # texts per forward in the scan (heads x prompts), bounds its memory


@dataclass(frozen=True)
class Prompts:
    """The cleaned prompts, each tokenized once: texts, encodings, token counts."""

    texts: list[str]
    encs: list
    lengths: list[int]

    def __len__(self) -> int:
        return len(self.texts)


def _setup(adapter, image, prompts, template) -> tuple[Prompts, torch.Tensor]:
    """(the prompts, the image embedding [1, embed] (normalised))."""
    notes: list[str] = []
    texts = clean_prompts(prompts, template, notes)
    pixels = adapter.preprocess([read_image(image, "the image", notes)])   # [1, 3, H, W]
    with torch.no_grad():
        image_emb = adapter.encode_image(pixels)                             # [1, embed]
    encs = [adapter.tokenize(p) for p in texts]
    return Prompts(texts, encs, [len(e.tokens) for e in encs]), image_emb


def _logits(adapter, image_emb: torch.Tensor, prompts: Prompts, copies: int = 1) -> torch.Tensor:
    """logit_scale x cosine (+ bias) of the image with `copies` x the prompts (item k = prompt k % P),
    one padded batch: [copies * prompt]."""
    try:
        z = adapter.text_forward_batch(prompts.encs * copies).embedding    # [text, embed]
        z = torch.nn.functional.normalize(z, dim=-1)
    except NotImplementedError:                    # a tower that pads only as encode_text does
        z = adapter.encode_text(prompts.texts * copies)                      # [text, embed]
    return adapter.logits_of(z @ image_emb[0])                              # [text]


def _clean_run(adapter, outs, n_heads, image_emb, prompts: Prompts):
    """(logits [prompt] of the unedited prompts, contexts {layer: [prompt, token, head, d]})."""
    with capture_head_inputs(outs, n_heads) as contexts:
        logits = _logits(adapter, image_emb, prompts)                        # [prompt]
    return logits, dict(contexts)


def _values(mode: str, contexts: dict, layer: int, lengths: list[int]) -> torch.Tensor:
    """What replaces an ablated head: zeros, or per prompt its mean over its own tokens,
    [prompt, 1, head, d_head]."""
    c = contexts[layer]                                                      # [prompt, token, head, d]
    if mode == "zero":
        return torch.zeros((), device=c.device)
    if max(lengths) > c.shape[1]:
        raise RuntimeError(f"A prompt has {max(lengths)} tokens but the batch {c.shape[1]}: the "
                           "text tower truncates differently from its tokenizer.")
    return torch.stack([c[p, :n].mean(0) for p, n in enumerate(lengths)])[:, None]


def ablate_text_heads(adapter, image, prompts, heads, mode: str = "zero",
                      template: str | None = None) -> ClipHeadAblation:
    """Every prompt's logit and probability with `heads` [(layer, head), ...] of the text
    tower removed from every prompt's encoding ("zero": the context set to zeros; "mean":
    replaced by its mean over that prompt's tokens), before and after."""
    check_mode(mode)
    outs, n_heads = tower_sites(adapter, "text")
    pairs = check_pairs(heads, len(outs), n_heads, "text")
    prompts, image_emb = _setup(adapter, image, prompts, template)
    with torch.no_grad(), heads_visible(adapter, "text"):
        before, contexts = _clean_run(adapter, outs, n_heads, image_emb, prompts)
        select: dict[int, torch.Tensor] = {}
        for layer, head in pairs:                  # every prompt loses the same heads
            select.setdefault(layer, torch.zeros(len(prompts), n_heads, dtype=torch.bool,
                                                 device=before.device))[:, head] = True
        values = {layer: _values(mode, contexts, layer, prompts.lengths) for layer in select}
        with edit_heads(outs, n_heads, select, values):
            after = _logits(adapter, image_emb, prompts)                     # [prompt]
    return ClipHeadAblation(
        logits_before=before.cpu().numpy(), logits_after=after.cpu().numpy(),
        probs_before=adapter.probabilities(before).cpu().numpy(),
        probs_after=adapter.probabilities(after).cpu().numpy(),
        prompts=tuple(prompts.texts), heads=pairs, mode=mode, tower="text",
        mean_over=MEAN_OVER_PROMPT if mode == "mean" else "", model_name=adapter.name)


def text_head_importance(adapter, image, prompts, prompt: str | None = None, mode: str = "zero",
                         template: str | None = None,
                         should_stop: StopCheck | None = None,
                         budget_s: float | None = None) -> HeadImportance:
    """delta [layer, head]: the change of `prompt`'s probability (by the adapter's link)
    when that text-tower head alone is removed from every prompt; prompt=None: the best
    prompt before.

    Batched: one clean forward of the prompts, then per layer one forward of (heads x
    prompts) texts, item k = prompt k % P with head k // P removed (chunks of at most
    SCAN_ITEMS texts). Equal to one `ablate_heads(..., tower="text")` per head (tested).
    budget_s: as for text models (api/causal.py, CausalBudget)."""
    start = time.perf_counter()
    check_mode(mode)
    outs, n_heads = tower_sites(adapter, "text")
    prompts, image_emb = _setup(adapter, image, prompts, template)
    n_prompts = len(prompts)
    chunk = max(1, min(n_heads, SCAN_ITEMS // n_prompts))                    # heads per forward
    clock = CausalBudget(budget_s, should_stop)
    with torch.no_grad(), heads_visible(adapter, "text"):
        (before, contexts), clean_s = timed(_clean_run, adapter, outs, n_heads, image_emb, prompts)
        # the clean run is one pass of every prompt: an item here is that many texts
        clock.plan((adapter.name, "text scan", n_prompts), clean_s, len(outs) * n_heads,
                   f"Scanning {len(outs) * n_heads} text heads with {n_prompts} prompts",
                   "Use fewer prompts, or remove chosen heads instead.")
        probs = adapter.probabilities(before)                                # [prompt]
        index = (int(probs.argmax()) if prompt is None
                 else prompt_index(prompt, prompts.texts, template))
        rows = []
        for layer in range(len(outs)):
            value = _values(mode, contexts, layer, prompts.lengths)  # [prompt, 1, head, d] or []
            row = []
            for first in range(0, n_heads, chunk):
                heads = range(first, min(first + chunk, n_heads))
                clock.step(f"Text heads of layer {layer}", len(heads) * n_prompts)
                select = torch.zeros(len(heads), n_prompts, n_heads, dtype=torch.bool,
                                     device=before.device)                   # [head item, prompt, head]
                select[torch.arange(len(heads)), :, torch.tensor(list(heads))] = True
                values = value if mode == "zero" else value.repeat(len(heads), 1, 1, 1)
                with edit_heads(outs, n_heads, {layer: select.flatten(0, 1)}, {layer: values}):
                    logits = _logits(adapter, image_emb, prompts, len(heads))   # [head * prompt]
                row.append(adapter.probabilities(logits.view(len(heads), n_prompts))[:, index])
            rows.append(torch.cat(row))
        delta = torch.stack(rows) - probs[index]                             # [layer, head]
    return HeadImportance(
        delta=delta.cpu().numpy(), before=float(probs[index]), mode=mode,
        target=(f"probability of “{prompts.texts[index]}” ({adapter.link_words}; {n_prompts} prompts; "
                "text-tower head removed from every prompt)"),
        seconds=time.perf_counter() - start, batch_size=chunk,
        mean_over=MEAN_OVER_PROMPT if mode == "mean" else "", tokens=tuple(prompts.texts),
        model_name=adapter.name)
