"""Glass-box attention on the fusion model: one head of the joint sequence, step by step.

    tr = mi.trace_head("fusion", "a [MASK] star left of a cat", layer=2, head=1, image=img)
    tr.tokens                       # [CLS] the words ... then the 64 patches r0c0 .. r7c7
    blk = mi.fusion_head_block(tr)  # the text->image block: word queries x patch keys
    blk.weights, blk.image_share    # [word, patch]; how much of each word's weight is on patches

The fusion model reads words and patches as ONE sequence, so a head's attention matrix has
four blocks; its softmax runs over ALL keys (words and patches together). The text->image
block is therefore a part of each word's row, not a softmax of its own: its weights sum to the
share of that word's attention that lands on the image (`image_share`), not to 1.

`api.trace` runs this through the same glass-box machinery as every other model: `fusion_tower`
gives its `Tower`'s fields (where the layers are, one forward, the tokens), `fusion_embeddings` the recipe
for what enters layer 0 (content + position + modality, one row per token).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import torch

from ..models.clip_base import PatchGrid
from ..types import HeadTrace, InputError
from .images import read_image

# The fusion model's glass-box row (keys as in models/attention_sites.py): mini-CLIP's block
# layout (pre-norm ln1, fused qkv, proj), over the joint sequence, no mask but padding.
FUSION_SITES = {"root": "model", "blocks": "blocks", "pre_norm": "ln1",
                "qkv": ("linear", "attn.qkv"), "out": ("linear", "attn.proj"),
                "out_hook": "attn.proj", "heads": "attn.heads", "scale": None, "causal": False,
                "position": None}
BLOCKS = {"text->text": ("text", "text"), "text->image": ("text", "image"),
          "image->text": ("image", "text"), "image->image": ("image", "image")}


def fusion_embeddings(root, inputs):
    """What enters the fusion model's layer 0, per token (text rows first, then patches):
    content (a word's embedding; a patch's projected tower token), position (learned 1-D for
    words, fixed 2-D sin-cos for patches) and modality (0 text, 1 image). No LayerNorm."""
    ids, pixels = inputs["input_ids"], inputs["pixel_values"]        # [1, word], [1, 3, H, W]
    n = ids.shape[1]
    patches = root.patch_in(root.patch_tokens(pixels))[0]            # [patch, D]
    content = torch.cat([root.words(ids)[0], patches])               # [T, D]
    position = torch.cat([root.word_pos[:n], root.patch_pos])        # [T, D]
    modality = torch.cat([root.modality[0].expand(n, -1),
                          root.modality[1].expand(patches.shape[0], -1)])   # [T, D]
    return {"content": content, "position": position, "modality": modality}, None


def fusion_tower(adapter, text, image) -> dict:
    """The fusion model and one (image, caption) pair as the fields of a glass-box
    `api.trace.Tower` ("joint"; api/trace.py builds it, so this file does not import it)."""
    if text is None or image is None:
        raise InputError(f"{adapter.name} reads an image and a caption together: pass "
                         "text='a red star left of a cat' and image=... (a PIL image or an array).")
    _, tokens, pixels, ids = adapter.inputs(read_image(image, "the image"), text)
    cfg = adapter.cfg
    grid = PatchGrid(rows=cfg.grid, cols=cfg.grid, patch_size=cfg.patch,
                     image_size=(cfg.image_size, cfg.image_size), has_cls=False)

    def run() -> torch.Tensor:                     # [layer, head, T, T]
        return torch.stack([a[0] for a in adapter.forward(pixels, ids)[2]])

    return {"adapter": adapter, "tower": "joint", "key": "fusion/joint",
            "spec": {**FUSION_SITES, "embeddings": fusion_embeddings}, "root": adapter.model,
            "tokens": tokens + grid.token_labels(), "causal": False, "forward": run,
            "inputs": {"input_ids": ids, "pixel_values": pixels}}


@dataclass(frozen=True)
class FusionBlock:
    """One block of a traced fusion head: query rows of one modality, key columns of one.

    queries, keys: positions in the joint sequence; weights [query, key]: the head's own
    softmax weights (a slice of the full rows, so a row sums to `image_share` or
    `text_share`, not 1); scores [query, key]: q·k before scaling; share [query]: the part of
    each query's weight that falls in this block."""

    block: str
    queries: tuple[int, ...]
    keys: tuple[int, ...]
    query_tokens: tuple[str, ...]
    key_tokens: tuple[str, ...]
    weights: np.ndarray
    scores: np.ndarray
    share: np.ndarray
    layer: int
    head: int


def n_text(tokens) -> int:
    """How many leading tokens of a fusion trace are text ([CLS] + words): the patches are the
    last grid x grid tokens, labelled r<row>c<col> (a caption word typed as "r7c7" may
    precede them, so the count is the largest square of the trailing labels)."""
    trailing = 0
    for t in reversed(tokens):
        if not re.fullmatch(r"r\d+c\d+", t):
            break
        trailing += 1
    return len(tokens) - int(math.isqrt(trailing)) ** 2


def fusion_head_block(trace: HeadTrace, block: str = "text->image") -> FusionBlock:
    """A block of a fusion head's trace (`trace_head` on the fusion model): "text->image"
    (word queries, patch keys: which patches each word reads), "text->text", "image->text",
    "image->image"."""
    if block not in BLOCKS:
        raise InputError(f"block={block!r}: choose one of {', '.join(BLOCKS)}.")
    if trace.tower != "joint":
        raise InputError("fusion_head_block takes a trace of the fusion model (tower 'joint'); "
                         f"this one is of the {trace.tower} tower.")
    t = len(trace.tokens)
    k = n_text(trace.tokens)
    span = {"text": tuple(range(k)), "image": tuple(range(k, t))}
    rows, cols = (span[m] for m in BLOCKS[block])
    w = trace.weights[np.ix_(rows, cols)]                               # [query, key]
    return FusionBlock(block=block, queries=rows, keys=cols,
                       query_tokens=tuple(trace.tokens[i] for i in rows),
                       key_tokens=tuple(trace.tokens[i] for i in cols), weights=w,
                       scores=trace.scores[np.ix_(rows, cols)], share=w.sum(axis=1),
                       layer=trace.layer, head=trace.head)


def image_share_note(trace: HeadTrace, query: int) -> str:
    """One sentence for the step-through: how much of this query's weight reads the image."""
    k = n_text(trace.tokens)
    tok = trace.tokens[query]
    on_image = float(trace.weights[query, k:].sum())
    if query < k:
        top = k + int(np.argmax(trace.weights[query, k:]))
        return (f"text→image block: “{tok}” puts {100 * on_image:.0f} % of its weight on the "
                f"{len(trace.tokens) - k} patches (most on {trace.tokens[top]}), "
                f"{100 * (1 - on_image):.0f} % on the words.")
    return (f"image→text block: patch {tok} puts {100 * (1 - on_image):.0f} % of its weight on "
            f"the words, {100 * on_image:.0f} % on the patches.")
