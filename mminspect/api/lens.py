"""Layer-by-layer predictions (the logit lens): what the model would output if it stopped
after each layer."""
from __future__ import annotations

import torch

from ..models.base import Encoded, Internals
from ..models.families import clean_token
from ..types import LogitLens
from .adapters import as_text_adapter

LENS_KINDS = ("masked_lm", "causal_lm")


@torch.no_grad()
def lens_from(adapter, enc: Encoded, internals: Internals, top_k: int = 5) -> LogitLens:
    """The logit lens from a forward pass already made (`adapter.internals(enc)`)."""
    adapter.require_lens()
    n = internals.hidden.shape[0]                                  # layers + 1
    final = internals.logits.argmax(-1)                            # [token]
    probs, tokens, ranks = [], [], []
    for layer in range(n):
        logits = adapter.lens_logits(internals.hidden[layer], layer).float()  # [token, vocab]
        p = torch.softmax(logits, -1)                                          # [token, vocab]
        top = torch.topk(p, top_k, dim=-1)                                     # [token, k]
        probs.append(top.values)
        pieces = adapter.pieces(top.indices.flatten().tolist())
        names = [clean_token(t, adapter.model_type) for t in pieces]
        tokens.append([names[i * top_k:(i + 1) * top_k] for i in range(len(enc.tokens))])
        own = logits.gather(-1, final[:, None])                                # [token, 1]
        ranks.append((logits > own).sum(-1))                                   # [token]
    return LogitLens(tokens=enc.tokens, layer_names=["embeddings"] + [f"layer {i}" for i in range(n - 1)],
                     top_tokens=tokens, top_probs=torch.stack(probs).cpu().numpy(),
                     final_rank=torch.stack(ranks).cpu().numpy(),
                     head="MLM head" if adapter.kind == "masked_lm" else "unembedding")


def logit_lens(model, text: str, top_k: int = 5) -> LogitLens:
    """Each layer's residual stream through the model's final norm and output head: top-k
    tokens per layer and position, and the rank of the final top token at every layer."""
    adapter = as_text_adapter(model)
    adapter.require_lens()                       # refuse before running the model
    enc = adapter.encode(text)
    return lens_from(adapter, enc, adapter.internals(enc), top_k)


def why_no_lens(name: str, kind: str) -> str:
    """Why a model has no layer-by-layer view, in a student's words (one sentence each)."""
    if kind == "embedding":
        return (f"{name} is a sentence encoder: it was trained to give one vector per sentence, "
                "and it ships without the masked-language-model head that turns a layer's "
                "vectors into words. Without that head there is no vocabulary to read each "
                "layer in, and it cannot be rebuilt offline (its files hold the encoder only). "
                "Pick a masked or causal language model (e.g. bert-base-uncased, gpt2) where "
                "the hub is reachable.")
    if kind == "classifier":
        return (f"{name} is a classifier: its head scores a few classes, not words, so there is "
                "no vocabulary to read each layer in. Pick a masked or causal language model.")
    return f"{name} has no output head over a vocabulary: the logit lens needs one."
