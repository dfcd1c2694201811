"""The mini-CLIP image tower: a small Vision Transformer with a convolutional stem.

Hand-written in plain PyTorch (not timm, not `nn.MultiheadAttention`) because the explainers
need the attention probabilities *inside the autograd graph*: the tensors that `forward(...,
return_attentions=True)` returns are the very ones multiplied with the values, so
`torch.autograd.grad(score, attentions)` gives the gradients that Chefer et al. (2021) weight
the attention with. `nn.MultiheadAttention` returns a detached-from-the-output copy.

Design (nanoGPT-style, pre-norm):
- stem: three stride-2 4x4 convolutions then a 1x1 to `width` ("Early convolutions help
  transformers see better", Xiao et al. 2021); a plain patchify stem learned shapes far slower
  at this size. The stem's output grid *is* the patch grid: one token per `patch` x `patch`
  pixels, kept in row-major order so attention maps reshape straight back into images.
- fixed 2-D sin-cos position embeddings (MAE / MoCo v3): nothing to learn, any grid size.
- a learned CLS token (position embedding zero) whose final state is the image embedding.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class ViTConfig:
    image_size: int = 64      # pixels, square
    stem_channels: tuple[int, ...] = (32, 64, 128)   # one stride-2 conv each: patch = 2**len
    width: int = 128          # d_model
    depth: int = 4            # transformer blocks
    heads: int = 4
    mlp_ratio: int = 2
    embed_dim: int = 128      # shared image-text embedding size

    @property
    def patch(self) -> int:
        return 2 ** len(self.stem_channels)

    @property
    def grid(self) -> int:
        return self.image_size // self.patch

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> "ViTConfig":
        d = dict(d)
        d["stem_channels"] = tuple(d["stem_channels"])
        return cls(**d)


def sincos_2d(grid: int, dim: int) -> torch.Tensor:
    """Fixed 2-D sin-cos position embeddings, row-major over the grid: [grid*grid, dim].

    Half the channels encode the row, half the column (each as 1-D sin-cos, as in MAE)."""
    if dim % 4:
        raise ValueError(f"sin-cos 2-D position embeddings need width divisible by 4, got {dim}")
    omega = 1.0 / 10000 ** (torch.arange(dim // 4, dtype=torch.float32) / (dim // 4))  # [dim/4]
    rows, cols = torch.meshgrid(torch.arange(grid, dtype=torch.float32),
                                torch.arange(grid, dtype=torch.float32), indexing="ij")
    r = rows.reshape(-1, 1) * omega                               # [patch, dim/4]
    c = cols.reshape(-1, 1) * omega                               # [patch, dim/4]
    return torch.cat([r.sin(), r.cos(), c.sin(), c.cos()], dim=1)  # [patch, dim]


class Attention(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, n, d = x.shape
        qkv = self.qkv(x).view(b, n, 3, self.heads, d // self.heads)   # [batch, token, 3, head, dh]
        q, k, v = qkv.permute(2, 0, 3, 1, 4)                             # each [batch, head, token, dh]
        scores = q @ k.transpose(-2, -1) / math.sqrt(d // self.heads)    # [batch, head, query, key]
        probs = scores.softmax(dim=-1)                                   # [batch, head, query, key]
        out = (probs @ v).transpose(1, 2).reshape(b, n, d)               # [batch, token, d]
        return self.proj(out), probs


class Block(nn.Module):
    def __init__(self, width: int, heads: int, mlp_ratio: int):
        super().__init__()
        self.ln1 = nn.LayerNorm(width)
        self.attn = Attention(width, heads)
        self.ln2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, mlp_ratio * width), nn.GELU(),
                                 nn.Linear(mlp_ratio * width, width))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a, probs = self.attn(self.ln1(x))                  # [batch, token, d], [batch, head, q, k]
        x = x + a
        x = x + self.mlp(self.ln2(x))                      # [batch, token, d]
        return x, probs


class ViT(nn.Module):
    """Image -> CLS embedding, per-patch features and (optionally) every attention map."""

    def __init__(self, cfg: ViTConfig):
        super().__init__()
        self.cfg = cfg
        layers, c_in = [], 3
        for c in cfg.stem_channels:
            # kernel 4, stride 2, padding 1: each output is centred between its two input
            # pixels, so after the stem token (r, c) is centred on its own patch
            # (8r + 3.5, 8c + 3.5); a 3x3 kernel would centre it on the patch's corner.
            layers += [nn.Conv2d(c_in, c, 4, stride=2, padding=1, bias=False),
                       nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
            c_in = c
        layers.append(nn.Conv2d(c_in, cfg.width, 1))
        self.stem = nn.Sequential(*layers)
        self.cls = nn.Parameter(torch.zeros(1, 1, cfg.width))
        # Buffer, not parameter: fixed; persistent=False keeps it out of the weights file.
        self.register_buffer("pos", sincos_2d(cfg.grid, cfg.width), persistent=False)
        self.blocks = nn.ModuleList(Block(cfg.width, cfg.heads, cfg.mlp_ratio)
                                    for _ in range(cfg.depth))
        self.ln_f = nn.LayerNorm(cfg.width)
        self.proj = nn.Linear(cfg.width, cfg.embed_dim, bias=False)
        nn.init.normal_(self.cls, std=0.02)

    def tokens(self, pixels: torch.Tensor) -> torch.Tensor:
        """pixels [batch, 3, H, W] -> input tokens [batch, 1 + rows*cols, width] (CLS first)."""
        g = self.cfg.grid
        if pixels.shape[-2:] != (self.cfg.image_size, self.cfg.image_size):
            raise ValueError(f"mini-CLIP expects {self.cfg.image_size}x{self.cfg.image_size} "
                             f"pixels, got {tuple(pixels.shape[-2:])}; resize in preprocess.")
        x = self.stem(pixels)                                    # [batch, width, grid, grid]
        x = x.flatten(2).transpose(1, 2) + self.pos              # [batch, grid*grid, width]
        cls = self.cls.expand(x.shape[0], -1, -1)                # [batch, 1, width]
        assert x.shape[1] == g * g
        return torch.cat([cls, x], dim=1)                        # [batch, 1 + patch, width]

    def forward(self, pixels: torch.Tensor, return_attentions: bool = False):
        """Returns (image_emb [batch, embed], patch_emb [batch, patch, embed], attentions).

        image_emb: CLS through ln_f and proj (not normalised). patch_emb: every patch token
        through the same ln_f and proj, so its cosine with a text embedding is a per-patch
        similarity map. attentions: list over layers of [batch, head, query, key] probability
        tensors that are part of the graph (None unless return_attentions).
        """
        x = self.tokens(pixels)                                  # [batch, token, width]
        attns = []
        for blk in self.blocks:
            x, probs = blk(x)                                    # probs [batch, head, q, k]
            if return_attentions:
                attns.append(probs)
        z = self.proj(self.ln_f(x))                              # [batch, token, embed]
        return z[:, 0], z[:, 1:], (attns if return_attentions else None)


def count_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


__all__ = ["ViT", "ViTConfig", "sincos_2d", "count_params"]
