"""The cross-attention fusion model (encoder-decoder captioner): an image encoder reads the
picture once; a small text decoder writes a caption word by word, and in every layer each
word reads the image through CROSS-attention (queries from the words, keys and values from
the patches), as T5's decoder reads its encoder or as Flamingo/BLIP decoders read an image.

    image  -> mini-CLIP 2's image tower (frozen) -> 64 patch tokens -> linear + 2-D position
              = the memory the decoder reads
    words  -> [START] w1 .. wT  -> decoder blocks:
              causal self-attention (a word reads the words before it)
              cross-attention       (a word reads the 64 patches)      <- the maps the app shows
              MLP
           -> next-word logits; the caption ends with [END]

Contrast with `model.py` (concatenation): there words and patches are ONE sequence and every
layer mixes both ways; here the image never reads the words, and a word's image map is a
separate attention with its own weights.

The map of a written word is the cross-attention row of the step that WROTE it: the query at
the previous token (which predicts the word). Plain PyTorch, pre-norm blocks; the attention
probabilities a forward returns are the tensors multiplied with the values (in the graph).
"""
from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from ..miniclip.captions import POSITION_WORDS
from ..miniclip.vit import ViT, sincos_2d
from . import words as W
from .model import FusionConfig

START, END = "[START]", "[END]"


def caption_vocabulary() -> tuple[str, ...]:
    """The fusion words plus [START] and [END] (appended, so the shared ids stay the same)."""
    return W.vocabulary() + (START, END)


def caption_ids(tokens: list[str]) -> list[int]:
    index = {w: i for i, w in enumerate(caption_vocabulary())}
    return [index.get(t, index[W.UNK]) for t in tokens]


@dataclass(frozen=True)
class CaptionConfig(FusionConfig):
    """The concatenation model's settings (the frozen tower's config in `vit`, width, depth,
    heads, MLP ratio, max words, vocabulary size) with the captioner's defaults; the same
    fields, so the tower's properties and the dict round trip are written once."""
    width: int = 96
    depth: int = 3
    max_words: int = 20          # [START] + words (+ [END] as a target)
    vocab_size: int = 98


def _split(x: torch.Tensor, heads: int) -> torch.Tensor:
    b, n, d = x.shape
    return x.view(b, n, heads, d // heads).transpose(1, 2)              # [batch, head, token, dh]


class SelfAttention(nn.Module):
    """Causal multi-head self-attention over the words; heads joined by `proj`."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, n, d = x.shape
        q, k, v = (_split(t, self.heads) for t in self.qkv(x).split(d, dim=-1))
        scores = q @ k.transpose(-2, -1) / math.sqrt(d // self.heads)     # [batch, head, q, k]
        future = torch.ones(n, n, dtype=torch.bool, device=x.device).triu(1)
        probs = scores.masked_fill(future, float("-inf")).softmax(-1)
        out = (probs @ v).transpose(1, 2).reshape(b, n, d)
        return self.proj(out), probs


class CrossAttention(nn.Module):
    """Words read patches: q = `q`(words), k, v = `kv`(memory); heads joined by `proj`.
    Returns (out [batch, word, d], probs [batch, head, word, patch])."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(width, width)
        self.kv = nn.Linear(width, 2 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor, memory: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, n, d = x.shape
        q = _split(self.q(x), self.heads)                                 # [batch, head, word, dh]
        k, v = (_split(t, self.heads) for t in self.kv(memory).split(d, dim=-1))  # [batch, head, patch, dh]
        probs = (q @ k.transpose(-2, -1) / math.sqrt(d // self.heads)).softmax(-1)
        out = (probs @ v).transpose(1, 2).reshape(b, n, d)
        return self.proj(out), probs


class DecoderBlock(nn.Module):
    def __init__(self, width: int, heads: int, mlp_ratio: int):
        super().__init__()
        self.ln1, self.attn = nn.LayerNorm(width), SelfAttention(width, heads)
        self.ln2, self.cross = nn.LayerNorm(width), CrossAttention(width, heads)
        self.ln3 = nn.LayerNorm(width)
        hidden = mlp_ratio * width
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, width))

    def forward(self, x: torch.Tensor, memory: torch.Tensor):
        a, self_probs = self.attn(self.ln1(x))
        x = x + a
        c, cross_probs = self.cross(self.ln2(x), memory)
        x = x + c
        return x + self.mlp(self.ln3(x)), self_probs, cross_probs


class CaptionModel(nn.Module):
    """(pixels or the tower's patch tokens, word ids) -> next-word logits [batch, word, vocab],
    and (optionally) each layer's self- and cross-attention."""

    def __init__(self, cfg: CaptionConfig):
        super().__init__()
        self.cfg = cfg
        self.visual = ViT(cfg.tower).requires_grad_(False).eval()        # copied in by training
        self.patch_in = nn.Linear(cfg.tower.embed_dim, cfg.width)
        self.register_buffer("patch_pos", sincos_2d(cfg.grid, cfg.width), persistent=False)
        self.ln_mem = nn.LayerNorm(cfg.width)
        self.words = nn.Embedding(cfg.vocab_size, cfg.width)
        self.word_pos = nn.Parameter(torch.zeros(cfg.max_words, cfg.width))
        nn.init.normal_(self.word_pos, std=0.02)
        self.blocks = nn.ModuleList(DecoderBlock(cfg.width, cfg.heads, cfg.mlp_ratio)
                                    for _ in range(cfg.depth))
        self.ln_f = nn.LayerNorm(cfg.width)
        self.head = nn.Linear(cfg.width, cfg.vocab_size)

    def train(self, mode: bool = True) -> "CaptionModel":
        super().train(mode)
        self.visual.eval()
        return self

    @torch.no_grad()
    def patch_tokens(self, pixels: torch.Tensor) -> torch.Tensor:
        """pixels [batch, 3, H, W] -> the frozen tower's patch tokens [batch, patch, embed]."""
        if pixels.shape[-2:] != (self.cfg.image_size, self.cfg.image_size):
            raise ValueError(f"the captioner expects {self.cfg.image_size}x{self.cfg.image_size} "
                             f"pixels, got {tuple(pixels.shape[-2:])}; resize first.")
        return self.visual(pixels)[1]

    def memory(self, pixels: torch.Tensor | None = None, patches: torch.Tensor | None = None):
        """The encoder's output the decoder reads: [batch, patch, d]."""
        if patches is None:
            patches = self.patch_tokens(pixels)
        return self.ln_mem(self.patch_in(patches) + self.patch_pos)

    def decode(self, ids: torch.Tensor, memory: torch.Tensor, return_attentions: bool = False):
        """ids [batch, word] ([START] first) -> (logits [batch, word, vocab], self-attentions,
        cross-attentions: lists over layers of [batch, head, word, key])."""
        if ids.shape[1] > self.cfg.max_words:
            raise ValueError(f"{ids.shape[1]} tokens; the captioner reads at most {self.cfg.max_words}.")
        x = self.words(ids) + self.word_pos[:ids.shape[1]]
        selfs, crosses = [], []
        for blk in self.blocks:
            x, s, c = blk(x, memory)
            if return_attentions:
                selfs.append(s)
                crosses.append(c)
        logits = self.head(self.ln_f(x))
        return (logits, selfs, crosses) if return_attentions else (logits, None, None)

    def forward(self, pixels, ids, return_attentions: bool = False, patches=None):
        return self.decode(ids, self.memory(pixels, patches), return_attentions)

    @torch.no_grad()
    def generate(self, pixels=None, patches=None, max_len: int | None = None) -> list[list[str]]:
        """Greedy captions, one list of words per image (without [START] / [END])."""
        vocab = caption_vocabulary()
        mem = self.memory(pixels, patches)
        ids = torch.full((mem.shape[0], 1), vocab.index(START), dtype=torch.long, device=mem.device)
        done = torch.zeros(mem.shape[0], dtype=torch.bool, device=mem.device)
        for _ in range((max_len or self.cfg.max_words) - 1):
            nxt = self.decode(ids, mem)[0][:, -1].argmax(-1)
            nxt = torch.where(done, torch.full_like(nxt, vocab.index(END)), nxt)
            ids = torch.cat([ids, nxt[:, None]], dim=1)
            done |= nxt == vocab.index(END)
            if done.all():
                break
        out = []
        for row in ids[:, 1:].tolist():
            words = [vocab[i] for i in row]
            out.append(words[:words.index(END)] if END in words else words)
        return out


def caption_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Next-word cross-entropy; targets [batch, word] with -1 where there is no word."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-1)


# ---- reading a written caption: its objects, its scores (the card's figures), its grammar ----
def named_objects(words: list[str]) -> list[tuple[str | None, str, int]]:
    """A caption's objects as (colour or None, name, index of the name word)."""
    out = []
    for i, w in enumerate(words):
        role = W.role_of(w)
        if role == "shape":
            colour = words[i - 1] if i > 0 and W.role_of(words[i - 1]) == "colour" else None
            out.append((colour, w, i))
        elif role == "thing":
            out.append((None, w, i))
    return out


def scores(words: list[str], things) -> dict:
    """names_every_object, colours_right (None without a shape) and exact, for one caption."""
    said = named_objects(words)
    names = Counter(n for _, n, _ in said)
    shapes = [t for t in things if t.kind == "shape"]
    pairs = Counter((c, n) for c, n, _ in said)
    return {"names_every_object": all(names[n] >= k for n, k in Counter(t.name for t in things).items()),
            "colours_right": (all(pairs[(t.colour, t.name)] >= 1 for t in shapes) if shapes else None),
            "exact": pairs == Counter((t.colour, t.name) for t in things)}


def _alternatives(phrases) -> str:
    return "(?:" + "|".join(re.escape(p) for p in sorted(phrases, key=len, reverse=True)) + ")"


_P = "(?:(?:a|an) (?:C S|T))"                           # one object phrase
_WHERE = f"(?: {_alternatives(p[0] for p in POSITION_WORDS.values())})?"
_REL = _alternatives(W.RELATIONS.values())
_GRAMMAR = re.compile(f"{_P}{_WHERE}|{_P} {_REL} {_P}|{_P}{_WHERE} and {_P}{_WHERE}|{_P} , {_P} and {_P}")
_TAG = {"colour": "C", "shape": "S", "thing": "T"}


def grammatical(words: list[str]) -> bool:
    """True when the caption has the form of a training caption (the words may be wrong)."""
    tagged = " ".join(_TAG.get(W.role_of(w), w) for w in words)
    return _GRAMMAR.fullmatch(tagged) is not None
