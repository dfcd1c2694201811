"""Hugging Face ZeroGPU support: `@gpu` is `spaces.GPU` on a ZeroGPU Space (a GPU is attached
for the duration of the call) and does nothing anywhere else."""
from __future__ import annotations

try:  # the `spaces` package exists only on Hugging Face Spaces
    import spaces
except ImportError:  # pragma: no cover - depends on the host
    spaces = None


def gpu(fn):
    return spaces.GPU(fn) if spaces is not None else fn
