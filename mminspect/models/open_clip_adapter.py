"""open_clip models as a `CLIPAdapter`.

Names: "open_clip:<architecture>/<weights>", where <weights> is one of
- a pretrained tag, e.g. "open_clip:ViT-B-32/laion2b_s34b_b79k" (downloaded on first use);
- "random": random weights with the real architecture and cost (the benchmark uses
  "open_clip:ViT-B-32/random");
- a local file, e.g. "open_clip:ViT-B-32//data/clip.safetensors": safetensors, or a torch file
  read with `weights_only=True` (never a full pickle).

open_clip returns no attention: `image_forward`/`text_forward` run under
`capture.open_clip_attention.capture_attention`, a temporary patch restored on exit. Towers that
are not open_clip's own ViT / text transformer (timm, HF, ResNet) are refused at load; blocks
with custom attention (qk-norm...) load for similarity but say "attention not available".
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import open_clip
import torch
from open_clip.transformer import VisionTransformer, text_global_pool
from PIL import Image
from torch import nn

from ..capture.open_clip_attention import AttentionNotAvailable, capture_attention
from ..types import ModelLoadError
from .base import Encoded
from .clip_base import CLIPAdapter, PatchGrid, TowerOutput, padded_ids
from .devices import choose_device
from .families import clean_token
from .hf_clip import check_text, to_rgb

PREFIX = "open_clip:"
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")

# Where the text tower's parts (token_embedding, positional_embedding, transformer, ln_final,
# text_projection, attn_mask) live in each open_clip model class, and its pooling attributes.
TEXT_TOWERS: dict[str, dict[str, str | None]] = {
    "CLIP": {"tower": None, "pool": "text_pool_type", "eos": "text_eos_id"},
    "CustomTextCLIP": {"tower": "text", "pool": "pool_type", "eos": "eos_id"},
}

# What the image tower must be for a patch grid and per-patch features: (check, why not).
VISION_CHECKS: list[tuple[Callable[[nn.Module], bool], str]] = [
    (lambda v: isinstance(v, VisionTransformer),
     "the image tower is not open_clip's VisionTransformer (a ResNet or timm tower has no "
     "patch tokens)"),
    (lambda v: v.attn_pool is None, "the image tower pools with attention (CoCa-style)"),
    (lambda v: v.pool_type in ("tok", "avg") and v.proj is not None,
     "the image tower has no class-token/average pooling with a projection"),
]


def build(path: str, device: str | None = None) -> tuple[nn.Module, Callable, Callable, str]:
    """(model, preprocess, tokenizer, device) of "[open_clip:]<arch>/<weights>": the one place
    open_clip builds a model, whichever adapter then wraps it."""
    arch, _, source = path.removeprefix(PREFIX).partition("/")
    pretrained = parse_weights(arch, source)
    dev = choose_device(device)
    try:
        # weights_only: a torch file is read by the restricted unpickler, never as a pickle.
        model, _, preprocess = open_clip.create_model_and_transforms(
            arch, pretrained=pretrained, precision="fp32", device=dev, weights_only=True)
        tokenizer = open_clip.get_tokenizer(arch)
    except (RuntimeError, OSError, ValueError, KeyError, ImportError) as e:
        raise ModelLoadError(f"open_clip could not build {arch} with weights {source!r}: "
                             f"{type(e).__name__}: {str(e)[:300]}") from e
    return model, preprocess, tokenizer, dev


def parse_weights(arch: str, source: str) -> str | None:
    """open_clip's `pretrained` argument for "<arch>/<source>": None (random), a tag or a file."""
    if arch not in open_clip.list_models():
        raise ModelLoadError(f"open_clip has no architecture {arch!r}. Known ones include "
                             f"{', '.join(open_clip.list_models()[:12])}, ...")
    tags = open_clip.list_pretrained_tags_by_model(arch)
    hint = (f"Write open_clip:{arch}/<weights> with a tag ({', '.join(tags) or 'none known'}), "
            "'random', or a local .safetensors file path.")
    if source == "random":
        return None
    if source.startswith(("/", "~", ".")) or source.endswith(WEIGHT_SUFFIXES):
        path = Path(source).expanduser()
        if path.suffix not in WEIGHT_SUFFIXES or not path.is_file():
            raise ModelLoadError(f"{source} is not a weights file ({', '.join(WEIGHT_SUFFIXES)}). "
                                 + hint)
        return str(path)
    if source not in tags:
        raise ModelLoadError(f"open_clip has no weights {source!r} for {arch}. " + hint)
    return source


class OpenCLIPAdapter(CLIPAdapter):
    family = "open_clip"

    def __init__(self, name: str, path: str, label: str, device: str | None = None):
        """path: "<arch>/<weights>" (the name without its "open_clip:" prefix)."""
        self._setup(name, label, *build(path, device))

    @classmethod
    def from_model(cls, model: nn.Module, preprocess: Callable, tokenizer: Callable,
                   name: str = "open_clip:in-memory", label: str = "open_clip (in memory)",
                   device: str | None = None) -> "OpenCLIPAdapter":
        """Wrap a model built in code (tests, custom configs)."""
        self = cls.__new__(cls)
        self._setup(name, label, model, preprocess, tokenizer, choose_device(device))
        return self

    def _setup(self, name, label, model: nn.Module, preprocess, tokenizer, device) -> None:
        self.name, self.label, self.device = name, label, torch.device(device)
        self.model = model.to(self.device).eval()
        self.transform, self.tokenizer = preprocess, tokenizer
        kind = TEXT_TOWERS.get(type(model).__name__)
        if kind is None:
            raise ModelLoadError(f"{name}: attention not available for this architecture: "
                                 f"{type(model).__name__} is not a two-tower CLIP model "
                                 f"({', '.join(TEXT_TOWERS)}).")
        self.text = model if kind["tower"] is None else getattr(model, kind["tower"])
        self.pool_type = getattr(self.text, kind["pool"])
        self.eos_id = getattr(self.text, kind["eos"], None)
        v = model.visual
        for check, reason in VISION_CHECKS:
            if not check(v):
                raise ModelLoadError(f"{name}: attention not available for this architecture: "
                                     f"{reason}. Use a ViT model such as open_clip:ViT-B-32.")
        (h, w), (ph, pw) = v.image_size, v.patch_size
        self._grid = PatchGrid(rows=h // ph, cols=w // pw, patch_size=ph, image_size=(h, w),
                               has_cls=True)
        self.context_length = int(getattr(self.text, "context_length", 77))

    @property
    def patch_grid(self) -> PatchGrid:
        return self._grid

    @property
    def logit_scale(self) -> float:
        return self.model.logit_scale.exp().item()

    def preprocess(self, images: Sequence[Image.Image | np.ndarray]) -> torch.Tensor:
        px = torch.stack([self.transform(to_rgb(im)) for im in images])      # [image, 3, H, W]
        return px.to(self.device, torch.float32)

    def _pieces(self, ids: list[int]) -> list[str]:
        """Raw BPE pieces: open_clip's SimpleTokenizer keeps a `decoder`, its HF wrapper a tokenizer."""
        if hasattr(self.tokenizer, "decoder"):
            return [self.tokenizer.decoder[i] for i in ids]
        return self.tokenizer.tokenizer.convert_ids_to_tokens(ids)

    def _keep(self, ids: list[int]) -> int:
        """How many tokens to run and show. The tokenizer pads to the context length; a causal
        (or pad-masked) tower never lets real tokens see the padding, so cutting after the
        end-of-text token gives the same embedding. A bidirectional tower without a pad mask
        does see the padding: keep it all."""
        causal = getattr(self.text, "attn_mask", None) is not None
        if not (causal or getattr(self.text, "use_pad_mask", False)):
            return len(ids)
        eot = getattr(self.tokenizer, "eot_token_id", self.eos_id)
        return ids.index(eot) + 1 if eot in ids else len(ids)

    def tokenize(self, text: str) -> Encoded:
        check_text(text)
        ids = self.tokenizer([text])[0].tolist()                             # [context]
        n = self._keep(ids)
        # SimpleTokenizer truncates silently: count what the whole text would have been.
        full = len(self.tokenizer.encode(text)) + 2 if hasattr(self.tokenizer, "encode") else n
        pieces = self._pieces(ids[:n])
        tokens = [clean_token(p, "clip") for p in pieces]
        special = np.array([i == 0 or i == n - 1 for i in range(n)])          # [token]
        return Encoded(inputs={"input_ids": torch.tensor([ids[:n]], device=self.device)},
                       tokens=tokens, offsets=char_spans(text, tokens, special),
                       special=special, n_dropped=max(0, full - n))

    @torch.no_grad()
    def encode_text(self, texts: list[str], normalize: bool = True) -> torch.Tensor:
        for t in texts:
            check_text(t)
        ids = self.tokenizer(list(texts)).to(self.device)                    # [text, context]
        return self.model.encode_text(ids, normalize=normalize)              # [text, embed]

    @torch.no_grad()
    def encode_image(self, pixels: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        return self.model.encode_image(pixels.to(self.device), normalize=normalize)  # [image, embed]

    def image_forward(self, pixels: torch.Tensor, keep_graph: bool = False) -> TowerOutput:
        if pixels.ndim != 4 or pixels.shape[0] != 1:
            raise ValueError(f"image_forward takes one image [1, 3, H, W], got {tuple(pixels.shape)}")
        v = self.model.visual
        with capture_attention(v.transformer, "the image tower") as maps, \
                torch.set_grad_enabled(keep_graph):
            x = v._embeds(pixels.to(self.device))                            # [1, token, width]
            x = v.transformer(x)                                             # [1, token, width]
            pooled, _ = v._pool(x)                                           # [1, width]
            emb = (pooled @ v.proj)[0]                                       # [embed]
            patches = v.ln_post(x[0, 1:]) @ v.proj                           # [patch, embed]
        return TowerOutput(embedding=emb, layer_attentions=tuple(maps),
                           tokens=self._grid.token_labels(), patch_features=patches)

    def image_forward_batch(self, pixels: torch.Tensor, keep_graph: bool = False) -> TowerOutput:
        """Like image_forward, batch axis kept (see CLIPAdapter.image_forward_batch)."""
        v = self.model.visual
        with capture_attention(v.transformer, "the image tower") as maps, \
                torch.set_grad_enabled(keep_graph):
            x = v._embeds(pixels.to(self.device))                            # [batch, token, width]
            x = v.transformer(x)                                             # [batch, token, width]
            pooled, _ = v._pool(x)                                           # [batch, width]
            emb = pooled @ v.proj                                            # [batch, embed]
            patches = v.ln_post(x[:, 1:]) @ v.proj                           # [batch, patch, embed]
        return TowerOutput(embedding=emb, layer_attentions=tuple(maps),
                           tokens=self._grid.token_labels(), patch_features=patches)

    def text_pool_weights(self, enc: Encoded) -> np.ndarray:
        """One-hot at the token `text_global_pool` reads for this tower's pool type."""
        ids = enc.inputs["input_ids"][0].cpu().numpy()                        # [token]
        if self.pool_type == "argmax":                   # the EOT id is the largest id
            pos = int(np.argmax(ids))
        elif self.pool_type == "eos":                    # the first eos (position 0 if none)
            pos = int(np.argmax(ids == self.eos_id))
        elif self.pool_type in ("first", "last"):
            pos = 0 if self.pool_type == "first" else len(ids) - 1
        else:
            raise NotImplementedError(f"{self.name}: text pool type {self.pool_type!r} has no "
                                      "single pooled token")
        return np.eye(len(ids))[pos]                                          # [token]

    def image_pool_weights(self) -> np.ndarray:
        """[CLS] for "tok" pooling; the mean of the patches for "avg" (checked at load)."""
        if self.model.visual.pool_type == "tok":
            return super().image_pool_weights()
        g = self._grid
        w = np.zeros(g.n_tokens)
        w[g.cls_offset:] = 1.0 / g.n_patches
        return w                                                              # [token]

    def text_forward(self, enc: Encoded, keep_graph: bool = False) -> TowerOutput:
        t = self.text
        if getattr(t, "cls_emb", None) is not None or not hasattr(t, "token_embedding"):
            raise AttentionNotAvailable("Attention not available for this architecture: the "
                                        "text tower is not open_clip's plain causal transformer.")
        ids = enc.inputs["input_ids"]                                        # [1, token]
        n = ids.shape[1]
        mask = t.attn_mask[:n, :n] if getattr(t, "attn_mask", None) is not None else None
        with capture_attention(t.transformer, "the text tower") as maps, \
                torch.set_grad_enabled(keep_graph):
            x = t.token_embedding(ids) + t.positional_embedding[:n]          # [1, token, width]
            x = t.ln_final(t.transformer(x, attn_mask=mask))                 # [1, token, width]
            pooled = text_global_pool(x, ids, self.pool_type, eos_token_id=self.eos_id)  # [1, width]
            proj = t.text_projection
            emb = (proj(pooled) if isinstance(proj, nn.Linear) else pooled @ proj)[0]    # [embed]
        return TowerOutput(embedding=emb, layer_attentions=tuple(maps), tokens=list(enc.tokens))

    def text_forward_batch(self, encs: Sequence[Encoded], keep_graph: bool = False) -> TowerOutput:
        """Like text_forward for several texts, padded after their end-of-text token (see
        CLIPAdapter.text_forward_batch): only for causal towers, where padding is invisible."""
        t = self.text
        if getattr(t, "attn_mask", None) is None or getattr(t, "cls_emb", None) is not None \
                or not hasattr(t, "token_embedding") or self.pool_type == "last":
            # "last" would pool the padding of shorter texts: run those one at a time
            raise NotImplementedError("padded text batches need open_clip's causal text tower "
                                      "pooled at the EOT / first token")
        ids, _ = padded_ids(encs, 0, self.device)                               # [text, L]
        n = ids.shape[1]
        with capture_attention(t.transformer, "the text tower") as maps, \
                torch.set_grad_enabled(keep_graph):
            x = t.token_embedding(ids) + t.positional_embedding[:n]          # [text, L, width]
            x = t.ln_final(t.transformer(x, attn_mask=t.attn_mask[:n, :n]))  # [text, L, width]
            pooled = text_global_pool(x, ids, self.pool_type, eos_token_id=self.eos_id)  # [text, width]
            proj = t.text_projection
            emb = proj(pooled) if isinstance(proj, nn.Linear) else pooled @ proj          # [text, embed]
        return TowerOutput(embedding=emb, layer_attentions=tuple(maps), tokens=[])


def char_spans(text: str, tokens: list[str], special: np.ndarray) -> np.ndarray:
    """[token, 2] character spans, found by reading the (lower-cased) text left to right;
    (0, 0) for special tokens and pieces the tokenizer's cleaning changed."""
    low, pos, spans = text.lower(), 0, []
    for tok, sp in zip(tokens, special):
        i = -1 if sp or not tok else low.find(tok.lower(), pos)
        spans.append((i, i + len(tok)) if i >= 0 else (0, 0))
        pos = i + len(tok) if i >= 0 else pos
    return np.array(spans, dtype=np.int64).reshape(-1, 2)                    # [token, 2]
