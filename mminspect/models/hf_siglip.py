"""Hugging Face `SiglipModel` as a `CLIPAdapter`: a hub id or a folder saved with
`save_pretrained`, its image processor and tokenizer from the same place.

What differs from CLIP, and how each difference is shown:
- The loss is a sigmoid per (image, prompt) pair: logit = logit_scale * cosine + logit_bias,
  probability = sigmoid(logit), each prompt on its own (no softmax over prompts). The adapter
  says so with `link = "sigmoid"` and `logit_bias`; `similarity` returns the logits the
  sigmoid sees (bias included).
- The image tower has no [CLS] token: its embedding is an attention-pooling head ("MAP"):
  one learned probe query attends over every patch (nn.MultiheadAttention), then a LayerNorm +
  MLP with a residual. To give every map one "pooled token" to read, the image tokens here
  are [POOL] + patches, and the tower's attentions are L + 1 "layers":
    * layers 0..L-1, the encoder, [batch, head, 1+N, 1+N]: the patches' true attention in
      [1:, 1:]; the [POOL] row attends only to itself and no patch attends to it, because
      the probe does not exist inside the encoder (it reads the last layer's output);
    * layer L, the pooling head: row 0 is the probe's attention over the patches
      ([0, a_1..a_N]), the patch rows are the identity (the head leaves patches alone).
  The tensors are built inside the forward and the output is computed FROM them (rows /
  columns of the placeholder carry zero gradient), so `autograd.grad(score, attentions)` is
  exact. Then Chefer relevance's [POOL] row is the gradient-weighted pooling attention times
  the encoder's relevance (R_pool = Ā_pool R_encoder, the pooled output's relevance through the
  head's attention), rollout's is the pooling attention times the encoder rollout, and the
  "last-layer CLS attention" is where the pooling head looks (averaged over heads).
- Patch features (for the patch-text similarity map): no projection exists, so each patch is
  pushed through the pooling head's value path as if the probe attended to it alone
  (out_proj(v_proj(x)) + MLP(LN(.)), the MaskCLIP recipe for an attention pool): comparable
  with the text embedding, and the image embedding's pre-MLP part is exactly the pooling
  attention's average of these.
- The text tower is bidirectional (no causal mask), reads texts padded to max_length with no
  attention mask (as it was trained) and pools the LAST position (usually a pad token); the
  display tokens therefore include the pads, marked special.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from PIL import Image
from transformers import AutoImageProcessor, AutoTokenizer, SiglipModel
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

from ..types import ModelLoadError
from .base import Encoded
from .clip_base import CLIPAdapter, PatchGrid, TowerOutput
from .devices import choose_device
from .families import clean_token
from .hf_clip import check_text, to_rgb

F = torch.nn.functional
POOL_TOKEN_ATTENTION = "mminspect_pool_token"   # the vision tower's attention function (below)


def attention_with_pool_token(module, query, key, value, attention_mask, scaling, dropout=0.0,
                              **kwargs):
    """transformers' eager attention, returning its probabilities with a leading placeholder
    token: [batch, head, 1+N, 1+N], patches in [1:, 1:], the placeholder attending to itself.
    The output is computed from that tensor's [1:, 1:] block, so it stays on the gradient path
    (and equals the eager output: tested)."""
    w = torch.matmul(query, key.transpose(-1, -2)) * scaling              # [b, h, N, N]
    if attention_mask is not None:
        w = w + attention_mask
    w = F.softmax(w, dim=-1, dtype=torch.float32).to(query.dtype)
    w = F.dropout(w, p=dropout, training=module.training)
    padded = F.pad(w, (1, 0, 1, 0))                                       # [b, h, 1+N, 1+N]
    self_loop = torch.zeros_like(padded)
    self_loop[..., 0, 0] = 1.0
    padded = padded + self_loop
    out = torch.matmul(padded[..., 1:, 1:], value)                        # [b, h, N, d_head]
    return out.transpose(1, 2).contiguous(), padded


ALL_ATTENTION_FUNCTIONS.register(POOL_TOKEN_ATTENTION, attention_with_pool_token)


class HFSiglipAdapter(CLIPAdapter):
    family = "hf_siglip"
    link = "sigmoid"

    def __init__(self, name: str, path: str, label: str, device: str | None = None):
        self.name, self.label = name, label
        self.device = choose_device(device)
        self.model = SiglipModel.from_pretrained(
            path, attn_implementation="eager", dtype=torch.float32, trust_remote_code=False,
            use_safetensors=True).to(self.device).eval()
        vc, tc = self.model.config.vision_config, self.model.config.text_config
        if not getattr(self.model.vision_model, "use_head", False):
            raise ModelLoadError(f"{name}: this SigLIP vision tower has no attention-pooling "
                                 "head (vision_use_head=False), so it has no image embedding.")
        # The vision tower's own config (not the text tower's) gets the attention above: same
        # numbers as eager, probabilities returned with the [POOL] placeholder.
        self.model.vision_model.config._attn_implementation = POOL_TOKEN_ATTENTION
        try:
            self.image_processor = AutoImageProcessor.from_pretrained(path)
            self.tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
        except ImportError as e:   # SiglipTokenizer is sentencepiece: it needs two packages
            raise ModelLoadError(f"{name}: its tokenizer needs packages that are not installed "
                                 f"({e}); run `pip install sentencepiece protobuf`.") from e
        self.model_type = "siglip"                      # display-token style (families.py)
        self.max_tokens = int(min(tc.max_position_embeddings, self.tokenizer.model_max_length))
        side = vc.image_size // vc.patch_size
        self._grid = PatchGrid(rows=side, cols=side, patch_size=vc.patch_size,
                               image_size=(vc.image_size, vc.image_size), has_cls=True,
                               cls_label="[POOL]")
        size = getattr(self.image_processor, "size", None) or {}
        if (size.get("height"), size.get("width")) not in ((None, None), (vc.image_size,) * 2):
            raise ModelLoadError(f"{name}: the image processor resizes to {size}, but the vision "
                                 f"tower expects {vc.image_size}x{vc.image_size} pixels; fix "
                                 "preprocessor_config.json.")

    @property
    def patch_grid(self) -> PatchGrid:
        return self._grid

    @property
    def logit_scale(self) -> float:
        return self.model.logit_scale.exp().item()

    @property
    def logit_bias(self) -> float:
        return self.model.logit_bias.item()

    def preprocess(self, images: Sequence[Image.Image | np.ndarray]) -> torch.Tensor:
        rgb = [to_rgb(im) for im in images]
        px = self.image_processor(images=rgb, return_tensors="pt")["pixel_values"]  # [image, 3, H, W]
        return px.to(self.device, torch.float32)

    # Text: padded to max_length, no attention mask, the last position pooled (as trained).

    def _ids(self, texts: list[str]) -> torch.Tensor:
        for t in texts:
            check_text(t)
        enc = self.tokenizer(list(texts), padding="max_length", truncation=True,
                             max_length=self.max_tokens, return_tensors="pt")
        return enc["input_ids"].to(self.device)                               # [text, L]

    def tokenize(self, text: str) -> Encoded:
        check_text(text)
        full = len(self.tokenizer(text)["input_ids"])
        # Offsets come from fast (Rust) tokenizers only; hub SigLIP's is SentencePiece in Python.
        fast = bool(getattr(self.tokenizer, "is_fast", False))
        enc = self.tokenizer(text, padding="max_length", truncation=True, max_length=self.max_tokens,
                             return_offsets_mapping=fast, return_special_tokens_mask=True,
                             return_tensors="pt")
        special = enc["special_tokens_mask"][0].numpy().astype(bool)          # [token]
        pieces = self.tokenizer.convert_ids_to_tokens(enc["input_ids"][0].tolist())
        tokens = [clean_token(p, self.model_type) for p in pieces]
        if fast:
            offsets = enc["offset_mapping"][0].numpy()                        # [token, 2]
        else:                          # found by reading the text (open_clip's way)
            from .open_clip_adapter import char_spans
            offsets = char_spans(text, [t.strip() for t in tokens], special)  # [token, 2]
        inputs = {"input_ids": enc["input_ids"].to(self.device)}             # [1, token]
        return Encoded(inputs=inputs, tokens=tokens, offsets=offsets, special=special,
                       n_dropped=max(0, full - int((~special).sum()) - 1))

    @torch.no_grad()
    def encode_text(self, texts: list[str], normalize: bool = True) -> torch.Tensor:
        z = self.model.get_text_features(input_ids=self._ids(texts)).pooler_output  # [text, embed]
        return F.normalize(z, dim=-1) if normalize else z

    @torch.no_grad()
    def encode_image(self, pixels: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        z = self.model.get_image_features(pixel_values=pixels.to(self.device)).pooler_output
        return F.normalize(z, dim=-1) if normalize else z                    # [image, embed]

    @torch.no_grad()
    def similarity(self, pixels: torch.Tensor, texts: list[str]) -> torch.Tensor:
        """Logits [image, text] = logit_scale * cosine + logit_bias, as the sigmoid sees them."""
        return super().similarity(pixels, texts) + self.logit_bias

    def text_pool_weights(self, enc: Encoded) -> np.ndarray:
        """One-hot at the last position: SigLIP pools the last token (a pad when padded)."""
        n = enc.inputs["input_ids"].shape[1]
        return np.eye(n)[n - 1]                                               # [token]

    def _checked(self, attentions, tower: str, n: int) -> tuple[torch.Tensor, ...]:
        if attentions is None or len(attentions) != n:
            raise RuntimeError(f"{self.name}: the {tower} tower returned no attention maps; "
                               "it must be loaded with attn_implementation='eager'.")
        return tuple(attentions)

    def _text(self, ids: torch.Tensor, keep_graph: bool) -> tuple[torch.Tensor, tuple]:
        with torch.set_grad_enabled(keep_graph):
            out = self.model.text_model(input_ids=ids, output_attentions=True)
        n = self.model.config.text_config.num_hidden_layers
        return out.pooler_output, self._checked(out.attentions, "text", n)    # [text, embed]

    def text_forward(self, enc: Encoded, keep_graph: bool = False) -> TowerOutput:
        emb, attns = self._text(enc.inputs["input_ids"], keep_graph)
        return TowerOutput(embedding=emb[0], layer_attentions=attns, tokens=list(enc.tokens))

    def text_forward_batch(self, encs: Sequence[Encoded], keep_graph: bool = False) -> TowerOutput:
        """Every text is already max_length long: the batch is a plain stack (no padding)."""
        ids = torch.cat([e.inputs["input_ids"] for e in encs])                # [text, L]
        emb, attns = self._text(ids, keep_graph)
        return TowerOutput(embedding=emb, layer_attentions=attns, tokens=[])

    # Image: the encoder's attentions with the [POOL] placeholder, then the pooling head
    # recomputed here so its attention is a tensor on the gradient path.

    def _pool(self, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The attention-pooling head on hidden [b, N, D] (after post_layernorm) ->
        (embedding [b, D], attention [b, head, 1+N, 1+N]: row 0 the probe's over the patches,
        the patch rows identity). Equals `vision_model.head(hidden)` (tested)."""
        head = self.model.vision_model.head
        mha = head.attention
        b, n, d = hidden.shape
        h = mha.num_heads
        w_q, w_k, w_v = mha.in_proj_weight.chunk(3)                          # each [D, D]
        b_q, b_k, b_v = mha.in_proj_bias.chunk(3)                            # each [D]
        q = F.linear(head.probe.expand(b, 1, d), w_q, b_q).view(b, 1, h, -1).transpose(1, 2)
        k = F.linear(hidden, w_k, b_k).view(b, n, h, -1).transpose(1, 2)      # [b, h, N, d_head]
        v = F.linear(hidden, w_v, b_v).view(b, n, h, -1).transpose(1, 2)      # [b, h, N, d_head]
        a = F.softmax(q @ k.transpose(-1, -2) * q.shape[-1] ** -0.5, dim=-1)  # [b, h, 1, N]
        probe_row = F.pad(a, (1, 0))                                           # [b, h, 1, 1+N]
        rest = torch.eye(n + 1, dtype=a.dtype, device=a.device)[1:].expand(b, h, n, n + 1)
        full = torch.cat([probe_row, rest], dim=2)                             # [b, h, 1+N, 1+N]
        ctx = full[:, :, :1, 1:] @ v                                           # [b, h, 1, d_head]
        z = mha.out_proj(ctx.transpose(1, 2).reshape(b, 1, d))                 # [b, 1, D]
        z = z + head.mlp(head.layernorm(z))
        return z[:, 0], full

    def _patch_features(self, hidden: torch.Tensor) -> torch.Tensor:
        """Each patch through the pooling head's value path alone: [b, N, D]."""
        head = self.model.vision_model.head
        mha = head.attention
        w_v, b_v = mha.in_proj_weight.chunk(3)[2], mha.in_proj_bias.chunk(3)[2]
        z = mha.out_proj(F.linear(hidden, w_v, b_v))                         # [b, N, D]
        return z + head.mlp(head.layernorm(z))

    def image_forward_batch(self, pixels: torch.Tensor, keep_graph: bool = False) -> TowerOutput:
        """pixels [batch, 3, H, W] -> embedding [batch, D], L + 1 attentions [batch, head,
        1+N, 1+N] (the encoder's, then the pooling head's), patch features [batch, N, D]."""
        vision = self.model.vision_model
        n = self.model.config.vision_config.num_hidden_layers
        with torch.set_grad_enabled(keep_graph):
            out = vision(pixel_values=pixels.to(self.device), output_attentions=True)
            hidden = out.last_hidden_state                                     # [b, N, D], normed
            emb, pool_attn = self._pool(hidden)                                # [b, D], [b, h, T, T]
            patches = self._patch_features(hidden)                             # [b, N, D]
        attns = self._checked(out.attentions, "vision", n) + (pool_attn,)
        return TowerOutput(embedding=emb, layer_attentions=attns,
                           tokens=self._grid.token_labels(), patch_features=patches)

    def image_forward(self, pixels: torch.Tensor, keep_graph: bool = False) -> TowerOutput:
        return self._one_image(pixels, keep_graph)
