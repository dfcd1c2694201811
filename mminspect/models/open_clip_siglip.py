"""open_clip's SigLIP models (e.g. "open_clip:ViT-B-16-SigLIP/webli") as a `CLIPAdapter`.

Their image tower is a timm VisionTransformer (no [CLS], "map" pooling: timm's
AttentionPoolLatent, one learned latent query over the patches), their text tower open_clip's
own bidirectional transformer pooled at the last position; logit = scale * cosine + bias, a
sigmoid per prompt. Everything is shown as for HF SigLIP (models/hf_siglip.py): image tokens
[POOL] + patches, L + 1 attention "layers" (the encoder's with the [POOL] placeholder, then the
pooling head's), patch features through the pooling head's value path.

How the image attention is captured: inside `timm_attention` (a context manager, restored in
`finally`) each block runs timm's non-fused attention path (`fused_attn = False`: the same
softmax(q kᵀ · scale) @ v, written out) and a forward hook on its `attn_drop` (the identity at
eval, applied to the softmax) returns a view of the padded [1+N, 1+N] tensor, so the recorded
pattern is on the path to the output. The pooling head is recomputed here from its weights.

`open_clip_adapter` (the registry's "open_clip" entry) builds the model once and picks this
class for timm "map" towers, `OpenCLIPAdapter` otherwise.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from typing import Sequence

import torch
from open_clip.transformer import text_global_pool
from torch import nn

from ..capture.open_clip_attention import capture_attention
from ..types import ModelLoadError
from .base import Encoded
from .clip_base import PatchGrid, TowerOutput
from .open_clip_adapter import TEXT_TOWERS, OpenCLIPAdapter, build

F = torch.nn.functional


def _trunk(model: nn.Module):
    """The timm ViT inside open_clip's TimmModel, or None."""
    trunk = getattr(model.visual, "trunk", None)
    return trunk if getattr(trunk, "blocks", None) is not None else None


def is_map_siglip(model: nn.Module) -> bool:
    """A timm ViT image tower pooled by attention ("map"): open_clip's SigLIP configs."""
    trunk = _trunk(model)
    return trunk is not None and getattr(trunk, "global_pool", None) == "map"


# What the timm tower must be for the capture and the pooling recomputation to be exact:
# (check on the trunk, why not when it fails).
TRUNK_CHECKS = [
    (lambda t: t.num_prefix_tokens == 0, "it has prefix ([CLS] / register) tokens"),
    (lambda t: all(isinstance(b.attn.q_norm, nn.Identity) and isinstance(b.attn.k_norm, nn.Identity)
                   and isinstance(getattr(b.attn, "norm", nn.Identity()), nn.Identity)
                   and getattr(b.attn, "gate", None) is None and hasattr(b.attn, "attn_drop")
                   for b in t.blocks), "its blocks use qk-norm, gating or a custom attention"),
    (lambda t: t.attn_pool.latent_len == 1 and t.attn_pool.pool == "token"
     and t.attn_pool.pos_embed is None and isinstance(t.attn_pool.q_norm, nn.Identity),
     "its attention pool is not a single latent query"),
    (lambda t: isinstance(t.fc_norm, nn.Identity) and isinstance(t.head, nn.Identity),
     "its head adds a norm or a classifier after the pool"),
]


@contextmanager
def timm_attention(blocks) -> Iterator[list[torch.Tensor]]:
    """Yields a list filled, per block, with [batch, head, 1+N, 1+N] attention (a [POOL]
    placeholder first, attending to itself) during forwards inside the block. Restores every
    block's `fused_attn` and removes the hooks in `finally`."""
    maps: list[torch.Tensor] = []
    saved = [b.attn.fused_attn for b in blocks]

    def hook(module, args, out):                                     # out: [b, h, N, N]
        padded = F.pad(out, (1, 0, 1, 0))                             # [b, h, 1+N, 1+N]
        self_loop = torch.zeros_like(padded)
        self_loop[..., 0, 0] = 1.0
        padded = padded + self_loop
        maps.append(padded)
        return padded[..., 1:, 1:]                                   # a view: on the path

    handles = []
    try:
        for b in blocks:
            b.attn.fused_attn = False
            handles.append(b.attn.attn_drop.register_forward_hook(hook))
        yield maps
    finally:
        for h in handles:
            h.remove()
        for b, fused in zip(blocks, saved):
            b.attn.fused_attn = fused


def open_clip_adapter(name: str, path: str, label: str, device: str | None = None):
    """The registry's "open_clip" family: build "<arch>/<weights>" once and wrap it with the
    adapter its image tower needs."""
    model, preprocess, tokenizer, dev = build(path, device)
    cls = OpenCLIPSiglipAdapter if is_map_siglip(model) else OpenCLIPAdapter
    return cls.from_model(model, preprocess, tokenizer, name=name, label=label, device=dev)


class OpenCLIPSiglipAdapter(OpenCLIPAdapter):
    family = "open_clip_siglip"
    link = "sigmoid"

    def _setup(self, name, label, model: nn.Module, preprocess, tokenizer, device) -> None:
        self.name, self.label, self.device = name, label, torch.device(device)
        self.model = model.to(self.device).eval()
        self.transform, self.tokenizer = preprocess, tokenizer
        kind = TEXT_TOWERS.get(type(model).__name__)
        trunk = _trunk(model) if is_map_siglip(model) else None
        if kind is None or trunk is None or getattr(model, "logit_bias", None) is None:
            raise ModelLoadError(f"{name}: not an open_clip SigLIP model (a timm ViT with "
                                 "attention pooling, a text tower and a logit bias).")
        for check, reason in TRUNK_CHECKS:
            if not check(trunk):
                raise ModelLoadError(f"{name}: attention not available for this architecture: "
                                     f"{reason}.")
        self.text = model if kind["tower"] is None else getattr(model, kind["tower"])
        self.pool_type = getattr(self.text, kind["pool"])
        self.eos_id = getattr(self.text, kind["eos"], None)
        (rows, cols), (ph, pw) = trunk.patch_embed.grid_size, trunk.patch_embed.patch_size
        self._grid = PatchGrid(rows=rows, cols=cols, patch_size=ph, image_size=(rows * ph, cols * pw),
                               has_cls=True, cls_label="[POOL]")
        self.context_length = int(getattr(self.text, "context_length", 64))

    @property
    def logit_bias(self) -> float:
        return self.model.logit_bias.item()

    @torch.no_grad()
    def similarity(self, pixels: torch.Tensor, texts: list[str]) -> torch.Tensor:
        """Logits [image, text] = logit_scale * cosine + logit_bias, as the sigmoid sees them."""
        return super().similarity(pixels, texts) + self.logit_bias

    def text_forward_batch(self, encs: Sequence[Encoded], keep_graph: bool = False) -> TowerOutput:
        """SigLIP's texts are all padded to the context length (no mask, the last position
        pooled, as trained): a batch is a plain stack, each text exactly as alone."""
        t = self.text
        if len({e.inputs["input_ids"].shape[1] for e in encs}) != 1 \
                or getattr(t, "attn_mask", None) is not None:
            return super().text_forward_batch(encs, keep_graph)
        ids = torch.cat([e.inputs["input_ids"] for e in encs])                    # [text, L]
        n = ids.shape[1]
        with capture_attention(t.transformer, "the text tower") as maps, \
                torch.set_grad_enabled(keep_graph):
            x = t.token_embedding(ids) + t.positional_embedding[:n]               # [text, L, width]
            x = t.ln_final(t.transformer(x))                                      # [text, L, width]
            pooled = text_global_pool(x, ids, self.pool_type, eos_token_id=self.eos_id)
            proj = t.text_projection
            emb = proj(pooled) if isinstance(proj, nn.Linear) else pooled @ proj  # [text, embed]
        return TowerOutput(embedding=emb, layer_attentions=tuple(maps), tokens=[])

    def _pool(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """timm's AttentionPoolLatent on x [b, N, D] (after the trunk's norm) -> (embedding
        [b, D], attention [b, head, 1+N, 1+N]: row 0 the latent's over the patches, the patch
        rows identity). Equals `trunk.attn_pool(x)` (tested)."""
        ap = _trunk(self.model).attn_pool
        b, n, d = x.shape
        h = ap.num_heads
        q = ap.q(ap.latent.expand(b, -1, -1)).view(b, 1, h, -1).transpose(1, 2)   # [b, h, 1, d_h]
        k, v = ap.kv(x).view(b, n, 2, h, -1).permute(2, 0, 3, 1, 4)                # [b, h, N, d_h]
        a = F.softmax((q * ap.scale) @ k.transpose(-1, -2), dim=-1)                # [b, h, 1, N]
        rest = torch.eye(n + 1, dtype=a.dtype, device=a.device)[1:].expand(b, h, n, n + 1)
        full = torch.cat([F.pad(a, (1, 0)), rest], dim=2)                         # [b, h, 1+N, 1+N]
        z = ap.proj((full[:, :, :1, 1:] @ v).transpose(1, 2).reshape(b, 1, d))    # [b, 1, D]
        z = z + ap.mlp(ap.norm(z))
        return z[:, 0], full

    def _patch_features(self, x: torch.Tensor) -> torch.Tensor:
        """Each patch through the pooling head's value path alone: [b, N, D]."""
        ap = _trunk(self.model).attn_pool
        b, n, d = x.shape
        v = ap.kv(x).view(b, n, 2, d)[:, :, 1]                                     # [b, N, D]
        z = ap.proj(v)
        return z + ap.mlp(ap.norm(z))

    def image_forward_batch(self, pixels: torch.Tensor, keep_graph: bool = False) -> TowerOutput:
        """pixels [batch, 3, H, W] -> embedding [batch, D], the trunk's attentions and the
        pooling head's [batch, head, 1+N, 1+N], patch features [batch, N, D]."""
        trunk = _trunk(self.model)
        with timm_attention(trunk.blocks) as maps, torch.set_grad_enabled(keep_graph):
            x = trunk.forward_features(pixels.to(self.device))                    # [b, N, D]
            emb, pool_attn = self._pool(x)                                         # [b, D]
            patches = self._patch_features(x)                                      # [b, N, D]
        return TowerOutput(embedding=emb, layer_attentions=tuple(maps) + (pool_attn,),
                           tokens=self._grid.token_labels(), patch_features=patches)

    def image_forward(self, pixels: torch.Tensor, keep_graph: bool = False) -> TowerOutput:
        return self._one_image(pixels, keep_graph)

    def image_pool_weights(self):
        return super(OpenCLIPAdapter, self).image_pool_weights()               # the [POOL] token
