"""Targets: the one number per input that an attribution explains.

A target maps a forward pass to a scalar per batch item: `score(adapter, outputs, mask)`
-> [batch]. `prepare(adapter)` computes what does not depend on the attributed text (the
second text's embedding, the label embeddings) once, without gradients, and returns a ready
copy, so a target holds no state between requests. Later targets (a class logit, the
probability at a [MASK], the next-token log-probability of a decoder) are new subclasses
here; callers do not change.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, replace

import torch

from ...types import InputError

EMBEDDING_KINDS = ("embedding",)


class Target(ABC):
    kinds: tuple[str, ...] = EMBEDDING_KINDS   # adapter kinds this target reads

    def check(self, adapter) -> None:
        if adapter.kind not in self.kinds:
            raise InputError(f"{adapter.name} is a {adapter.kind} model; the target "
                             f"'{self.describe()}' needs one of: {', '.join(self.kinds)}.")

    def prepare(self, adapter) -> Target:
        return self

    def bind(self, adapter, enc) -> Target:
        """Complete the target for one encoded text (a [MASK]'s position, the model's own
        top choice...). Targets that need nothing from the text return themselves."""
        return self

    @abstractmethod
    def score(self, adapter, outputs, mask: torch.Tensor) -> torch.Tensor:
        """outputs: the model's output object for a batch; mask: [batch, token] -> [batch]."""

    @abstractmethod
    def describe(self) -> str:
        """Short words for people: what the number is."""


def _short(text: str, n: int = 40) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


@dataclass(frozen=True)
class SimilarityTarget(Target):
    """Cosine similarity of the text's sentence embedding to `compare_to`'s."""

    compare_to: str
    reference: torch.Tensor | None = None     # [d_model], unit length, set by prepare()

    def prepare(self, adapter) -> SimilarityTarget:
        if not isinstance(self.compare_to, str) or not self.compare_to.strip():
            raise InputError("The similarity target needs a second text (compare_to=...).")
        adapter.encode(self.compare_to)          # same checks (empty, too long) as the text
        ref = torch.from_numpy(adapter.embed([self.compare_to])[0]).to(adapter.device)  # [d_model]
        return replace(self, reference=torch.nn.functional.normalize(ref, dim=-1))

    def score(self, adapter, outputs, mask):
        emb = adapter.pool(outputs.last_hidden_state, mask)           # [batch, d_model]
        return torch.nn.functional.cosine_similarity(emb, self.reference[None], dim=-1)  # [batch]

    def describe(self) -> str:
        return f"cosine similarity to “{_short(self.compare_to)}”"


@dataclass(frozen=True)
class ZeroShotTarget(Target):
    """The zero-shot score of `label` against the other labels: its log-odds,
    log p(label) - log(1 - p(label)), where p = softmax(cosine to each label / temperature).
    Log-odds rather than p: it does not saturate near 0 or 1, so attributions stay readable,
    and with two labels it is simply the difference of the scaled cosines."""

    labels: tuple[str, ...]
    label: str
    temperature: float = 0.05
    references: torch.Tensor | None = None    # [label, d_model], unit length

    def prepare(self, adapter) -> ZeroShotTarget:
        labels = tuple(dict.fromkeys(str(x).strip() for x in self.labels if str(x).strip()))
        if len(labels) < 2:
            raise InputError("The zero-shot target needs at least two labels, to score one "
                             f"against the others; got {list(labels)}.")
        if self.label not in labels:
            raise InputError(f"The label to explain, {self.label!r}, is not among the labels {list(labels)}.")
        if not 0 < self.temperature <= 10:
            raise InputError(f"temperature must be in (0, 10], got {self.temperature}.")
        refs = torch.from_numpy(adapter.embed(list(labels))).to(adapter.device)   # [label, d_model]
        return replace(self, labels=labels, references=torch.nn.functional.normalize(refs, dim=-1))

    def score(self, adapter, outputs, mask):
        emb = torch.nn.functional.normalize(adapter.pool(outputs.last_hidden_state, mask), dim=-1)
        logits = emb @ self.references.T / self.temperature           # [batch, label]
        i = self.labels.index(self.label)
        others = torch.cat([logits[:, :i], logits[:, i + 1:]], dim=1)  # [batch, label - 1]
        return logits[:, i] - torch.logsumexp(others, dim=1)           # [batch]

    def describe(self) -> str:
        others = ", ".join(x for x in self.labels if x != self.label)
        return f"zero-shot log-odds of “{_short(self.label, 30)}” against {_short(others, 50)}"
