"""Image-text results: the zero-shot prediction step by step (`ClipView`) and "why this label"
maps over pixels (`PixelAttribution`, `PromptExplanations`). numpy only, validated here."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .attribution import Faithfulness
from .results import _as_f32, _check


LINKS = ("softmax", "sigmoid")   # how logits become probabilities (ClipView.link)


@dataclass(frozen=True)
class PromptText:
    """One prompt through the text tower. tokens: display strings; special: bool [token];
    attention: float32 [layer, head, query, key] (rows sum to 1; causal for CLIP's tower);
    pooled: the token position whose state is the text embedding (-1: mean over tokens)."""

    prompt: str
    tokens: list[str]
    special: np.ndarray
    attention: np.ndarray
    pooled: int
    n_dropped: int = 0

    def __post_init__(self):
        n = len(self.tokens)
        a = _as_f32(self.attention)
        object.__setattr__(self, "attention", a)
        object.__setattr__(self, "special", np.asarray(self.special, dtype=bool))
        _check(a.ndim == 4 and a.shape[2:] == (n, n),
               f"PromptText.attention must be [layer, head, {n}, {n}] for {n} tokens, got {a.shape}")
        _check(self.special.shape == (n,), f"PromptText.special must be [token]=({n},), got {self.special.shape}")
        _check(-1 <= self.pooled < n, f"PromptText.pooled must be a token index or -1, got {self.pooled}")


@dataclass(frozen=True)
class ClipView:
    """What `mi.inspect_clip` returns: the prediction from cosine to probability.

    prompts: the cleaned prompts (template applied). images: uint8 [image, H, W, 3], each as
    the model sees it (resized / cropped to `image_size`, before normalisation).
    cosine / logits / probs: float32 [image, prompt]; logits = logit_scale * cosine +
    logit_bias. link says how logits become probs: "softmax" (CLIP) over the prompts, each
    row sums to 1 (logit_bias is 0: a shift of every logit changes nothing); "sigmoid"
    (SigLIP) per (image, prompt) pair on its own, probs = sigmoid(logits): independent
    yes/no answers that need not sum to 1 (several prompts can all be likely, or none).
    image_embeddings: float32 [image, embed], prompt_embeddings: float32 [prompt, embed] (unit).
    pca: float32 [image + prompt, 2], the images first; pca_variance: float32 [2], the share
    of variance of each axis.
    grid_rows / grid_cols / patch_size: the image tower's patch grid.
    image_attention: float32 [image, layer, head, query, key] over image_tokens ([CLS], r0c0...;
    SigLIP: [POOL], r0c0..., its last "layer" the attention-pooling head, see models/hf_siglip).
    texts: one PromptText per prompt. notes: what was changed in the input, for people
    (every note once, those about the maps included).
    maps: with `inspect_clip(..., maps=True)`, the relevance and patch-text similarity maps of
    every prompt for the FIRST image, from the same forward pass; else None. Its `notes` are
    empty: they are in `notes` above.
    """

    model_name: str
    prompts: list[str]
    images: np.ndarray
    cosine: np.ndarray
    logit_scale: float
    logits: np.ndarray
    probs: np.ndarray
    image_embeddings: np.ndarray
    prompt_embeddings: np.ndarray
    pca: np.ndarray
    pca_variance: np.ndarray
    grid_rows: int
    grid_cols: int
    patch_size: int
    image_attention: np.ndarray
    image_tokens: list[str]
    texts: list[PromptText]
    notes: list[str] = field(default_factory=list)
    maps: PromptExplanations | None = None
    link: str = "softmax"
    logit_bias: float = 0.0

    def __post_init__(self):
        n_i, n_p = self.n_images, len(self.prompts)
        im = np.asarray(self.images)
        object.__setattr__(self, "images", im)
        _check(im.dtype == np.uint8 and im.ndim == 4 and im.shape[-1] == 3 and n_p > 0,
               f"ClipView.images must be uint8 [image, H, W, 3] and prompts non-empty, got "
               f"{im.dtype} {im.shape} and {n_p} prompts")
        for name in ("cosine", "logits", "probs"):
            a = _as_f32(getattr(self, name))
            object.__setattr__(self, name, a)
            _check(a.shape == (n_i, n_p), f"ClipView.{name} must be [image, prompt]=({n_i}, {n_p}), "
                                          f"got {a.shape}; one row per image, one column per prompt")
        _check(self.link in LINKS, f"ClipView.link must be one of {LINKS}, got {self.link!r}")
        _check(bool(np.isfinite(self.logit_bias)) and (self.link == "sigmoid" or self.logit_bias == 0),
               f"ClipView.logit_bias must be a finite number, and 0 with a softmax link (got "
               f"{self.logit_bias} with {self.link!r}): a shift of every logit changes no softmax")
        _check(np.allclose(self.logits, self.logit_scale * self.cosine + self.logit_bias,
                           rtol=1e-4, atol=1e-4),
               "ClipView.logits must be logit_scale * cosine + logit_bias")
        if self.link == "softmax":
            _check(np.allclose(self.probs.sum(1), 1, atol=1e-4),
                   "ClipView.probs rows must sum to 1: take the softmax over prompts (axis 1), "
                   "or say link='sigmoid' for a model with independent per-prompt probabilities")
        else:
            expected = 0.5 * (1 + np.tanh(self.logits.astype(np.float64) / 2))    # sigmoid, stable
            _check(np.allclose(self.probs, expected, atol=1e-5),
                   "ClipView.probs must be sigmoid(logits) with link='sigmoid' (one independent "
                   "probability per image and prompt; no softmax over prompts)")
        ie, pe = _as_f32(self.image_embeddings), _as_f32(self.prompt_embeddings)
        object.__setattr__(self, "image_embeddings", ie)
        object.__setattr__(self, "prompt_embeddings", pe)
        _check(ie.ndim == 2 and ie.shape[0] == n_i and pe.shape == (n_p, ie.shape[1]),
               f"ClipView embeddings must be [image, embed] and [prompt, embed] with one embed "
               f"size, got {ie.shape} and {pe.shape}")
        pca = _as_f32(self.pca)
        object.__setattr__(self, "pca", pca)
        object.__setattr__(self, "pca_variance", _as_f32(self.pca_variance))
        _check(pca.shape == (n_i + n_p, 2), f"ClipView.pca must be [image + prompt, 2]="
                                            f"({n_i + n_p}, 2), images first, got {pca.shape}")
        att = _as_f32(self.image_attention)
        object.__setattr__(self, "image_attention", att)
        n_tok = len(self.image_tokens)
        _check(n_tok == 1 + self.grid_rows * self.grid_cols or n_tok == self.grid_rows * self.grid_cols,
               f"ClipView: {n_tok} image tokens do not fit a {self.grid_rows}x{self.grid_cols} grid")
        _check(att.ndim == 5 and att.shape[0] == n_i and att.shape[3:] == (n_tok, n_tok),
               f"ClipView.image_attention must be [image, layer, head, {n_tok}, {n_tok}], got {att.shape}")
        _check(len(self.texts) == n_p, f"ClipView.texts needs one PromptText per prompt "
                                       f"({n_p}), got {len(self.texts)}")
        _check(self.maps is None or self.maps.prompts == self.prompts,
               f"ClipView.maps must explain the view's prompts {self.prompts}, got "
               f"{None if self.maps is None else self.maps.prompts}")

    @property
    def n_images(self) -> int:
        return int(np.asarray(self.images).shape[0])

    @property
    def chain(self) -> str:
        """The prediction's steps in words, for captions and reports."""
        if self.link == "sigmoid":
            return (f"cosine → × logit scale {self.logit_scale:.1f} + bias {self.logit_bias:+.1f} "
                    "→ sigmoid, each prompt on its own (the probabilities need not sum to 1)")
        return f"cosine → × logit scale {self.logit_scale:.1f} → softmax over the prompts"

    def top(self, image: int = 0) -> str:
        """The most probable prompt for one image."""
        return self.prompts[int(np.argmax(self.probs[image]))]


@dataclass(frozen=True)
class PixelAttribution:
    """One "why this label" map for one image and one prompt (what `mi.attribute_image` gives).

    scores: float32 [H, W] at the model's input resolution (`image`'s size); patch_scores:
    float32 [rows, cols], the same map per patch (the native resolution of attention methods;
    the sum over each patch for pixel methods). Signed for gradient methods and contrasts;
    > 0 means "pushes the prompt's logit up" (or "A rather than B").
    image: uint8 [H, W, 3], the input as the model saw it, for overlays.
    target: what was explained, e.g. "logit('a cat')"; target_value: its value.
    contrast: the prompt B of a "why A rather than B" map, else None.
    words / word_scores: relevance of the prompt's words (float32 [word]) when computed.
    faithfulness: deletion / insertion over patches (fractions = share of patches).
    pointing_hit: the peak patch touches the given mask (None without a mask).
    energy_in_mask: the share of the map's positive mass inside that mask, in [0, 1].
    convergence_delta: IG / GradientSHAP completeness error (absolute), n_steps: IG steps.
    """

    scores: np.ndarray
    patch_scores: np.ndarray
    image: np.ndarray
    method: str
    prompt: str
    target: str
    target_value: float
    seconds: float
    model_name: str = ""
    contrast: str | None = None
    words: list[str] = field(default_factory=list)
    word_scores: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    faithfulness: Faithfulness | None = None
    pointing_hit: bool | None = None
    energy_in_mask: float | None = None
    convergence_delta: float | None = None
    n_steps: int | None = None
    params: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def __post_init__(self):
        s, p = _as_f32(self.scores), _as_f32(self.patch_scores)
        object.__setattr__(self, "scores", s)
        object.__setattr__(self, "patch_scores", p)
        im = np.asarray(self.image)
        _check(s.ndim == 2 and p.ndim == 2, f"PixelAttribution.scores must be [H, W] and "
                                            f"patch_scores [rows, cols]; got {s.shape} and {p.shape}. "
                                            "Sum over colour channels first.")
        _check(im.dtype == np.uint8 and im.shape == (*s.shape, 3),
               f"PixelAttribution.image must be uint8 [H, W, 3] = {(*s.shape, 3)} like scores, got "
               f"{im.dtype} {im.shape}")
        _check(s.shape[0] % p.shape[0] == 0 and s.shape[1] % p.shape[1] == 0,
               f"PixelAttribution: the patch grid {p.shape} must divide the image {s.shape}")
        _check(bool(np.isfinite(s).all() and np.isfinite(p).all()),
               "PixelAttribution scores hold NaN or inf; the model produced non-finite gradients.")
        ws = _as_f32(self.word_scores)
        object.__setattr__(self, "word_scores", ws)
        _check(ws.shape == (len(self.words),),
               f"PixelAttribution.word_scores must be [word]=({len(self.words)},), got {ws.shape}")
        _check(self.seconds >= 0, f"seconds must be >= 0, got {self.seconds}")


@dataclass(frozen=True)
class PromptExplanations:
    """Every prompt of one image explained by one method (what `mi.explain_prompts` gives).

    maps: one PixelAttribution per prompt. similarity: the patch-text cosine maps, one per
    prompt (no gradients), or empty. vmax: max |patch score| over `maps`, so the heat maps
    share one colour scale. contrast: "A rather than B" maps keyed by (A, B), if asked.
    """

    prompts: list[str]
    maps: list[PixelAttribution]
    similarity: list[PixelAttribution]
    vmax: float
    seconds: float
    contrasts: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def __post_init__(self):
        _check(len(self.maps) == len(self.prompts) and [m.prompt for m in self.maps] == self.prompts,
               f"PromptExplanations: maps must follow prompts one to one, got "
               f"{[m.prompt for m in self.maps]} for {self.prompts}")
        _check(not self.similarity or len(self.similarity) == len(self.prompts),
               "PromptExplanations.similarity must be empty or one map per prompt")
        _check(self.vmax >= 0, f"vmax must be >= 0, got {self.vmax}")
