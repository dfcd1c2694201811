"""Turn (adapter, encoded text, target, baseline) into a `Problem`: the forward function
over word embeddings, the input and baseline embeddings, and a batch size for the memory
budget. The adapter is used through its small surface (input_embeddings, forward_embeds,
token_id, pool), so any text adapter that has these works."""
from __future__ import annotations

import torch

from ...types import InputError
from .base import Problem
from .targets import Target

BASELINES = {
    "pad": "every token replaced by [PAD] (special tokens kept)",
    "mask": "every token replaced by [MASK] (special tokens kept)",
    "zero": "every token's word embedding set to zero (special tokens kept)",
}
MAX_BATCH = 256


def baseline_embeddings(adapter, enc, inputs: torch.Tensor, baseline: str) -> torch.Tensor:
    """[1, token, d_model] baseline; special positions hold the input's own embedding."""
    if baseline not in BASELINES:
        raise InputError(f"Unknown baseline {baseline!r}; choose one of: {', '.join(BASELINES)}.")
    if baseline == "zero":
        base = torch.zeros_like(inputs)                                # [1, token, d_model]
    else:
        tid = adapter.token_id(baseline)
        if tid is None:
            raise InputError(f"{adapter.name}'s tokenizer has no {baseline} token; "
                             "use baseline='zero' (or another one it has).")
        ids = torch.full_like(enc.inputs["input_ids"], tid)             # [1, token]
        with torch.no_grad():
            base = adapter.input_embeddings()(ids)                      # [1, token, d_model]
    special = torch.as_tensor(enc.special, device=inputs.device)        # [token]
    return torch.where(special[None, :, None], inputs, base).detach()   # [1, token, d_model]


def batch_for_memory(config, n_tokens: int, memory_mb: float) -> int:
    """Items per forward+backward within `memory_mb`: a rough count of the activations
    autograd keeps per item (hidden states and MLP ~20 d_model per token per layer, the
    attention scores and probabilities ~4 per head per query-key pair), float32."""
    d = config.hidden_size
    per_item = 4 * config.num_hidden_layers * (20 * n_tokens * d
                                                + 4 * config.num_attention_heads * n_tokens ** 2)
    return int(max(1, min(MAX_BATCH, memory_mb * 2 ** 20 // per_item)))


def build_problem(adapter, enc, target: Target, baseline: str = "pad",
                  memory_mb: float = 1024) -> Problem:
    """A Problem for one encoded text; `target` must be prepared (see Target.prepare)."""
    mask = enc.inputs["attention_mask"]                                 # [1, token]

    def forward(embeds: torch.Tensor) -> torch.Tensor:                  # [batch, token, d] -> [batch]
        outputs = adapter.forward_embeds(embeds, enc)
        return target.score(adapter, outputs, mask.expand(embeds.shape[0], -1))

    with torch.no_grad():
        inputs = adapter.input_embeddings()(enc.inputs["input_ids"]).detach()  # [1, token, d_model]
        baselines = baseline_embeddings(adapter, enc, inputs, baseline)
        f_in, f_base = forward(torch.cat([inputs, baselines])).tolist()  # 2 values
    n = inputs.shape[1]
    return Problem(forward=forward, inputs=inputs, baselines=baselines,
                   special=torch.as_tensor(enc.special, device=inputs.device),
                   f_input=f_in, f_baseline=f_base,
                   batch_size=batch_for_memory(adapter.model.config, n, memory_mb))
