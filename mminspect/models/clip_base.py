"""The interface of every CLIP-style model: HF `CLIPModel`, open_clip and our mini-CLIP.

The CLIP tab and the image-text explainers talk only to `CLIPAdapter`. What they need:
- preprocess PIL images to the tower's pixels, tokenize a text with display tokens;
- the two encoders and the logit scale, so a logit is `logit_scale * cosine(image, text)`;
- one forward pass per tower that returns the embedding together with every layer's
  attention — optionally *kept in the autograd graph*, so gradient-weighted relevance
  (Chefer et al. 2021) can call `torch.autograd.grad(score, out.layer_attentions)`;
- per-patch projected features (each patch token through the final norm and the image
  projection) for a patch-text similarity map, and the patch grid geometry to draw it;
- which token states each tower pools into its embedding (`text_pool_weights`,
  `image_pool_weights`): relevance reads the pooled token's row, and only the family knows
  its pooling rule (EOT position, first EOS, mean over tokens...).

Like every adapter, it is stateless per request: calls take inputs and return values.
"""
from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from PIL import Image

from .base import Encoded, ModelAdapter


@dataclass(frozen=True)
class PatchGrid:
    """Where image tokens come from. Token order: [CLS] (if `has_cls`), then patches row-major:
    token `cls_offset + r * cols + c` covers pixels [r*patch_size, (r+1)*patch_size) x
    [c*patch_size, (c+1)*patch_size) of the preprocessed `image_size` (height, width) image."""

    rows: int
    cols: int
    patch_size: int
    image_size: tuple[int, int]
    has_cls: bool = True
    cls_label: str = "[CLS]"     # SigLIP's pooled token is "[POOL]" (models/hf_siglip.py)

    @property
    def n_patches(self) -> int:
        return self.rows * self.cols

    @property
    def cls_offset(self) -> int:
        return 1 if self.has_cls else 0

    @property
    def n_tokens(self) -> int:
        return self.cls_offset + self.n_patches

    def token_labels(self) -> list[str]:
        """Display names of image tokens: "[CLS]", "r0c0", "r0c1", ..."""
        cls = [self.cls_label] if self.has_cls else []
        return cls + [f"r{r}c{c}" for r in range(self.rows) for c in range(self.cols)]

    def to_image(self, patch_values: np.ndarray) -> np.ndarray:
        """[patch] values -> [rows, cols] map (drop the CLS entry first if present)."""
        v = np.asarray(patch_values)
        if v.shape != (self.n_patches,):
            raise ValueError(f"expected {self.n_patches} patch values ({self.rows}x{self.cols}), "
                             f"got shape {v.shape}; drop the CLS entry with [cls_offset:]")
        return v.reshape(self.rows, self.cols)


@dataclass(frozen=True)
class TowerOutput:
    """One item through one tower.

    embedding: [embed], the projected embedding before L2 normalisation.
    layer_attentions: one tensor per layer, each [1, head, query, key]: the very tensors the
      forward pass multiplied with the values (batch of one), so when the forward ran with
      `keep_graph=True` they can be passed to `torch.autograd.grad`.
    tokens: display strings, one per query/key position.
    patch_features: image tower only: [patch, embed], each patch token through the final norm
      and the image projection (not normalised), comparable with text embeddings.
    """

    embedding: torch.Tensor
    layer_attentions: tuple[torch.Tensor, ...]
    tokens: list[str]
    patch_features: torch.Tensor | None = None

    @property
    def attentions(self) -> torch.Tensor:
        """All layers stacked: [layer, head, query, key] (a copy; not a graph leaf to
        differentiate against: use `layer_attentions` for gradients)."""
        return torch.stack([a[0] for a in self.layer_attentions])


def padded_ids(encs: Sequence[Encoded], pad: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Tokenized texts right-padded to the longest: (ids [text, L], mask [text, L], 1 on real
    tokens), for the adapters' text_forward_batch."""
    n = max(e.inputs["input_ids"].shape[1] for e in encs)
    ids = torch.full((len(encs), n), pad, dtype=torch.long, device=device)
    mask = torch.zeros(len(encs), n, dtype=torch.long, device=device)
    for i, e in enumerate(encs):
        k = e.inputs["input_ids"].shape[1]
        ids[i, :k], mask[i, :k] = e.inputs["input_ids"][0], 1
    return ids, mask


class CLIPAdapter(ModelAdapter):
    """A two-tower image-text model with contrastive embeddings.

    link: how logits become probabilities. "softmax" (CLIP): over the prompts, so they sum
    to 1; "sigmoid" (SigLIP): each prompt on its own, sigmoid(logit_scale * cosine +
    logit_bias), so they need not sum to anything."""

    link: str = "softmax"

    @property
    def modalities(self) -> tuple[str, ...]:
        return ("image", "text")

    @property
    @abstractmethod
    def patch_grid(self) -> PatchGrid:
        """Geometry of the image tower's tokens."""

    @property
    @abstractmethod
    def logit_scale(self) -> float:
        """The learned 1 / temperature: logit = logit_scale * cosine(image, text)."""

    @property
    def logit_bias(self) -> float:
        """Added after the scale (SigLIP's learned bias); 0 for softmax models, where a
        constant shift of every logit would change nothing."""
        return 0.0

    def logits_of(self, cosine: torch.Tensor) -> torch.Tensor:
        """cosine [..., prompt] -> logits: logit_scale * cosine + logit_bias."""
        return self.logit_scale * cosine + self.logit_bias

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """logits [..., prompt] -> probabilities by the family's link: softmax over the last
        axis (CLIP) or a sigmoid per entry (SigLIP)."""
        return logits.softmax(-1) if self.link == "softmax" else torch.sigmoid(logits)

    @property
    def link_words(self) -> str:
        """How the probability of one prompt is taken, for targets and captions."""
        return ("softmax over the prompts" if self.link == "softmax"
                else "a sigmoid per prompt, independent of the others")

    @abstractmethod
    def preprocess(self, images: Sequence[Image.Image | np.ndarray]) -> torch.Tensor:
        """PIL images (or uint8 [H, W, 3] arrays) -> pixels [image, 3, H, W] on the device,
        resized/cropped/normalised exactly as the model was trained."""

    @abstractmethod
    def tokenize(self, text: str) -> Encoded:
        """One text -> model inputs (each [1, token]) and display tokens."""

    @abstractmethod
    def encode_text(self, texts: list[str], normalize: bool = True) -> torch.Tensor:
        """Texts -> embeddings [text, embed] (no gradients)."""

    @abstractmethod
    def encode_image(self, pixels: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        """pixels [image, 3, H, W] -> embeddings [image, embed] (no gradients)."""

    @abstractmethod
    def image_forward(self, pixels: torch.Tensor, keep_graph: bool = False) -> TowerOutput:
        """pixels [1, 3, H, W] -> embedding, patch features and every layer's attention.
        keep_graph=True runs with gradients so attentions/pixels can be differentiated."""

    @abstractmethod
    def text_forward(self, enc: Encoded, keep_graph: bool = False) -> TowerOutput:
        """One tokenized text -> embedding and every layer's attention (text tower)."""

    @abstractmethod
    def text_pool_weights(self, enc: Encoded) -> np.ndarray:
        """float [token] weights over one tokenized text's positions: how the text tower's
        last hidden states become the pooled state the projection reads (one-hot at the EOT /
        [CLS] token, uniform for mean pooling). Sums to 1."""

    def image_pool_weights(self) -> np.ndarray:
        """float [image token] weights of the image tower's pooling; this default is the
        [CLS] token (towers that average their patches override it). Sums to 1."""
        if not self.patch_grid.has_cls:
            raise NotImplementedError(f"{type(self).__name__} has no [CLS] token: override "
                                      "image_pool_weights with its pooling rule")
        w = np.zeros(self.patch_grid.n_tokens)
        w[0] = 1.0
        return w

    # Built on the abstract methods; subclasses need not override them.

    def image_forward_batch(self, pixels: torch.Tensor, keep_graph: bool = False) -> TowerOutput:
        """pixels [batch, 3, H, W] -> a TowerOutput whose tensors keep the batch axis:
        embedding [batch, embed], layer_attentions each [batch, head, query, key] (in the graph
        with keep_graph=True), patch_features [batch, patch, embed].

        Why: explaining several prompts of one image runs copies of the image as one batch and
        asks autograd for the gradient of the summed per-copy scores w.r.t. these attentions
        (copies do not interact, so copy i's gradient is prompt i's). This default covers a
        batch of one; adapters whose tower runs batches override it."""
        if pixels.ndim != 4 or pixels.shape[0] != 1:
            raise NotImplementedError(f"{type(self).__name__} runs one image at a time in "
                                      f"image_forward; got a batch of {tuple(pixels.shape)}")
        out = self.image_forward(pixels, keep_graph=keep_graph)
        pf = None if out.patch_features is None else out.patch_features[None]
        return TowerOutput(embedding=out.embedding[None], layer_attentions=out.layer_attentions,
                           tokens=out.tokens, patch_features=pf)     # [1, embed], [1, patch, embed]

    def _one_image(self, pixels: torch.Tensor, keep_graph: bool = False) -> TowerOutput:
        """image_forward for an adapter whose tower runs batches: the batched forward of one
        image, batch axis dropped from the embedding and patch features (the attentions keep
        it, as every image_forward returns them [1, head, query, key])."""
        if pixels.ndim != 4 or pixels.shape[0] != 1:
            raise ValueError(f"image_forward takes one image [1, 3, H, W], got {tuple(pixels.shape)}")
        out = self.image_forward_batch(pixels, keep_graph)
        return TowerOutput(embedding=out.embedding[0], layer_attentions=out.layer_attentions,
                           tokens=out.tokens, patch_features=out.patch_features[0])

    def text_forward_batch(self, encs: Sequence[Encoded], keep_graph: bool = False) -> TowerOutput:
        """Several tokenized texts, right-padded to the longest, as one batch: embedding
        [text, embed], layer_attentions each [text, head, L, L]. Text i's own attention is the
        block [i, :, :n_i, :n_i] (n_i = its token count): the towers are causal or mask the
        padding, so real tokens never attend to it. `tokens` is empty (see each Encoded).
        Adapters whose text tower runs padded batches override this; the default cannot."""
        raise NotImplementedError(f"{type(self).__name__} runs one text at a time")

    @torch.no_grad()
    def similarity(self, pixels: torch.Tensor, texts: list[str]) -> torch.Tensor:
        """Logits [image, text] = logit_scale * cosine, as the model's softmax sees them."""
        img = self.encode_image(pixels)                          # [image, embed]
        txt = self.encode_text(texts)                            # [text, embed]
        return self.logit_scale * img @ txt.T                    # [image, text]

    @torch.no_grad()
    def patch_similarity(self, pixels: torch.Tensor, text: str) -> torch.Tensor:
        """Cosine of each patch's projected feature with the text: [rows, cols] for pixels
        [1, 3, H, W]."""
        out = self.image_forward(pixels)
        p = torch.nn.functional.normalize(out.patch_features, dim=-1)    # [patch, embed]
        t = self.encode_text([text])[0]                                   # [embed]
        g = self.patch_grid
        return (p @ t).reshape(g.rows, g.cols)                           # [rows, cols]
