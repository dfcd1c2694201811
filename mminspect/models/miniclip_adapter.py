"""Our bundled mini-CLIPs as a `CLIPAdapter`: the ViT from `mminspect.miniclip` plus the frozen
bundled MiniLM (the registry's cached `HFTextAdapter`, which gives its tokens and attention).

Two are bundled, each a folder under assets/ with its card (config, recipe, figures, weights
SHA-256) and weights: "miniclip" (mini-CLIP 1: flat shapes on plain backgrounds) and
"miniclip2" (mini-CLIP 2: shapes and everyday objects on any background, patch-aligned)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file

from ..miniclip.model import PIXEL_MEAN, PIXEL_STD, MiniCLIP
from ..miniclip.vit import ViTConfig
from ..types import InputError, ModelLoadError
from .assets import asset_dir
from .base import Encoded
from .bundled import verified_minilm_dir, verify_sha256
from .clip_base import CLIPAdapter, PatchGrid, TowerOutput, padded_ids
from .devices import choose_device
from .hf_text import HFTextAdapter
from .registry import REGISTRY, load

MINICLIP_DIR = asset_dir("miniclip")       # assets/miniclip (in a checkout or installed)
CARD, WEIGHTS = "card.json", "miniclip.safetensors"
BUNDLED_PREFIX = "bundled:"
RETRAIN = {"miniclip": "python -m mminspect.lab.miniclip_train",
           "miniclip2": "python -m mminspect.lab.miniclip2_train --out assets/miniclip2"}


def bundled_dir(source: str) -> Path:
    """The asset folder of a "bundled:<name>" source ("" is mini-CLIP 1); any other source is
    a folder path (a retrained copy)."""
    if source in ("", f"{BUNDLED_PREFIX}miniclip"):
        return MINICLIP_DIR
    if source.startswith(BUNDLED_PREFIX):
        return asset_dir(source.removeprefix(BUNDLED_PREFIX))
    return Path(source)


def read_card(folder: Path) -> dict:
    try:
        return json.loads((folder / CARD).read_text())
    except (OSError, ValueError) as e:
        raise ModelLoadError(f"mini-CLIP's model card {folder / CARD} is missing or unreadable "
                             f"({e}); restore it from git (git checkout -- {_rel(folder)}) or retrain: "
                             f"`{RETRAIN['miniclip']}` (mini-CLIP 1), `{RETRAIN['miniclip2']}` "
                             "(mini-CLIP 2).") from e


def shipped_sha256(name: str) -> str | None:
    """The SHA-256 a bundled mini-CLIP's card names for its weights; None when the card is
    missing or unreadable (a shipped table is then stale, and loading the model says why),
    so that nothing but that model stops working."""
    try:
        return str(read_card(bundled_dir(f"{BUNDLED_PREFIX}{name}"))["weights"]["sha256"])
    except (ModelLoadError, KeyError, TypeError):
        return None


def _rel(folder: Path) -> str:
    return f"assets/{folder.name}" if folder.parent.name == "assets" else str(folder)


def retrain_command(folder: Path) -> str:
    return RETRAIN.get(folder.name, RETRAIN["miniclip"])


def verify_weights(folder: Path, card: dict) -> Path:
    """The weights file, after checking its SHA-256 against the one the card records."""
    path = folder / card.get("weights", {}).get("file", WEIGHTS)
    return verify_sha256(path, card.get("weights", {}).get("sha256"),
                         f"{folder / CARD} records another file. Restore both from git "
                         f"(git checkout -- {_rel(folder)}) or retrain with "
                         f"`{retrain_command(folder)}`.")


def minilm_text_tower(device: str | None = None) -> HFTextAdapter:
    """The frozen text tower: the bundled MiniLM (hash-checked by the registry), mean-pooled
    and normalised exactly as when mini-CLIP was trained on its cached embeddings.

    It is the registry's cached "minilm", so loading mini-CLIP next to MiniLM keeps one copy
    in memory. Only a device other than the cached copy's gets a private copy."""
    shared = load("minilm")
    if device is None or torch.device(device) == shared.device:
        return shared
    e = REGISTRY["minilm"]
    return HFTextAdapter(name="minilm", path=str(verified_minilm_dir()), label=e["label"],
                         device=device, **e["options"])


class MiniCLIPAdapter(CLIPAdapter):
    family = "miniclip"

    def __init__(self, name: str, path: str, label: str, device: str | None = None):
        folder = bundled_dir(path)
        card = read_card(folder)
        self.folder, self.card = folder, card      # what it was trained on and its figures
        weights = verify_weights(folder, card)
        model = MiniCLIP(ViTConfig.from_dict(card["config"]))
        state = load_file(str(weights))
        missing, unexpected = model.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ModelLoadError(f"{weights} does not fit the card's config: missing {missing}, "
                                 f"unexpected {unexpected}.")
        self._setup(name, label, model, minilm_text_tower(device), device)

    @classmethod
    def from_model(cls, model: MiniCLIP, text: HFTextAdapter, name: str = "miniclip",
                   label: str = "mini-CLIP (in memory)") -> "MiniCLIPAdapter":
        """Wrap a model that is not saved yet (training evaluates itself through this)."""
        self = cls.__new__(cls)
        self.folder, self.card = None, {}
        self._setup(name, label, model, text, str(next(model.parameters()).device))
        return self

    def _setup(self, name, label, model: MiniCLIP, text: HFTextAdapter, device) -> None:
        self.name, self.label = name, label
        self.device = choose_device(device)        # the same rule as the shared text tower
        self.model = model.to(self.device).eval()
        # The text tower is frozen (mini-CLIP never trains it), but it is the cache's shared
        # MiniLM, so its requires_grad flags are left alone: the Text tab attributes through it.
        self.text = text
        cfg = model.cfg
        self._grid = PatchGrid(rows=cfg.grid, cols=cfg.grid, patch_size=cfg.patch,
                               image_size=(cfg.image_size, cfg.image_size), has_cls=True)

    def memory_bytes(self) -> int:
        """Parameter and buffer bytes of both towers. The text tower is shared with the cached
        "minilm", so the cache counts it twice: the budget errs on the safe side, and mini-CLIP
        keeps MiniLM alive even if the cache drops its "minilm" entry."""
        tensors = [*self.model.parameters(), *self.model.buffers(),
                   *self.text.model.parameters(), *self.text.model.buffers()]
        return sum(t.numel() * t.element_size() for t in tensors)

    @property
    def patch_grid(self) -> PatchGrid:
        return self._grid

    @property
    def logit_scale(self) -> float:
        return self.model.scale().item()

    def preprocess(self, images: Sequence[Image.Image | np.ndarray]) -> torch.Tensor:
        size = self.model.cfg.image_size
        arrays = []
        for im in images:
            if isinstance(im, np.ndarray):
                im = Image.fromarray(im.astype(np.uint8))
            if not isinstance(im, Image.Image):
                raise InputError(f"Expected a PIL image or a uint8 [H, W, 3] array, got {type(im)}.")
            im = im.convert("RGB")
            w, h = im.size                          # centre-crop to a square, then resize
            s = min(w, h)
            im = im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
            if s != size:
                im = im.resize((size, size), Image.Resampling.BICUBIC)
            arrays.append(np.asarray(im))
        x = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 255  # [image, 3, H, W]
        return ((x - PIXEL_MEAN) / PIXEL_STD).to(self.device)

    def tokenize(self, text: str) -> Encoded:
        return self.text.encode(text)

    @torch.no_grad()
    def encode_text(self, texts: list[str], normalize: bool = True) -> torch.Tensor:
        feats = torch.from_numpy(self.text.embed(list(texts))).to(self.device)  # [text, 384]
        z = self.model.text_proj(feats)                                          # [text, embed]
        return torch.nn.functional.normalize(z, dim=-1) if normalize else z

    @torch.no_grad()
    def encode_image(self, pixels: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        z = self.model.visual(pixels.to(self.device))[0]                         # [image, embed]
        return torch.nn.functional.normalize(z, dim=-1) if normalize else z

    def image_forward(self, pixels: torch.Tensor, keep_graph: bool = False) -> TowerOutput:
        return self._one_image(pixels, keep_graph)

    def image_forward_batch(self, pixels: torch.Tensor, keep_graph: bool = False) -> TowerOutput:
        """The ViT runs batches natively: embedding [batch, embed], layer_attentions each
        [batch, head, query, key] (the graph's own tensors), patch_features [batch, patch, embed]."""
        with torch.set_grad_enabled(keep_graph):
            emb, patches, attns = self.model.visual(pixels.to(self.device), return_attentions=True)
        return TowerOutput(embedding=emb, layer_attentions=tuple(attns),
                           tokens=self._grid.token_labels(), patch_features=patches)

    def text_pool_weights(self, enc: Encoded) -> np.ndarray:
        """MiniLM mean-pools its real tokens (one unpadded text: all of them), or reads [CLS]
        when its pooling says so."""
        n = enc.inputs["input_ids"].shape[1]
        return np.eye(n)[0] if self.text.pooling == "cls" else np.full(n, 1.0 / n)   # [token]

    def text_forward(self, enc: Encoded, keep_graph: bool = False) -> TowerOutput:
        inputs = dict(enc.inputs)
        with torch.set_grad_enabled(keep_graph):
            if keep_graph:
                # Start the graph at the word embeddings: the shared tower's weights may have
                # requires_grad off, and then nothing would be recorded from token ids.
                ids = inputs.pop("input_ids")
                emb = self.text.model.get_input_embeddings()(ids)             # [1, token, 384]
                inputs["inputs_embeds"] = emb.detach().requires_grad_(True)
            out = self.text.model(**inputs, output_attentions=True, output_hidden_states=True)
            feats = self.text.pool(out.hidden_states[-1], enc.inputs["attention_mask"])  # [1, 384]
            emb = self.model.text_proj(feats)[0]                                   # [embed]
        if len(out.attentions) != self.text.model.config.num_hidden_layers:
            raise RuntimeError("MiniLM returned no attention maps; it must be loaded with "
                               "attn_implementation='eager'.")
        return TowerOutput(embedding=emb, layer_attentions=tuple(out.attentions),
                           tokens=list(enc.tokens))

    def text_forward_batch(self, encs: Sequence[Encoded], keep_graph: bool = False) -> TowerOutput:
        """Like text_forward for several prompts, right-padded with an attention mask (see
        CLIPAdapter.text_forward_batch): MiniLM gives masked keys no weight, so each prompt's
        block equals its own forward. One prompt at a time, 50 prompts took ~1 s each on a
        busy 2-core machine."""
        ids, mask = padded_ids(encs, self.text.token_id("pad") or 0, self.device)  # [text, L]
        with torch.set_grad_enabled(keep_graph):
            inputs = {"attention_mask": mask, "token_type_ids": torch.zeros_like(ids)}
            if keep_graph:                      # the graph starts at the word embeddings (above)
                emb = self.text.model.get_input_embeddings()(ids)              # [text, L, 384]
                inputs["inputs_embeds"] = emb.detach().requires_grad_(True)
            else:
                inputs["input_ids"] = ids
            out = self.text.model(**inputs, output_attentions=True, output_hidden_states=True)
            feats = self.text.pool(out.hidden_states[-1], mask)                   # [text, 384]
            emb = self.model.text_proj(feats)                                     # [text, embed]
        return TowerOutput(embedding=emb, layer_attentions=tuple(out.attentions), tokens=[])
