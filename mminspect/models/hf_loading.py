"""How every Hugging Face checkpoint is opened here, written once: eager attention (SDPA and
the other kernels return no attention weights, only a log line), float32 (transformers 5
defaults to the checkpoint's dtype, maybe half precision), safetensors only (pickle files can
run code when loaded) and no remote code (a prompt for it fails inside a worker thread)."""
from __future__ import annotations

import torch


def load_eager(model_class, path: str, device: torch.device) -> torch.nn.Module:
    """`model_class.from_pretrained(path)` with the settings above, on `device`, in eval mode."""
    return model_class.from_pretrained(
        path, attn_implementation="eager", dtype=torch.float32, trust_remote_code=False,
        use_safetensors=True).to(device).eval()
