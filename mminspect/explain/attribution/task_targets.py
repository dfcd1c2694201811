"""Targets for models with their own head: a class of a classifier, the filler of a [MASK],
the next token of a decoder. Each knows its position and token only once it sees the
encoded text, so it is completed by `bind(adapter, enc)` (the model's own top choice when
the caller names none)."""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from ...models.families import clean_token
from ...types import InputError
from .targets import Target, _short

OUTPUTS = ("logit", "prob", "log_prob")


def _check_output(output: str) -> None:
    if output not in OUTPUTS:
        raise InputError(f"output must be one of {OUTPUTS}, got {output!r}.")


def _reduce(logits: torch.Tensor, index: int, output: str) -> torch.Tensor:
    """logits [batch, n] -> [batch]: the raw logit, the probability or its log at `index`."""
    if output == "logit":
        return logits[:, index]
    logp = torch.log_softmax(logits, -1)[:, index]                  # [batch]
    return logp.exp() if output == "prob" else logp


def token_id_of(adapter, token: str) -> int:
    """The vocabulary id of one token, typed as shown ("Paris", " Paris", "##ing")."""
    vocab = adapter.vocab()
    candidates = [token, token.strip(), " " + token.strip()]
    for cand in candidates:                                         # display form -> raw piece
        for raw in (cand, cand.replace(" ", "Ġ"), cand.replace(" ", "▁")):
            if raw in vocab:
                return vocab[raw]
    pieces = adapter.word_pieces(token)
    if len(pieces) == 1:
        return vocab[pieces[0]]
    shown = [clean_token(p, adapter.model_type) for p in pieces]
    raise InputError(f"{token!r} is not one token for {adapter.name}: it splits into {shown}. "
                     "Choose a single token (e.g. the first piece).")


def _own_logits(adapter, enc) -> torch.Tensor:
    return adapter.run(enc).logits[0]


@dataclass(frozen=True)
class ClassTarget(Target):
    """A classifier's logit (or probability) for `label`; default: the predicted class."""

    label: str | None = None
    output: str = "logit"
    index: int | None = None
    kinds = ("classifier",)

    def bind(self, adapter, enc) -> ClassTarget:
        _check_output(self.output)
        names = adapter.label_names()
        if self.label is None:
            index = int(_own_logits(adapter, enc).argmax())
        elif str(self.label) in names:
            index = names.index(str(self.label))
        else:
            raise InputError(f"{self.label!r} is not a class of {adapter.name}; its classes: {names}.")
        return replace(self, label=names[index], index=index)

    def score(self, adapter, outputs, mask):
        return _reduce(outputs.logits, self.index, self.output)    # [batch]

    def describe(self) -> str:
        return f"{self.output.replace('_', ' ')} of class “{_short(str(self.label), 30)}”"


@dataclass(frozen=True)
class MaskFillTarget(Target):
    """The probability (or log-probability) that the `mask`-th [MASK] is filled by `token`;
    default: the model's top filler."""

    token: str | None = None
    mask: int = 0
    output: str = "prob"
    position: int | None = None
    token_index: int | None = None
    kinds = ("masked_lm",)

    def bind(self, adapter, enc) -> MaskFillTarget:
        _check_output(self.output)
        ids = enc.inputs["input_ids"][0]                            # [token]
        positions = (ids == adapter.token_id("mask")).nonzero().flatten().tolist()
        if not positions:
            raise InputError(f"Put {adapter.special_token('mask')} in the text: the target is "
                             "the probability of a filler at a mask.")
        if not 0 <= self.mask < len(positions):
            raise InputError(f"The text has {len(positions)} masks; mask={self.mask} is out of range.")
        pos = positions[self.mask]
        tid = (int(_own_logits(adapter, enc)[pos].argmax()) if self.token is None
               else token_id_of(adapter, self.token))
        shown = clean_token(adapter.pieces(tid), adapter.model_type)
        return replace(self, position=pos, token_index=tid, token=shown)

    def score(self, adapter, outputs, mask):
        return _reduce(outputs.logits[:, self.position], self.token_index, self.output)

    def describe(self) -> str:
        return (f"{self.output.replace('_', ' ')} of “{self.token}” at [MASK] "
                f"#{self.mask + 1} (position {self.position})")


@dataclass(frozen=True)
class NextTokenTarget(Target):
    """A decoder's log-probability (or probability) that `token` comes next; default: its
    top next token."""

    token: str | None = None
    output: str = "log_prob"
    token_index: int | None = None
    kinds = ("causal_lm",)

    def bind(self, adapter, enc) -> NextTokenTarget:
        _check_output(self.output)
        tid = (int(_own_logits(adapter, enc)[-1].argmax()) if self.token is None
               else token_id_of(adapter, self.token))
        shown = clean_token(adapter.pieces(tid), adapter.model_type)
        return replace(self, token_index=tid, token=shown)

    def score(self, adapter, outputs, mask):
        return _reduce(outputs.logits[:, -1], self.token_index, self.output)   # [batch]

    def describe(self) -> str:
        return f"{self.output.replace('_', ' ')} of the next token “{self.token}”"


# target name -> class, and the default target for each model kind without a second text
TASK_TARGETS = {"class": ClassTarget, "mask_fill": MaskFillTarget, "next_token": NextTokenTarget}
DEFAULT_FOR_KIND = {"classifier": "class", "masked_lm": "mask_fill", "causal_lm": "next_token"}
