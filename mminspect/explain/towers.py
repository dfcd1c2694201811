"""One pass of both towers for one Image-text click: every view of the click (cosine, logits,
probabilities, PCA, attentions, relevance and similarity maps) is derived from it, so each
image goes through the image tower once and each prompt through the text tower once.

    towers = run_towers(adapter, pixels, encs, keep_graph=True)   # image 0 and the texts in the graph
    towers.image_embeddings()                                     # [image, embed], unit
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from ..models.base import Encoded
from ..models.clip_base import CLIPAdapter, TowerOutput

F = torch.nn.functional


@dataclass(frozen=True)
class TowerPass:
    """pixels: [image, 3, H, W] as preprocessed; images: one TowerOutput per image, the first
    one kept in the autograd graph when the pass was run with keep_graph (relevance explains
    the first image); text: unit text embeddings [prompt, embed] (in the graph likewise);
    text_groups: [(attentions per layer [b, head, L, L], first prompt index)], one group for
    a padded batch, one per prompt when the adapter runs texts one at a time; lengths: the
    token count of each prompt (its own attention is the block [:n, :n] of its group)."""

    pixels: torch.Tensor
    images: list[TowerOutput]
    text: torch.Tensor
    text_groups: list[tuple]
    lengths: list[int]

    def image_embeddings(self) -> np.ndarray:
        """Unit image embeddings, float64 [image, embed]."""
        emb = torch.stack([o.embedding for o in self.images])                # [image, embed]
        return F.normalize(emb.detach(), dim=-1).double().cpu().numpy()

    def text_embeddings(self) -> np.ndarray:
        """Unit text embeddings, float64 [prompt, embed]."""
        return self.text.detach().double().cpu().numpy()

    def text_attention(self, i: int) -> np.ndarray:
        """Prompt i's attention, float32 [layer, head, token, token] (its block of the batch)."""
        n = self.lengths[i]
        for attns, first in self.text_groups:
            if first <= i < first + attns[0].shape[0]:
                return torch.stack([a[i - first, :, :n, :n] for a in attns]).detach().float().cpu().numpy()
        raise IndexError(f"no text group holds prompt {i}")


def text_forward_all(adapter: CLIPAdapter, encs: Sequence[Encoded], keep_graph: bool
                     ) -> tuple[torch.Tensor, list[tuple]]:
    """Every prompt through the text tower: (unit embeddings [prompt, embed], groups), each
    group (attentions per layer [b, h, L, L], first prompt index). One padded batch when the
    adapter runs one, else one forward per prompt."""
    try:
        out = adapter.text_forward_batch(encs, keep_graph=keep_graph)
        emb, groups = out.embedding, [(out.layer_attentions, 0)]
    except NotImplementedError:
        outs = [adapter.text_forward(e, keep_graph=keep_graph) for e in encs]
        emb = torch.stack([o.embedding for o in outs])
        groups = [(o.layer_attentions, i) for i, o in enumerate(outs)]
    return F.normalize(emb, dim=-1), groups


def run_towers(adapter: CLIPAdapter, pixels: torch.Tensor, encs: Sequence[Encoded],
               keep_graph: bool = False) -> TowerPass:
    """pixels [image, 3, H, W] and tokenized prompts through both towers, once each.

    keep_graph: the first image and the texts keep their autograd graph (what relevance
    differentiates); the other images run without one, since no map explains them."""
    text, groups = text_forward_all(adapter, encs, keep_graph)             # [prompt, embed]
    images = []
    for i in range(pixels.shape[0]):
        images.append(adapter.image_forward(pixels[i:i + 1], keep_graph=keep_graph and i == 0))
    return TowerPass(pixels=pixels, images=images, text=text, text_groups=groups,
                     lengths=[e.inputs["input_ids"].shape[1] for e in encs])
