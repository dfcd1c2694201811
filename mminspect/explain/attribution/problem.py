"""Turn (adapter, encoded text, target, baseline) into a `Problem`: the forward function
over word embeddings, the input and baseline embeddings, and a batch size for the memory
budget. The adapter is used through its small surface (input_embeddings, forward_embeds,
token_id, pool), so any text adapter that has these works."""
from __future__ import annotations

import time
from dataclasses import replace

import torch

from ...types import InputError
from .base import Problem
from .guard import Guard
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


def item_bytes(sizes: dict[str, int], n_tokens: int) -> int:
    """Activation bytes autograd keeps for one item of a forward+backward: a rough count
    (hidden states and MLP ~20 d_model per token per layer, the attention scores and
    probabilities ~4 per head per query-key pair), float32. sizes: TextAdapter.sizes()."""
    return 4 * sizes["layers"] * (20 * n_tokens * sizes["d_model"]
                                  + 4 * sizes["heads"] * n_tokens ** 2)


def batch_for_memory(sizes: dict[str, int], n_tokens: int, memory_mb: float) -> int:
    """Items per forward+backward within `memory_mb` (at least one; the api refuses a
    gradient method whose single item is over the budget)."""
    return int(max(1, min(MAX_BATCH, memory_mb * 2 ** 20 // item_bytes(sizes, n_tokens))))


def build_problem(adapter, enc, target: Target, baseline: str = "pad",
                  memory_mb: float = 1024, guard: Guard | None = None) -> Problem:
    """A Problem for one encoded text; `target` must be prepared (see Target.prepare).

    Its forward calls `guard.check()` before every batch (stop / budget / progress). The
    forward that gives f(input) and f(baseline) is timed: `unit_s`, the seconds of one item
    at this length on this machine now, which the time budget multiplies by a count. It
    counts each call's fixed overhead as if it were per item, so it errs high for short
    texts; `calibrated()` separates the two when the estimate matters."""
    mask = enc.inputs["attention_mask"]                                 # [1, token]

    def forward(embeds: torch.Tensor) -> torch.Tensor:                  # [batch, token, d] -> [batch]
        if guard is not None:
            guard.check()
        outputs = adapter.forward_embeds(embeds, enc)
        return target.score(adapter, outputs, mask.expand(embeds.shape[0], -1))

    with torch.no_grad():
        inputs = adapter.input_embeddings()(enc.inputs["input_ids"]).detach()  # [1, token, d_model]
        baselines = baseline_embeddings(adapter, enc, inputs, baseline)
        start = time.perf_counter()
        f_in, f_base = forward(torch.cat([inputs, baselines])).tolist()  # 2 values
        unit_s = (time.perf_counter() - start) / 2
    n = inputs.shape[1]
    return Problem(forward=forward, inputs=inputs, baselines=baselines,
                   special=torch.as_tensor(enc.special, device=inputs.device),
                   f_input=f_in, f_baseline=f_base,
                   batch_size=batch_for_memory(adapter.sizes(), n, memory_mb),
                   unit_s=unit_s, guard=guard)


CALIBRATION_ITEMS = 8


@torch.no_grad()
def retimed(problem: Problem) -> Problem:
    """The problem with its 2-item forward timed again, the faster time kept: the first
    forward after a model loads can be several times slower (measured: 617 ms vs ~60 ms per
    item at 62 tokens), and one slow timing must not refuse a request."""
    start = time.perf_counter()
    problem.forward(problem.inputs.expand(2, -1, -1))
    return replace(problem, unit_s=min(problem.unit_s, (time.perf_counter() - start) / 2))


@torch.no_grad()
def calibrated(problem: Problem) -> Problem:
    """The problem with its cost split into a per-call overhead (`call_s`) and a per-item
    cost (`unit_s`), from two warm timings: 2 items and up to CALIBRATION_ITEMS items.

    Why: on a small or busy CPU a short text's forward is mostly fixed overhead (measured:
    200 ms for 2 items of 13 tokens, 78 ms per item in a batch of 16), so unit_s alone can
    overstate a batched method several times. Costs 2 + CALIBRATION_ITEMS forwards, so the
    budget runs it only when the first estimate is over."""
    m = min(problem.batch_size, CALIBRATION_ITEMS)
    if m <= 2:
        return problem
    times = []
    for k in (2, m):
        x = problem.inputs.expand(k, -1, -1)                            # [k, token, d_model]
        start = time.perf_counter()
        problem.forward(x)
        times.append(time.perf_counter() - start)
    t2, tm = times
    unit = max((tm - t2) / (m - 2), tm / m / 10)   # noise can make the slope tiny or negative
    return replace(problem, unit_s=unit, call_s=max(t2 - 2 * unit, 0.0))
