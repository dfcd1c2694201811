"""Hugging Face `CLIPModel` as a `CLIPAdapter`: a hub id or a folder saved with
`save_pretrained`, its `CLIPImageProcessor` and CLIP-BPE tokenizer from the same place.

Attention comes from transformers itself: with eager attention and `output_attentions=True`
each layer returns the softmax it multiplied with the values, so the returned tensors are on
the path to the embedding and `torch.autograd.grad(score, out.layer_attentions)` works (tested).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from PIL import Image
from transformers import CLIPImageProcessor, CLIPModel, CLIPTokenizer

from ..types import InputError, ModelLoadError
from .base import Encoded
from .clip_base import CLIPAdapter, PatchGrid, TowerOutput, padded_ids
from .devices import choose_device
from .families import clean_token

MAX_CHARS = 2_000   # CLIP reads 77 tokens; more characters are wasted tokenizer work


def to_rgb(im: Image.Image | np.ndarray) -> Image.Image:
    """A PIL image or uint8 [H, W(, C)] array as an RGB PIL image (greyscale, RGBA, palette...)."""
    if isinstance(im, np.ndarray):
        im = Image.fromarray(im.astype(np.uint8))
    if not isinstance(im, Image.Image):
        raise InputError(f"Expected a PIL image or a uint8 [H, W, 3] array, got {type(im).__name__}.")
    return im.convert("RGB")


def check_text(text: str) -> None:
    if not isinstance(text, str) or not text.strip():
        raise InputError("The prompt is empty. Type a few words, e.g. 'a photo of a cat'.")
    if len(text) > MAX_CHARS:
        raise InputError(f"The prompt is {len(text):,} characters; the limit is {MAX_CHARS:,} "
                         "(CLIP reads only its first 77 tokens).")


class HFCLIPAdapter(CLIPAdapter):
    family = "hf_clip"
    # What a subclass of the same layout swaps (models/hf_chinese_clip.py): the model and
    # processor classes, and the display-token style of its tokenizer (families.py).
    model_class, processor_class, tokenizer_class = CLIPModel, CLIPImageProcessor, CLIPTokenizer
    token_style = "clip"

    def __init__(self, name: str, path: str, label: str, device: str | None = None):
        self.name, self.label = name, label
        self.device = choose_device(device)
        # eager: SDPA returns no attention weights; float32: gradients on CPU.
        self.model = self.model_class.from_pretrained(
            path, attn_implementation="eager", dtype=torch.float32, trust_remote_code=False,
            use_safetensors=True).to(self.device).eval()
        self.image_processor = self.processor_class.from_pretrained(path)
        self.tokenizer = self.tokenizer_class.from_pretrained(path)
        vc, tc = self.model.config.vision_config, self.model.config.text_config
        self.model_type = self.token_style
        self.max_tokens = int(min(tc.max_position_embeddings, self.tokenizer.model_max_length))
        side = vc.image_size // vc.patch_size
        self._grid = PatchGrid(rows=side, cols=side, patch_size=vc.patch_size,
                               image_size=(vc.image_size, vc.image_size), has_cls=True)
        self._check_processor(vc)

    def _check_processor(self, vc) -> None:
        """Refuse an image processor whose output size is not the vision tower's."""
        crop = self.image_processor.crop_size or {}
        if (crop.get("height"), crop.get("width")) not in ((None, None), (vc.image_size,) * 2):
            raise ModelLoadError(f"{self.name}: the image processor crops to {crop}, but the vision "
                                 f"tower expects {vc.image_size}x{vc.image_size} pixels; fix "
                                 "preprocessor_config.json.")

    @property
    def patch_grid(self) -> PatchGrid:
        return self._grid

    @property
    def logit_scale(self) -> float:
        return self.model.logit_scale.exp().item()

    def preprocess(self, images: Sequence[Image.Image | np.ndarray]) -> torch.Tensor:
        rgb = [to_rgb(im) for im in images]
        px = self.image_processor(images=rgb, return_tensors="pt")["pixel_values"]  # [image, 3, H, W]
        return px.to(self.device, torch.float32)

    def tokenize(self, text: str) -> Encoded:
        check_text(text)
        full = len(self.tokenizer(text)["input_ids"])
        enc = self.tokenizer(text, truncation=True, max_length=self.max_tokens,
                             return_offsets_mapping=True, return_special_tokens_mask=True,
                             return_tensors="pt")
        special = enc.pop("special_tokens_mask")[0].numpy().astype(bool)  # [token]
        offsets = enc.pop("offset_mapping")[0].numpy()                    # [token, 2]
        pieces = self.tokenizer.convert_ids_to_tokens(enc["input_ids"][0].tolist())
        tokens = [clean_token(p, self.model_type) for p in pieces]
        inputs = {k: v.to(self.device) for k, v in enc.items()}          # each [1, token]
        return Encoded(inputs=inputs, tokens=tokens, offsets=offsets, special=special,
                       n_dropped=max(0, full - len(tokens)))

    @torch.no_grad()
    def encode_text(self, texts: list[str], normalize: bool = True) -> torch.Tensor:
        for t in texts:
            check_text(t)
        enc = self.tokenizer(list(texts), padding=True, truncation=True,
                             max_length=self.max_tokens, return_tensors="pt").to(self.device)
        z = self.model.get_text_features(**enc).pooler_output                 # [text, embed]
        return torch.nn.functional.normalize(z, dim=-1) if normalize else z

    @torch.no_grad()
    def encode_image(self, pixels: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        z = self.model.get_image_features(pixel_values=pixels.to(self.device)).pooler_output
        return torch.nn.functional.normalize(z, dim=-1) if normalize else z  # [image, embed]

    def _checked(self, attentions, tower: str) -> tuple[torch.Tensor, ...]:
        cfg = getattr(self.model.config, f"{tower}_config")
        if attentions is None or len(attentions) != cfg.num_hidden_layers:
            raise RuntimeError(f"{self.name}: the {tower} tower returned no attention maps; "
                               "it must be loaded with attn_implementation='eager'.")
        return tuple(attentions)

    def image_forward(self, pixels: torch.Tensor, keep_graph: bool = False) -> TowerOutput:
        if pixels.ndim != 4 or pixels.shape[0] != 1:
            raise ValueError(f"image_forward takes one image [1, 3, H, W], got {tuple(pixels.shape)}")
        vision = self.model.vision_model
        with torch.set_grad_enabled(keep_graph):
            out = vision(pixel_values=pixels.to(self.device), output_attentions=True)
            emb = self.model.visual_projection(out.pooler_output)[0]              # [embed]
            tokens = vision.post_layernorm(out.last_hidden_state[0, 1:])        # [patch, width]
            patches = self.model.visual_projection(tokens)                       # [patch, embed]
        return TowerOutput(embedding=emb, layer_attentions=self._checked(out.attentions, "vision"),
                           tokens=self._grid.token_labels(), patch_features=patches)

    def image_forward_batch(self, pixels: torch.Tensor, keep_graph: bool = False) -> TowerOutput:
        """Like image_forward, batch axis kept (see CLIPAdapter.image_forward_batch)."""
        vision = self.model.vision_model
        with torch.set_grad_enabled(keep_graph):
            out = vision(pixel_values=pixels.to(self.device), output_attentions=True)
            emb = self.model.visual_projection(out.pooler_output)                # [batch, embed]
            tokens = vision.post_layernorm(out.last_hidden_state[:, 1:])        # [batch, patch, width]
            patches = self.model.visual_projection(tokens)                       # [batch, patch, embed]
        return TowerOutput(embedding=emb, layer_attentions=self._checked(out.attentions, "vision"),
                           tokens=self._grid.token_labels(), patch_features=patches)

    def text_forward_batch(self, encs: Sequence[Encoded], keep_graph: bool = False) -> TowerOutput:
        """Like text_forward for several texts, right-padded with an attention mask (see
        CLIPAdapter.text_forward_batch)."""
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        ids, mask = padded_ids(encs, pad, self.device)                         # [text, L]
        with torch.set_grad_enabled(keep_graph):
            out = self.model.text_model(input_ids=ids, attention_mask=mask, output_attentions=True)
            emb = self.model.text_projection(out.pooler_output)                  # [text, embed]
        return TowerOutput(embedding=emb, layer_attentions=self._checked(out.attentions, "text"),
                           tokens=[])

    def text_pool_weights(self, enc: Encoded) -> np.ndarray:
        """One-hot at the token transformers pools: argmax(ids) for legacy configs whose
        eos id is 2 (the EOT id was the largest), else the first eos token."""
        ids = enc.inputs["input_ids"][0].cpu().numpy()                        # [token]
        eos = self.model.config.text_config.eos_token_id
        legacy = eos == 2 or eos not in ids
        pos = int(np.argmax(ids)) if legacy else int(np.flatnonzero(ids == eos)[0])
        return np.eye(len(ids))[pos]                                          # [token]

    def text_forward(self, enc: Encoded, keep_graph: bool = False) -> TowerOutput:
        with torch.set_grad_enabled(keep_graph):
            out = self.model.text_model(**enc.inputs, output_attentions=True)
            emb = self.model.text_projection(out.pooler_output)[0]                # [embed]
        return TowerOutput(embedding=emb, layer_attentions=self._checked(out.attentions, "text"),
                           tokens=list(enc.tokens))
