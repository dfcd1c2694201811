"""Image-text benchmark section (run by `python -m mminspect.bench`; alone:
`python -m mminspect.bench --only clip`).

On open_clip ViT-B-32 with random weights (the real architecture and cost), one image and 8
prompts:
- ours (`relevance_batched`: one image forward, the 8 prompts' gradients w.r.t. the attention
  maps only as one batched vector-Jacobian product, one text forward per prompt and one
  backward for all texts) vs the published per-prompt recipe
  (`relevance_per_prompt`: a forward and a full backward of both towers per prompt), measured
  in the same run, alternating, so shared-CPU load hits both alike; and the largest difference
  between their maps;
- `explain_prompts` alone (8 relevance maps + word relevance + 8 similarity maps; not the
  prediction, attention and embedding panels of an Inspect click), p50;
- the same call on the shipped mini-CLIP.
"""
from __future__ import annotations

import os
import statistics
import time

import numpy as np
import torch

import mminspect as mi

from ..explain.relevance import relevance_batched, relevance_per_prompt
from ..models import load

PROMPTS = [f"a photo of {w}" for w in ("an astronaut", "a cat", "a rocket", "a cup of coffee",
                                        "a motorcycle", "a flag", "a dog", "a city at night")]


def sample_image() -> np.ndarray:
    """The astronaut photo scikit-image ships (a requirement: no silent stand-in image)."""
    from skimage import data
    return data.astronaut()                                           # [512, 512, 3] uint8


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def speedup(model, image, rounds: int) -> dict:
    px = model.preprocess([image])
    encs = [model.tokenize(p) for p in PROMPTS]
    ours_r, ref_r = relevance_batched(model, px, encs), relevance_per_prompt(model, px, encs)  # warm-up
    diff = max(float(np.abs(ours_r.image - ref_r.image).max()),
               max(float(np.abs(a - b).max()) for a, b in zip(ours_r.text, ref_r.text)))
    scale = float(np.abs(ref_r.image).max())
    ours, copies, ref = [], [], []
    for _ in range(rounds):                                 # alternate: the same load for all
        ours.append(timed(lambda: relevance_batched(model, px, encs)))
        copies.append(timed(lambda: relevance_batched(model, px, encs, strategy="copies")))
        ref.append(timed(lambda: relevance_per_prompt(model, px, encs)))
    o, c, r = statistics.median(ours), statistics.median(copies), statistics.median(ref)
    return {"ours_s": o, "per_prompt_s": r, "ratio": r / o, "copies_s": c, "copies_ratio": r / c,
            "max_abs_diff": diff,
            "relative_diff": diff / max(scale, 1e-12), "rounds": rounds}


def explain_prompts_p50(model, image, repeats: int) -> float:
    mi.explain_prompts(model, image, PROMPTS)                            # warm-up
    return statistics.median(timed(lambda: mi.explain_prompts(model, image, PROMPTS))
                             for _ in range(repeats))


def run(repeats: int) -> dict:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_grad_enabled(True)
    image = sample_image()
    load_before = os.getloadavg()[0]
    vit = load("open_clip:ViT-B-32/random")
    sp = speedup(vit, image, rounds=max(3, min(repeats, 7)))
    panel = explain_prompts_p50(vit, image, max(3, min(repeats, 10)))
    mini_panel = explain_prompts_p50(load("miniclip"), image, max(5, min(repeats, 30)))
    load_after = os.getloadavg()[0]
    checks = [
        ("clip: ours / per-prompt recipe time (8 maps)", 1 / sp["ratio"], 1 / 3,
         f"{sp['ratio']:.2f}x faster: {sp['ours_s']:.2f} s vs {sp['per_prompt_s']:.2f} s "
         f"(ViT-B-32, median of {sp['rounds']})"),
        ("clip: max |ours - per-prompt| / max map", sp["relative_diff"], 1e-5,
         f"max abs diff {sp['max_abs_diff']:.2e}"),
        ("clip: explain_prompts p50, ViT-B-32, 8 prompts (s)", panel, 2.0,
         "relevance + similarity maps: 8 relevance + word maps + 8 similarity maps"),
        ("clip: explain_prompts p50, mini-CLIP, 8 prompts (ms)", 1e3 * mini_panel, 150.0,
         "the same call, shipped weights"),
    ]
    return {"checks": checks, "speedup": sp, "explain_prompts_vit_b32_s": panel,
            "explain_prompts_miniclip_ms": 1e3 * mini_panel,
            "load_average": [load_before, load_after], "threads": torch.get_num_threads()}
