"""mini-CLIP: the ViT image tower, a linear projection of frozen MiniLM sentence embeddings,
a learned temperature, and the symmetric contrastive (InfoNCE) loss.

The text tower itself (MiniLM) is not a submodule here: it is frozen, so training feeds its
cached sentence embeddings [batch, 384] and the adapter runs it live. Only the projection on
top of it is learned ("locked-image tuning", LiT, with the text side locked instead).
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .vit import ViT, ViTConfig

TEXT_DIM = 384                   # MiniLM-L6 hidden size
PIXEL_MEAN, PIXEL_STD = 0.5, 0.25  # fixed normalisation of [0, 1] pixels (synthetic data)
MAX_LOGIT_SCALE = 100.0          # CLIP's clamp: the temperature never drops below 0.01


class MiniCLIP(nn.Module):
    def __init__(self, cfg: ViTConfig, text_dim: int = TEXT_DIM):
        super().__init__()
        self.cfg = cfg
        self.visual = ViT(cfg)
        self.text_proj = nn.Linear(text_dim, cfg.embed_dim, bias=False)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))  # CLIP's init

    def scale(self) -> torch.Tensor:
        """exp(logit_scale) clamped: the factor between cosine and logit (1 / temperature)."""
        return self.logit_scale.exp().clamp(max=MAX_LOGIT_SCALE)

    def encode_text_features(self, feats: torch.Tensor) -> torch.Tensor:
        """Frozen MiniLM sentence embeddings [batch, 384] -> unit text embeddings [batch, embed]."""
        return F.normalize(self.text_proj(feats), dim=-1)

    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        """pixels [batch, 3, H, W] -> unit image embeddings [batch, embed]."""
        return F.normalize(self.visual(pixels)[0], dim=-1)

    def forward(self, pixels: torch.Tensor, text_feats: torch.Tensor) -> torch.Tensor:
        """Logits [image, text] = scale * cosine."""
        img = self.encode_image(pixels)                          # [batch, embed]
        txt = self.encode_text_features(text_feats)              # [batch, embed]
        return self.scale() * img @ txt.T                        # [image, text]


def clip_loss(logits: torch.Tensor, same: torch.Tensor | None = None) -> torch.Tensor:
    """Symmetric InfoNCE over a square logit matrix [batch, batch] (pairs on the diagonal).

    same: bool [batch, batch], True where two items have the identical caption; those
    off-diagonal pairs are not negatives (they are equally true), so they are masked out.
    """
    if same is not None:
        off = same & ~torch.eye(len(logits), dtype=torch.bool, device=logits.device)
        logits = logits.masked_fill(off, float("-inf"))          # [batch, batch]
    labels = torch.arange(len(logits), device=logits.device)    # [batch]
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2


def to_pixels(images: np.ndarray) -> torch.Tensor:
    """uint8 images [batch, H, W, 3] -> normalised float pixels [batch, 3, H, W]."""
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 255
    return (x - PIXEL_MEAN) / PIXEL_STD                          # [batch, 3, H, W]
