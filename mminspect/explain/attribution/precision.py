"""The float type of the forward-only work: perturbation and surrogate methods (Feature
Ablation, Occlusion, LIME, KernelSHAP) and the deletion / insertion curves.

Why: those methods are hundreds of plain forwards (n tokens -> ~n forwards of n tokens), so
at 256 tokens they are bound by arithmetic. Where the hardware multiplies bfloat16 natively
(Intel AMX / AVX512-BF16 CPUs, recent GPUs) autocast runs the same forwards ~3x faster
(measured: MiniLM, 256 tokens, 2 cores with AMX: 20 -> 7 ms per item) and the maps agree
with float32 closely (docs/attributions.md, "Precision": Spearman >= 0.99). Gradient
methods always stay float32: their completeness check compares sums of gradients against
f(input) - f(baseline), and that is the number users trust.

    dtype = resolve_precision("auto", device)      # torch.bfloat16 or None (= float32)
    fast = in_precision(problem, dtype)            # same problem, forwards under autocast
"""
from __future__ import annotations

import time
from dataclasses import replace

import torch

from ...types import InputError
from .base import Problem

PRECISIONS = {
    "auto": "bfloat16 for forward-only work where the hardware runs it natively, else float32",
    "float32": "float32 everywhere (exact; ~3x slower for perturbation methods on AMX CPUs)",
    "bfloat16": "bfloat16 for forward-only work (perturbation, surrogate, curves) everywhere",
}


def native_bf16(device: torch.device) -> bool:
    """Does this device multiply bfloat16 matrices natively (so autocast is faster, not
    slower)? CPUs without AMX / AVX512-BF16 emulate it, which is slower than float32."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        # private but stable probes (torch.cpu); absent -> assume no native support
        probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
        return any(getattr(torch.cpu, name, lambda: False)() for name in probes)
    return False


def check_precision(precision: str) -> str:
    """The name, or an InputError listing the choices (checked before any model work)."""
    if precision not in PRECISIONS:
        raise InputError(f"Unknown precision {precision!r}; choose one of: "
                         f"{', '.join(PRECISIONS)}.")
    return precision


def resolve_precision(precision: str, device: torch.device) -> torch.dtype | None:
    """The dtype forward-only work runs in (None = float32), or an InputError."""
    check_precision(precision)
    if precision == "float32" or (precision == "auto" and not native_bf16(device)):
        return None
    return torch.bfloat16


def in_precision(problem: Problem, dtype: torch.dtype | None) -> Problem:
    """`problem` with its forward run under autocast to `dtype` (results back in float32)
    and its per-item time measured again in that precision (the time budget must count what
    runs). f(input) and f(baseline) stay the model's float32 values: every method explains
    the same target, curves start and end at it, and a sum of scores is checked against it.
    dtype None: the problem itself."""
    if dtype is None:
        return problem
    device = problem.inputs.device.type
    exact = problem.forward

    def forward(embeds: torch.Tensor) -> torch.Tensor:                  # [batch, token, d] -> [batch]
        with torch.autocast(device, dtype=dtype):
            return exact(embeds).float()

    pair = torch.cat([problem.inputs, problem.baselines])               # [2, token, d_model]
    with torch.no_grad():
        forward(pair)                           # warm-up: the first call pays kernel setup
        start = time.perf_counter()
        forward(pair)
        unit_s = (time.perf_counter() - start) / 2
    return replace(problem, forward=forward, unit_s=unit_s, call_s=0.0)


def precision_note(dtype: torch.dtype | None, gradient_method: bool = False) -> list[str]:
    """What the user is told when part of a map's work ran in reduced precision (short: it
    shows under every such map; the evidence is in docs/attributions.md, 'Precision')."""
    if dtype is None:
        return []
    if gradient_method:
        return ["Its deletion / insertion curves ran in bfloat16 (about 3x faster on this "
                "hardware); the map itself is float32."]
    return ["Computed in bfloat16, about 3x faster on this hardware; such maps rank tokens "
            "like float32 ones (Spearman 0.99 or more on 250-token texts). Exact values: "
            "precision='float32' in the library, MMINSPECT_PRECISION=float32 for a host."]
