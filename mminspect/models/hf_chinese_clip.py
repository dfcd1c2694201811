"""Hugging Face `ChineseCLIPModel` (Chinese-CLIP, OFA-Sys/chinese-clip-*) as a `CLIPAdapter`:
CLIP trained on Chinese captions. A hub id or a folder saved with `save_pretrained`, its
image processor and tokenizer from the same place.

What differs from CLIP (models/hf_clip.py, whose image side is reused as it is):
- the text tower is a BERT (RoBERTa-wwm-ext-style, WordPiece: one token per Chinese
  character), bidirectional, with an attention mask for padding;
- the text embedding is `text_projection` of the [CLS] token's last hidden state (position
  0), not of an end-of-text token, and no pooler layer is in between;
- display tokens are BERT's ("##" continuations kept), so the family's token style is "bert".
The image tower is CLIP's ViT under other class names (same module names, `pre_layrnorm`,
post-LayerNorm on [CLS], `visual_projection`). Its image processor squashes the whole image
to a square (no crop, as Chinese-CLIP was trained); every map here is drawn over the centre
square that the other CLIP towers see, so `preprocess` cuts that square first and the maps
line up with the picture shown (a wide photo loses its sides instead of being squashed).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from PIL import Image
from transformers import BertTokenizerFast, ChineseCLIPImageProcessor, ChineseCLIPModel

from ..types import ModelLoadError
from .base import Encoded
from .clip_base import TowerOutput, padded_ids
from .hf_clip import HFCLIPAdapter, to_rgb


def centre_square(im: Image.Image) -> Image.Image:
    """The centre square of the shorter side (what the app's overlays show)."""
    w, h = im.size
    s = min(w, h)
    return im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))


class HFChineseCLIPAdapter(HFCLIPAdapter):
    family = "hf_chinese_clip"

    model_class, processor_class = ChineseCLIPModel, ChineseCLIPImageProcessor
    tokenizer_class = BertTokenizerFast             # Chinese-CLIP's hub folders: vocab.txt
    token_style = "bert"                            # "##" continuations kept (families.py)

    def _check_processor(self, vc) -> None:
        """Refuse an image processor whose output size is not the vision tower's (its
        processor resizes to `size` and may crop: a probe image says what comes out)."""
        probe = np.zeros((vc.image_size + 7, vc.image_size + 3, 3), np.uint8)   # [H, W, 3]
        px = self.image_processor(images=[probe], return_tensors="pt")["pixel_values"]
        got = tuple(px.shape[-2:])
        if got != (vc.image_size, vc.image_size):
            raise ModelLoadError(f"{self.name}: the image processor gives {got[0]}x{got[1]} "
                                 f"pixels, but the vision tower expects {vc.image_size}x"
                                 f"{vc.image_size}; fix preprocessor_config.json.")

    def preprocess(self, images: Sequence[Image.Image | np.ndarray]) -> torch.Tensor:
        squares = [centre_square(to_rgb(im)) for im in images]
        px = self.image_processor(images=squares, return_tensors="pt")["pixel_values"]
        return px.to(self.device, torch.float32)                       # [image, 3, H, W]

    def _text(self, ids: torch.Tensor, mask: torch.Tensor | None, types: torch.Tensor | None,
              keep_graph: bool):
        """The text tower's output and the embedding of each text: text_projection of the
        [CLS] token's last hidden state (ChineseCLIPModel.get_text_features)."""
        with torch.set_grad_enabled(keep_graph):
            out = self.model.text_model(input_ids=ids, attention_mask=mask, token_type_ids=types,
                                        output_attentions=True)
            emb = self.model.text_projection(out.last_hidden_state[:, 0])     # [text, embed]
        return out, emb

    def text_forward(self, enc: Encoded, keep_graph: bool = False) -> TowerOutput:
        inputs = enc.inputs
        out, emb = self._text(inputs["input_ids"], inputs.get("attention_mask"),
                              inputs.get("token_type_ids"), keep_graph)
        return TowerOutput(embedding=emb[0], layer_attentions=self._checked(out.attentions, "text"),
                           tokens=list(enc.tokens))

    def text_forward_batch(self, encs: Sequence[Encoded], keep_graph: bool = False) -> TowerOutput:
        """Like text_forward for several texts, right-padded with an attention mask."""
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        ids, mask = padded_ids(encs, pad, self.device)                         # [text, L]
        out, emb = self._text(ids, mask, None, keep_graph)
        return TowerOutput(embedding=emb, layer_attentions=self._checked(out.attentions, "text"),
                           tokens=[])

    def text_pool_weights(self, enc: Encoded) -> np.ndarray:
        """One-hot at position 0: the [CLS] token the text embedding is read from."""
        w = np.zeros(len(enc.tokens))                                          # [token]
        w[0] = 1.0
        return w
