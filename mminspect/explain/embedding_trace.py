"""What enters layer 0, as a sum of parts a student can see: for text, the word's vector plus
its position's vector (plus the segment's, BERT), ADDED (not concatenated: MiniLM has 384
numbers per token, not 3 × 384), then the embedding LayerNorm where the model has one; for
images, each patch's linear projection (the learned [CLS] vector in row 0) plus the position's.

Each recipe reads the model's own embedding modules, so the parts are the very vectors the
model sums. A recipe takes the tower's root module and its inputs (token ids [1, T], or pixels
[1, 3, H, W]) and returns ({part: [T, D]} in the order they are added, the LayerNorm or None).
The recipe of each family is named in `models.attention_sites.ATTENTION_SITES`.
"""
from __future__ import annotations

from typing import Callable

import torch


def _positions(n: int, device) -> torch.Tensor:
    return torch.arange(n, device=device)                                   # [T]


def bert(root, inputs):
    """BERT / RoBERTa / ELECTRA: word + position + segment (token type), then LayerNorm."""
    emb = root.embeddings
    ids = inputs["input_ids"][0]                                            # [T]
    start = getattr(emb, "padding_idx", None)                               # RoBERTa counts from pad + 1
    pos = _positions(len(ids), ids.device) + (0 if start is None else start + 1)   # [T]
    types = inputs.get("token_type_ids")
    types = torch.zeros_like(ids) if types is None else types[0]            # [T]
    return {"word": emb.word_embeddings(ids),                               # [T, D]
            "position": emb.position_embeddings(pos),                      # [T, D]
            "segment": emb.token_type_embeddings(types)}, emb.LayerNorm    # [T, D]


def distilbert(root, inputs):
    """DistilBERT: word + position (no segments), then LayerNorm."""
    emb = root.embeddings
    ids = inputs["input_ids"][0]                                            # [T]
    return {"word": emb.word_embeddings(ids),                               # [T, D]
            "position": emb.position_embeddings(_positions(len(ids), ids.device))}, emb.LayerNorm


def gpt2(root, inputs):
    """GPT-2: word + position; no LayerNorm here (each block normalises its own input)."""
    ids = inputs["input_ids"][0]                                            # [T]
    return {"word": root.wte(ids),                                          # [T, D]
            "position": root.wpe(_positions(len(ids), ids.device))}, None  # [T, D]


def hf_clip_text(root, inputs):
    """HF CLIP's text tower: token + position."""
    emb = root.embeddings
    ids = inputs["input_ids"][0]                                            # [T]
    return {"word": emb.token_embedding(ids),                               # [T, D]
            "position": emb.position_embedding(_positions(len(ids), ids.device))}, None


def hf_clip_image(root, inputs):
    """HF CLIP's image tower: patch projection ([CLS] vector first) + position, then the
    pre-LayerNorm (`pre_layrnorm`, CLIP's spelling)."""
    emb = root.embeddings
    px = inputs["pixel_values"]                                             # [1, 3, H, W]
    patches = emb.patch_embedding(px)[0].flatten(1).T                       # [patch, D]
    patch = torch.cat([emb.class_embedding[None], patches])                 # [T, D] CLS first
    return {"patch": patch,
            "position": emb.position_embedding(_positions(len(patch), px.device))}, root.pre_layrnorm


def hf_siglip_image(root, inputs):
    """HF SigLIP's image tower: patch projection + position; no [CLS] vector, no LayerNorm
    before the blocks (its pooled token comes after them, in the pooling head)."""
    emb = root.embeddings
    px = inputs["pixel_values"]                                             # [1, 3, H, W]
    patch = emb.patch_embedding(px)[0].flatten(1).T                         # [patch, D]
    return {"patch": patch,
            "position": emb.position_embedding(_positions(len(patch), px.device))}, None


def timm_vit_image(root, inputs):
    """A timm ViT without prefix tokens (open_clip's SigLIP): patch projection + position,
    then its pre-norm (the identity for SigLIP)."""
    px = inputs["pixel_values"]                                             # [1, 3, H, W]
    patch = root.patch_embed(px)[0]                                         # [patch, D]
    return {"patch": patch, "position": root.pos_embed[0]}, root.norm_pre   # [T, D] each


def open_clip_text(root, inputs):
    """open_clip's text tower: token + position (a bare parameter)."""
    ids = inputs["input_ids"][0]                                            # [T]
    return {"word": root.token_embedding(ids),                              # [T, D]
            "position": root.positional_embedding[:len(ids)]}, None        # [T, D]


def open_clip_image(root, inputs):
    """open_clip's image tower: patch projection (class vector first) + position, then ln_pre."""
    px = inputs["pixel_values"]                                             # [1, 3, H, W]
    patches = root.conv1(px)[0].flatten(1).T                                # [patch, D]
    patch = torch.cat([root.class_embedding[None], patches])                # [T, D]
    return {"patch": patch, "position": root.positional_embedding}, root.ln_pre   # [T, D]


def miniclip_image(root, inputs):
    """mini-CLIP's ViT: the conv stem's output per patch (learned CLS first) + fixed 2-D sin-cos
    positions (the CLS has none: zeros)."""
    px = inputs["pixel_values"]                                             # [1, 3, H, W]
    patches = root.stem(px)[0].flatten(1).T                                 # [patch, D]
    patch = torch.cat([root.cls[0], patches])                               # [T, D]
    position = torch.cat([torch.zeros_like(root.cls[0]), root.pos])         # [T, D]
    return {"patch": patch, "position": position}, None


RECIPES: dict[str, Callable] = {f.__name__: f for f in (
    bert, distilbert, gpt2, hf_clip_text, hf_clip_image, hf_siglip_image, timm_vit_image,
    open_clip_text, open_clip_image,
    miniclip_image)}


def embedding_sum(parts: dict[str, torch.Tensor], norm) -> tuple[torch.Tensor, torch.Tensor]:
    """(total [T, D] = the parts added, after_norm [T, D] = total through the LayerNorm)."""
    total = sum(parts.values())                                             # [T, D]
    return total, (total if norm is None else norm(total))                  # [T, D]
