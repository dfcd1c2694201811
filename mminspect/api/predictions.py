"""The prediction of a task model, read from the logits of the inspection's forward pass:
class probabilities, [MASK] fillers, next tokens and a greedy continuation."""
from __future__ import annotations

import torch

from ..models import TextAdapter
from ..models.base import Encoded, Internals
from ..models.families import clean_token
from ..types import TextPrediction, TokenChoices


def _choices(adapter: TextAdapter, logits: torch.Tensor, position: int, k: int) -> TokenChoices:
    """Top-k of softmax(logits) at one position. logits: [vocab]."""
    probs = torch.softmax(logits.float(), -1)                       # [vocab]
    top = torch.topk(probs, min(k, probs.numel()))
    ids = top.indices.tolist()
    tokens = [clean_token(t, adapter.model_type) for t in adapter.pieces(ids)]
    return TokenChoices(position=position, tokens=tokens, ids=ids, probs=top.values.cpu().numpy())


@torch.no_grad()
def _continue_ids(adapter: TextAdapter, enc: Encoded, n: int) -> list[int]:
    """Ids of the greedy continuation (n tokens, fewer if the context fills up)."""
    ids = enc.inputs["input_ids"]                                    # [1, token]
    n = min(n, adapter.max_tokens - ids.shape[1])
    if n <= 0:
        return []
    return adapter.generate(enc, n)


def _continue(adapter: TextAdapter, enc: Encoded, n: int) -> str | None:
    """Greedy continuation of n tokens as text; None when the text already fills the context."""
    if enc.inputs["input_ids"].shape[1] + n > adapter.max_tokens:
        return None
    return adapter.decode(_continue_ids(adapter, enc, n), skip_special_tokens=True)


def task_prediction(adapter: TextAdapter, enc: Encoded, inner: Internals, notes: list[str],
                    top_k: int = 5, n_continue: int = 8) -> TextPrediction:
    kind = adapter.kind
    if kind == "classifier":
        logits = inner.logits.float()                                # [class]
        labels = adapter.label_names()
        return TextPrediction(kind=kind, labels=labels, label_scores=logits.cpu().numpy(),
                              label_probs=torch.softmax(logits, -1).cpu().numpy(), temperature=1.0)
    if kind == "masked_lm":
        ids = enc.inputs["input_ids"][0]                             # [token]
        positions = (ids == adapter.token_id("mask")).nonzero().flatten().tolist()
        if not positions:
            notes.append(f"Put {adapter.special_token('mask')} in the text to see what the model "
                         "would fill in.")
        fills = [_choices(adapter, inner.logits[p], p, top_k) for p in positions]
        return TextPrediction(kind=kind, fills=fills)
    # causal_lm: the next token after the last one
    last = inner.logits.shape[0] - 1
    return TextPrediction(kind=kind, fills=[_choices(adapter, inner.logits[last], last, top_k)],
                          continuation=_continue(adapter, enc, n_continue))
