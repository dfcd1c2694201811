"""Where models run: CUDA, then Apple's MPS, then the CPU, unless MMINSPECT_DEVICE says."""
from __future__ import annotations

import os

import torch


def choose_device(requested: str | None = None) -> torch.device:
    name = requested or os.environ.get("MMINSPECT_DEVICE")
    if name:
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
