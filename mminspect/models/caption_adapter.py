"""Our bundled cross-attention captioner (an image encoder and a text decoder that reads it)
as an adapter.

The folder (assets/fusion, or a retrained copy) holds caption.safetensors and
caption_card.json; the card records the configuration, the vocabulary and the weights'
SHA-256, checked at every load through `bundled.verify_sha256`, as for the other bundled models.

Sites (what `capture/` hooks, found here and nowhere above): `blocks()` (the decoder's
residual stream), `self_attention_modules()` and `cross_attention_modules()` (each returns
(output, probabilities)), `cross_out_projs()` (where the cross-attention heads are joined).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..fusion.caption import START, CaptionConfig, CaptionModel, caption_ids, caption_vocabulary
from ..miniclip.model import to_pixels
from ..types import InputError
from .base import ModelAdapter
from .fusion_adapter import FusionAdapter, fusion_dir, load_shipped, read_card

CARD, WEIGHTS = "caption_card.json", "caption.safetensors"
RETRAIN = "python -m mminspect.lab.caption_train --out assets/fusion"


def caption_dir(source: str) -> Path:
    """"bundled:fusion-caption" -> the shipped folder (beside the concatenation model)."""
    return fusion_dir("bundled:fusion" if source == "bundled:fusion-caption" else source)


def read_caption_card(folder: Path) -> dict:
    return read_card(folder, CARD, "the captioner", RETRAIN)


class CaptionAdapter(ModelAdapter):
    family = "fusion_caption"

    def __init__(self, name: str, path: str, label: str, device: str | None = None):
        folder = caption_dir(path)
        self.card, model = load_shipped(
            folder, (CARD, WEIGHTS), "the captioner", RETRAIN, caption_vocabulary(),
            "mminspect.fusion.caption", lambda config: CaptionModel(CaptionConfig.from_dict(config)))
        self.folder = folder
        self._setup(name, label, model, device)

    @classmethod
    def from_model(cls, model: CaptionModel, name: str = "fusion-caption",
                   label: str = "captioner (in memory)") -> "CaptionAdapter":
        """Wrap a model that is not saved (training and tests)."""
        self = cls.__new__(cls)
        self.folder, self.card = None, {}
        self._setup(name, label, model, str(next(model.parameters()).device))
        return self

    # The concatenation adapter's own code serves here unchanged: both wrap a model with
    # `cfg.depth`, `cfg.heads`, `blocks` and mini-CLIP 2's tower at `cfg.image_size`.
    _setup = FusionAdapter._setup
    modalities = FusionAdapter.modalities
    n_layers = FusionAdapter.n_layers
    n_heads = FusionAdapter.n_heads
    blocks = FusionAdapter.blocks            # the decoder's blocks (residual stream)
    image_array = FusionAdapter.image_array  # centre crop + resize to the tower's size

    def self_attention_modules(self) -> list[torch.nn.Module]:
        return [b.attn for b in self.model.blocks]

    def cross_attention_modules(self) -> list[torch.nn.Module]:
        return [b.cross for b in self.model.blocks]

    def cross_out_projs(self) -> list[torch.nn.Module]:
        """Where the cross-attention heads' context vectors are joined (head ablation's site)."""
        return [b.cross.proj for b in self.model.blocks]

    def pixels(self, seen: np.ndarray) -> torch.Tensor:
        return to_pixels(seen[None]).to(self.device)                      # [1, 3, H, W]

    def prefix_ids(self, words: list[str]) -> torch.Tensor:
        """[START] and the given words as ids [1, word]; refuses words it cannot write."""
        vocab = set(caption_vocabulary())
        unknown = [w for w in words if w not in vocab]
        if unknown:
            raise InputError(f"The captioner cannot write {', '.join(map(repr, unknown))}: its "
                             "words are the world's canonical colours, shapes and things.")
        if len(words) + 1 > self.cfg.max_words:
            raise InputError(f"{len(words)} words; the captioner writes at most {self.cfg.max_words - 1}.")
        return torch.tensor([caption_ids([START, *words])], device=self.device)

    def vocabulary(self) -> tuple[str, ...]:
        return caption_vocabulary()

    def lens_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """A decoder layer's residual stream read through the final norm and output head."""
        return self.model.head(self.model.ln_f(hidden))

    def cross_weights(self, layer: int) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Layer `layer`'s cross-attention weights as (W [out, in], b [out]) for "q" (from the
        words), "k" and "v" (from the patches: the two halves of `kv`) and "out" (`proj`, where
        the heads are joined)."""
        cross, d = self.model.blocks[layer].cross, self.cfg.width
        kv_w, kv_b = cross.kv.weight.detach(), cross.kv.bias.detach()
        return {"q": (cross.q.weight.detach(), cross.q.bias.detach()),
                "k": (kv_w[:d], kv_b[:d]), "v": (kv_w[d:], kv_b[d:]),
                "out": (cross.proj.weight.detach(), cross.proj.bias.detach())}
