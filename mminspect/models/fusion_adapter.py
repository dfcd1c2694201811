"""Our bundled fusion model (image and text in one transformer) as an adapter.

The folder (assets/fusion, or a retrained copy) holds the weights and the card; the card
records the configuration, the vocabulary and the weights' SHA-256, checked at every load
through `bundled.verify_sha256`, as for the mini-CLIPs.

Sites (what `capture/` hooks, found here and nowhere above): `blocks()` (residual stream),
`attention_modules()` (q, k, v come out of each one's `qkv`, heads join in its `proj`).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file

from ..fusion import words as W
from ..fusion.model import FusionConfig, FusionModel
from ..miniclip.model import to_pixels
from ..types import InputError, ModelLoadError
from .assets import asset_dir
from .base import ModelAdapter
from .bundled import verify_sha256
from .devices import choose_device

CARD, WEIGHTS = "card.json", "fusion.safetensors"
RETRAIN = "python -m mminspect.lab.fusion_train --out assets/fusion"
MAX_CAPTION_CHARS = 300


def fusion_dir(source: str) -> Path:
    """"bundled:fusion" -> the shipped folder; any other source is a folder (a retrained copy)."""
    return asset_dir("fusion") if source == "bundled:fusion" else Path(source)


def read_card(folder: Path, card_name: str = CARD, what: str = "the fusion model",
              retrain: str = RETRAIN) -> dict:
    try:
        return json.loads((folder / card_name).read_text())
    except (OSError, ValueError) as e:
        raise ModelLoadError(f"The card of {what}, {folder / card_name}, is missing or unreadable "
                             f"({e}); restore it from git (git checkout -- assets/fusion) or "
                             f"retrain: `{retrain}`.") from e


def load_shipped(folder: Path, files: tuple[str, str], what: str, retrain: str,
                 vocabulary: list, vocab_source: str, build) -> tuple[dict, torch.nn.Module]:
    """(card, model) of a model shipped in `folder` with its card: the card read, the weights'
    SHA-256 checked against it, its vocabulary compared with the one `vocab_source` builds
    today, the weights loaded into `build(card["config"])`. files: (card, weights) names;
    what: the model in words ("the fusion model"); retrain: the command that remakes both."""
    card_name, weights_name = files
    card = read_card(folder, card_name, what, retrain)
    weights = verify_sha256(folder / card.get("weights", {}).get("file", weights_name),
                            card.get("weights", {}).get("sha256"),
                            f"{folder / card_name} records another file. Restore both from git "
                            f"(git checkout -- assets/fusion) or retrain with `{retrain}`.")
    if card.get("vocabulary") != list(vocabulary):
        raise ModelLoadError(f"{folder / card_name} was trained with another vocabulary than "
                             f"{vocab_source} builds today; retrain with `{retrain}`.")
    model = build(card["config"])
    missing, unexpected = model.load_state_dict(load_file(str(weights)), strict=False)
    if missing or unexpected:
        raise ModelLoadError(f"{weights} does not fit the card's config: missing {missing}, "
                             f"unexpected {unexpected}.")
    return card, model


class FusionAdapter(ModelAdapter):
    family = "fusion"

    def __init__(self, name: str, path: str, label: str, device: str | None = None):
        folder = fusion_dir(path)
        self.card, model = load_shipped(
            folder, (CARD, WEIGHTS), "the fusion model", RETRAIN, W.vocabulary(),
            "mminspect.fusion.words", lambda config: FusionModel(FusionConfig.from_dict(config)))
        self.folder = folder
        self._setup(name, label, model, device)

    @classmethod
    def from_model(cls, model: FusionModel, name: str = "fusion",
                   label: str = "fusion (in memory)") -> "FusionAdapter":
        """Wrap a model that is not saved (training and tests)."""
        self = cls.__new__(cls)
        self.folder, self.card = None, {}
        self._setup(name, label, model, str(next(model.parameters()).device))
        return self

    def _setup(self, name: str, label: str, model: FusionModel, device) -> None:
        self.name, self.label = name, label
        self.device = choose_device(device)
        self.model = model.to(self.device).eval()
        self.cfg: FusionConfig = model.cfg

    @property
    def modalities(self) -> tuple[str, ...]:
        return ("image", "text")

    @property
    def n_layers(self) -> int:
        return self.cfg.depth

    @property
    def n_heads(self) -> int:
        return self.cfg.heads

    def blocks(self) -> list[torch.nn.Module]:
        return list(self.model.blocks)

    def attention_modules(self) -> list[torch.nn.Module]:
        return [b.attn for b in self.model.blocks]

    def head_out_projs(self) -> list[torch.nn.Module]:
        """Where the heads' context vectors are joined: the site head ablation edits."""
        return [b.attn.proj for b in self.model.blocks]

    def image_array(self, image: Image.Image | np.ndarray) -> np.ndarray:
        """uint8 [H, W, 3] at the model's size: centre-cropped to a square, then resized."""
        if isinstance(image, np.ndarray):
            image = Image.fromarray(np.asarray(image).astype(np.uint8))
        if not isinstance(image, Image.Image):
            raise InputError(f"Expected a PIL image or a uint8 [H, W, 3] array, got {type(image).__name__}.")
        im, size = image.convert("RGB"), self.cfg.image_size
        w, h = im.size
        s = min(w, h)
        im = im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
        if s != size:
            im = im.resize((size, size), Image.Resampling.BICUBIC)
        return np.array(im)                 # a writable copy (torch warns on a read-only one)

    def tokenize(self, caption: str) -> list[str]:
        """[CLS] and the caption's words; refuses what the model cannot read, saying why."""
        if not isinstance(caption, str) or not caption.strip():
            raise InputError("Write a caption, e.g. 'a [MASK] star left of a cat'.")
        if len(caption) > MAX_CAPTION_CHARS:
            raise InputError(f"The caption has {len(caption)} characters; at most {MAX_CAPTION_CHARS}.")
        tokens = [W.CLS, *W.tokenize(caption)]
        if len(tokens) > self.cfg.max_words:
            raise InputError(f"The caption has {len(tokens) - 1} words; this model reads at most "
                             f"{self.cfg.max_words - 1}.")
        return tokens

    def unknown_words(self, tokens: list[str]) -> list[str]:
        vocab = set(W.vocabulary())
        return [t for t in tokens if t not in vocab]

    def inputs(self, image, caption: str) -> tuple[np.ndarray, list[str], torch.Tensor, torch.Tensor]:
        """(the image as seen, tokens, pixels [1, 3, H, W], ids [1, token])."""
        seen = self.image_array(image)
        tokens = self.tokenize(caption)
        ids = torch.tensor([W.ids_of(tokens)], device=self.device)             # [1, token]
        return seen, tokens, to_pixels(seen[None]).to(self.device), ids

    @torch.no_grad()
    def forward(self, pixels: torch.Tensor, ids: torch.Tensor):
        """(P(match) [batch], word probabilities [batch, token, vocab], attentions: tuple over
        layers of [batch, head, query, key])."""
        itm, words, attns = self.model(pixels, ids, return_attentions=True)
        return itm.softmax(-1)[:, 1], words.softmax(-1), tuple(attns)

    def vocabulary(self) -> tuple[str, ...]:
        return W.vocabulary()
