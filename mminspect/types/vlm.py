"""Results of a vision–language model (LLaVA style): the picture's patches are turned into
image tokens and put INTO the language model's sequence, next to the prompt's words, so every
token the model writes reads the image through ordinary self-attention. numpy only.

Row t of `attention` is the position that WROTE `target_tokens[t]`: the last prompt position
for the first written token, then each written token in turn (`writer(t)`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .results import _as_f32, _check
from .seq2seq import DecoderLens, _rows_sum_to_one, lens_arrays


@dataclass(frozen=True)
class VLMLens(DecoderLens):
    """The logit lens over the language model's layers at every position of the sequence
    (image tokens and text tokens alike): each layer's residual stream read through the
    model's own final norm and output head.

    top_ids: int [layer, position, k] the k likeliest next tokens, best first;
    top_tokens: their display strings [layer][position][k]; top_probs: float32 [layer,
    position, k]; target_probs: float32 [layer, T], the probability of each written (or
    given) token at the position that wrote it. The last layer is the model's own output.
    (DecoderLens's fields; here the positions are the whole sequence, not the T targets.)"""

    def __post_init__(self):
        ids = lens_arrays(self, "position")
        _check(self.target_probs.ndim == 2 and self.target_probs.shape[0] == ids.shape[0],
               f"VLMLens.target_probs must be [layer={ids.shape[0]}, T], got {self.target_probs.shape}")


@dataclass(frozen=True)
class VLMView:
    """One picture and one prompt through a vision–language model.

    tokens: [N] the sequence the language model read, image tokens shown as "<img r2c5>"
    (row, column of their patch); the prompt, then the written tokens but the last.
    image_positions: [I] where the image tokens sit in `tokens`, in the order the vision
    tower made them: `extra_image_tokens` leading ones (a [CLS] token some checkpoints keep),
    then the patch grid row by row (`rows` x `cols`).
    prompt_length: positions of the prompt (image tokens included).
    target_tokens, target_ids: [T] what the model wrote (generated) or was given.
    stopped: "end" (it wrote its end token), "max_new_tokens" or "given".
    attention: float32 [layer, head, T, N]: the row of the position that wrote each target
    token, over every position (zero after that position: the model is causal).
    image: uint8 [H, W, 3] the picture as the vision tower saw it (resized, cropped).
    lens: the logit lens (a VLMLens) when asked for.
    """

    model: str
    prompt: str
    tokens: list[str]
    image_positions: list[int]
    rows: int
    cols: int
    extra_image_tokens: int
    prompt_length: int
    target_tokens: list[str]
    target_ids: list[int]
    generated: bool
    stopped: str
    attention: np.ndarray
    image: np.ndarray
    lens: VLMLens | None = None

    def __post_init__(self):
        a = _as_f32(self.attention)
        object.__setattr__(self, "attention", a)
        object.__setattr__(self, "image", np.asarray(self.image, dtype=np.uint8))
        n, t = len(self.tokens), len(self.target_tokens)
        _check(len(self.target_ids) == t >= 1,
               f"VLMView: {t} target tokens and {len(self.target_ids)} target ids must be as many (at least 1)")
        _check(n == self.prompt_length + t - 1,
               f"VLMView: the sequence read must be the prompt ({self.prompt_length}) and the "
               f"written tokens but the last ({t - 1}), got {n} tokens")
        _check(a.ndim == 4 and a.shape[2:] == (t, n),
               f"VLMView.attention must be [layer, head, {t}, {n}] (written token, position), got {a.shape}")
        pos = np.asarray(self.image_positions, dtype=np.int64)
        _check(len(pos) == self.extra_image_tokens + self.rows * self.cols,
               f"VLMView: {len(pos)} image tokens, but the grid {self.rows}x{self.cols} and "
               f"{self.extra_image_tokens} extra token(s) make {self.extra_image_tokens + self.rows * self.cols}")
        _check(bool(len(pos)) and bool(np.all(np.diff(pos) > 0)) and pos[-1] < self.prompt_length,
               "VLMView.image_positions must rise inside the prompt")
        _check(self.image.ndim == 3 and self.image.shape[2] == 3,
               f"VLMView.image must be [H, W, 3], got {self.image.shape}")
        _check(self.stopped in ("end", "max_new_tokens", "given"),
               f"VLMView.stopped must be 'end', 'max_new_tokens' or 'given', got {self.stopped!r}")
        _rows_sum_to_one(a, "VLMView.attention")
        later = np.arange(n)[None, :] > np.array([self.writer(i) for i in range(t)])[:, None]  # [T, N]
        ahead = float(a[..., later].max()) if later.any() else 0.0
        _check(ahead <= 1e-6, f"VLMView.attention must be causal: a written token's row puts "
               f"{ahead:.2g} on a position after its own")
        _check(self.lens is None or self.lens.target_probs.shape == (a.shape[0], t),
               f"VLMView.lens.target_probs must be [layer, T]={(a.shape[0], t)}")
        _check(self.lens is None or self.lens.top_ids.shape[1] == n,
               f"VLMView.lens must cover every one of the {n} positions")

    @property
    def n_layers(self) -> int:
        """The language model's layers (the vision tower's are not read here)."""
        return int(self.attention.shape[0])

    @property
    def n_heads(self) -> int:
        """Query heads per layer (grouped key/value heads are shared by several)."""
        return int(self.attention.shape[1])

    def writer(self, t: int) -> int:
        """The position whose output wrote target token t."""
        return self.prompt_length - 1 + t

    @property
    def grid_positions(self) -> np.ndarray:
        """[rows * cols] the positions of the patch grid's image tokens, row by row."""
        return np.asarray(self.image_positions[self.extra_image_tokens:], dtype=np.int64)

    @property
    def image_share(self) -> np.ndarray:
        """float32 [layer, head, T]: how much of each written token's attention went to the
        image tokens (the rest went to text tokens)."""
        return self.attention[..., self.image_positions].sum(-1)

    def patch_map(self, t: int, layer: int, head: int | None = None) -> np.ndarray:
        """float32 [rows, cols]: target token t's attention to each patch's image token, in
        one layer, one head (or heads averaged when head is None)."""
        a = self.attention[layer, :, t][:, self.grid_positions]           # [head, rows*cols]
        a = a.mean(0) if head is None else a[head]
        return a.reshape(self.rows, self.cols)
