"""The concatenation fusion model (single stream, as in ViLT, Kim et al. 2021): one transformer
reads [CLS], the words and the image patches as ONE sequence, so every layer's attention has
four blocks: text->text, text->image, image->text and image->image.

    sequence = [CLS] w1 .. wT | p1 .. p64          (text first, then the 8x8 patch grid)
    token    = content + modality embedding (0 text, 1 image) + position
               (learned 1-D for text, fixed 2-D sin-cos for patches, as in mini-CLIP's ViT)

The patch contents are mini-CLIP 2's image tower's projected patch tokens, the tower frozen
(as LLaVA-style models feed a frozen vision encoder's patches into one sequence with the
words). ViLT itself learns a linear patch embedding; on this machine's training budget a
model that must also learn to tell 64 things apart from scratch reached 12 % masked-object
accuracy after 400 steps, so the budget goes into joining words and patches instead.

Heads: image-text matching (ITM: does the caption fit the picture?) on [CLS]'s final state,
and masked-word prediction (MLM: "a [MASK] star left of a cat" -> "red") on each word's.

Plain PyTorch, pre-norm blocks (nanoGPT style). The attention probabilities a forward
returns are the tensors multiplied with the values (in the autograd graph), as in
`miniclip.vit`; unlike there, attention takes a key mask, because captions in a batch
differ in length ([PAD] keys get no attention).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from ..miniclip.vit import ViT, ViTConfig, sincos_2d


@dataclass(frozen=True)
class FusionConfig:
    # The image tower: mini-CLIP's ViT (this config), frozen, its projected patch tokens fed in.
    vit: dict = field(default_factory=lambda: ViTConfig().to_dict())
    width: int = 64
    depth: int = 4
    heads: int = 4
    mlp_ratio: int = 2
    max_words: int = 20          # [CLS] + words, padded to this in a batch
    vocab_size: int = 96

    @property
    def tower(self) -> ViTConfig:
        return ViTConfig.from_dict(self.vit)

    @property
    def image_size(self) -> int:
        return self.tower.image_size

    @property
    def patch(self) -> int:
        return self.tower.patch

    @property
    def grid(self) -> int:
        return self.tower.grid

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "FusionConfig":
        return cls(**d)


class Attention(nn.Module):
    """Multi-head self-attention over the joint sequence; q, k, v from one linear (`qkv`),
    heads joined by `proj` (the site head ablation edits, as in every family here)."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """x [batch, token, d]; keep: bool [batch, token], False for [PAD] keys."""
        b, n, d = x.shape
        qkv = self.qkv(x).view(b, n, 3, self.heads, d // self.heads)    # [batch, token, 3, head, dh]
        q, k, v = qkv.permute(2, 0, 3, 1, 4)                              # each [batch, head, token, dh]
        scores = q @ k.transpose(-2, -1) / math.sqrt(d // self.heads)     # [batch, head, query, key]
        if keep is not None:
            scores = scores.masked_fill(~keep[:, None, None, :], float("-inf"))
        probs = scores.softmax(dim=-1)                                    # [batch, head, query, key]
        out = (probs @ v).transpose(1, 2).reshape(b, n, d)                # [batch, token, d]
        return self.proj(out), probs


class Block(nn.Module):
    """mini-CLIP's pre-norm block (`miniclip.vit.Block`), its attention taking the key mask.
    (Not a subclass: building the parent's attention first would draw other random initial
    weights, and the shipped weights are reproduced from the seed.)"""

    def __init__(self, width: int, heads: int, mlp_ratio: int):
        super().__init__()
        self.ln1, self.attn = nn.LayerNorm(width), Attention(width, heads)
        self.ln2 = nn.LayerNorm(width)
        hidden = mlp_ratio * width
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, width))

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None = None):
        a, probs = self.attn(self.ln1(x), keep)            # [batch, token, d], [batch, head, q, k]
        x = x + a
        return x + self.mlp(self.ln2(x)), probs            # [batch, token, d]


class FusionModel(nn.Module):
    """(pixels, word ids) -> ITM logits [batch, 2], word logits [batch, word, vocab] and
    (optionally) every layer's joint attention."""

    def __init__(self, cfg: FusionConfig):
        super().__init__()
        self.cfg = cfg
        # Frozen: training copies mini-CLIP 2's tower in (lab/fusion_train.load_tower).
        self.visual = ViT(cfg.tower).requires_grad_(False).eval()
        self.patch_in = nn.Linear(cfg.tower.embed_dim, cfg.width)
        self.words = nn.Embedding(cfg.vocab_size, cfg.width)
        self.word_pos = nn.Parameter(torch.zeros(cfg.max_words, cfg.width))
        self.modality = nn.Parameter(torch.zeros(2, cfg.width))         # 0 text, 1 image
        # fixed, not learned: persistent=False keeps it out of the weights file
        self.register_buffer("patch_pos", sincos_2d(cfg.grid, cfg.width), persistent=False)
        self.blocks = nn.ModuleList(Block(cfg.width, cfg.heads, cfg.mlp_ratio)
                                    for _ in range(cfg.depth))
        self.ln_f = nn.LayerNorm(cfg.width)
        self.itm = nn.Linear(cfg.width, 2)
        self.mlm = nn.Linear(cfg.width, cfg.vocab_size)
        for p in (self.word_pos, self.modality):
            nn.init.normal_(p, std=0.02)

    def train(self, mode: bool = True) -> "FusionModel":
        super().train(mode)
        self.visual.eval()                     # frozen: its batch norms keep their statistics
        return self

    @torch.no_grad()
    def patch_tokens(self, pixels: torch.Tensor) -> torch.Tensor:
        """pixels [batch, 3, H, W] -> the frozen tower's projected patch tokens [batch, patch, embed]."""
        if pixels.shape[-2:] != (self.cfg.image_size, self.cfg.image_size):
            raise ValueError(f"the fusion model expects {self.cfg.image_size}x{self.cfg.image_size} "
                             f"pixels, got {tuple(pixels.shape[-2:])}; resize first.")
        return self.visual(pixels)[1]

    def embed(self, ids: torch.Tensor, pixels: torch.Tensor | None = None,
              patches: torch.Tensor | None = None) -> torch.Tensor:
        """ids [batch, word] and pixels [batch, 3, H, W] (or the tower's patch tokens [batch,
        patch, embed], computed once for a training pool) -> the sequence [batch, word + patch, d]."""
        if ids.shape[1] > self.cfg.max_words:
            raise ValueError(f"{ids.shape[1]} tokens; the fusion model reads at most {self.cfg.max_words}.")
        if patches is None:
            patches = self.patch_tokens(pixels)                            # [batch, patch, embed]
        img = self.patch_in(patches) + self.patch_pos + self.modality[1]   # [batch, patch, d]
        txt = self.words(ids) + self.word_pos[:ids.shape[1]] + self.modality[0]   # [batch, word, d]
        return torch.cat([txt, img], dim=1)                                # [batch, word + patch, d]

    def forward(self, pixels: torch.Tensor | None, ids: torch.Tensor,
                keep_words: torch.Tensor | None = None, return_attentions: bool = False,
                patches: torch.Tensor | None = None):
        """ids [batch, word] with [CLS] first; keep_words: bool [batch, word] (False at [PAD]);
        patches: the tower's patch tokens instead of pixels (training).
        Returns (itm_logits [batch, 2], word_logits [batch, word, vocab], attentions: a list
        over layers of [batch, head, query, key], or None)."""
        x = self.embed(ids, pixels, patches)                               # [batch, token, d]
        keep = None
        if keep_words is not None:
            image = torch.ones(x.shape[0], x.shape[1] - ids.shape[1], dtype=torch.bool,
                               device=x.device)
            keep = torch.cat([keep_words, image], dim=1)                   # [batch, token]
        attns = []
        for blk in self.blocks:
            x, probs = blk(x, keep)                                        # probs [batch, head, q, k]
            if return_attentions:
                attns.append(probs)
        h = self.ln_f(x)                                                   # [batch, token, d]
        n = ids.shape[1]
        return self.itm(h[:, 0]), self.mlm(h[:, :n]), (attns if return_attentions else None)


def fusion_loss(itm_logits: torch.Tensor, match: torch.Tensor, word_logits: torch.Tensor,
                targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(ITM loss over rows with match >= 0, MLM loss over positions with target >= 0).
    match: long [batch] (1 fits, 0 does not, -1 not an ITM row); targets: long [batch, word]."""
    rows = match >= 0
    itm = F.cross_entropy(itm_logits[rows], match[rows]) if rows.any() else itm_logits.sum() * 0
    spots = targets >= 0
    mlm = (F.cross_entropy(word_logits[spots], targets[spots]) if spots.any()
           else word_logits.sum() * 0)
    return itm, mlm


def count_params(m: nn.Module, trainable: bool = False) -> int:
    return sum(p.numel() for p in m.parameters() if p.requires_grad or not trainable)
