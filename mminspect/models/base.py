"""The interface every model family implements.

Adapters are stateless per request: they hold the (read-only, shared) model and tokenizer,
and every call takes its input and returns values; nothing about "the last run" is stored.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Encoded:
    """One tokenized text, ready for the model and for display.

    inputs: model kwargs, each tensor [1, token]. tokens: display strings. offsets: [token, 2]
    character spans in the text. special: bool [token]. n_dropped: tokens cut at max_tokens.
    """

    inputs: dict[str, torch.Tensor]
    tokens: list[str]
    offsets: np.ndarray
    special: np.ndarray
    n_dropped: int


@dataclass(frozen=True)
class Internals:
    """What one forward pass exposes, for batch item 0. attentions: [layer, head, query, key];
    hidden: [layer + 1, token, d_model] (embeddings first); logits: the head's output,
    [token, vocab] for language models, [class] for classifiers, None for bare encoders."""

    attentions: torch.Tensor
    hidden: torch.Tensor
    logits: torch.Tensor | None = None


class ModelAdapter(ABC):
    """Common to all families: a name, a label for people, where it runs."""

    name: str
    label: str
    family: str
    device: torch.device

    @property
    @abstractmethod
    def modalities(self) -> tuple[str, ...]:
        """("text",) for text models, ("image", "text") for CLIP-style ones."""

    def memory_bytes(self) -> int:
        """Bytes of every parameter and buffer the adapter holds: what the model cache budgets."""
        modules = [m for m in vars(self).values() if isinstance(m, torch.nn.Module)]
        return sum(t.numel() * t.element_size()
                   for m in modules for t in [*m.parameters(), *m.buffers()])


class TextAdapter(ModelAdapter):
    """A transformer over text tokens (encoder or decoder)."""

    kind: str            # "embedding" (sentence embeddings), "classifier", "masked_lm", "causal_lm"
    max_tokens: int
    causal: bool = False

    @property
    def modalities(self) -> tuple[str, ...]:
        return ("text",)

    @abstractmethod
    def encode(self, text: str) -> Encoded:
        """Tokenize one text, truncating to `max_tokens` (and saying how many were dropped)."""

    @abstractmethod
    def internals(self, enc: Encoded) -> Internals:
        """One forward pass with attention and hidden states captured (no gradients)."""

    @abstractmethod
    def embed(self, texts: list[str]) -> np.ndarray:
        """Sentence embeddings [text, d] as the model's own pooling defines them."""

    # What api/ and explain/ read of the tokenizer and the model, as methods, so nothing above
    # models/ reaches into a Hugging Face object. Written for the Hugging Face tokenizer and
    # model every text adapter here holds (self.tokenizer, self.model); another kind of text
    # adapter overrides them.
    def pieces(self, ids):
        """The tokenizer's raw pieces ("Ġcat", "##ing") of a list of ids, or of one id."""
        return self.tokenizer.convert_ids_to_tokens(ids)

    def decode(self, ids: list[int], skip_special_tokens: bool = False) -> str:
        """Token ids back to text."""
        return self.tokenizer.decode(ids, skip_special_tokens=skip_special_tokens)

    def token_ids(self, text: str) -> list[int]:
        """The ids of a text as the model reads it (special tokens included, not truncated)."""
        return list(self.tokenizer(text)["input_ids"])

    def word_pieces(self, text: str) -> list[str]:
        """The raw pieces the tokenizer cuts a text (or one word) into, no special tokens."""
        return self.tokenizer.tokenize(text)

    def vocab(self) -> dict[str, int]:
        """Raw piece -> id, the whole vocabulary."""
        return self.tokenizer.get_vocab()

    def special_token(self, role: str) -> str | None:
        """The text of the tokenizer's `role` token ("mask": "[MASK]"), None if it has none."""
        return getattr(self.tokenizer, f"{role}_token", None)

    @torch.no_grad()
    def generate(self, enc: Encoded, max_new_tokens: int) -> list[int]:
        """Ids of the greedy continuation of an encoded text (only the new tokens)."""
        out = self.model.generate(**enc.inputs, max_new_tokens=max_new_tokens, do_sample=False,
                                  pad_token_id=self.tokenizer.pad_token_id)   # [1, token + new]
        return out[0, enc.inputs["input_ids"].shape[1]:].tolist()

    @torch.no_grad()
    def run(self, enc: Encoded, hidden_states: bool = False):
        """The model's own outputs for an encoded text, no gradients: `.logits` ([1, token,
        vocab] or [1, class]) and, with hidden_states=True, `.hidden_states`."""
        return self.model(**enc.inputs, output_hidden_states=hidden_states)

    def sizes(self) -> dict[str, int]:
        """{layers, d_model, heads} of the model (what the activation-memory estimate needs)."""
        cfg = self.model.config
        return {"layers": int(cfg.num_hidden_layers), "d_model": int(cfg.hidden_size),
                "heads": int(cfg.num_attention_heads)}

    def label_names(self) -> list[str]:
        """A classifier's class names, in logit order ("class i" where the config names none);
        [] for a model that is not a classifier. The one place that reads `id2label`."""
        if self.kind != "classifier":
            return []
        config = self.model.config
        id2label = dict(getattr(config, "id2label", None) or {})
        return [str(id2label.get(i, f"class {i}")) for i in range(int(config.num_labels))]
