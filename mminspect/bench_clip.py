"""Image-text benchmark section (`python -m mminspect.bench` runs `run`; alone:
`python -m mminspect.bench_clip --repeats 5`).

On open_clip ViT-B-32 with random weights (the real architecture and cost), one image and 8
prompts:
- ours (`relevance_batched`: one image forward, the 8 prompts' gradients w.r.t. the attention
  maps only as one batched vector-Jacobian product, one text forward per prompt and one
  backward for all texts) vs the published per-prompt recipe
  (`relevance_per_prompt`: a forward and a full backward of both towers per prompt), measured
  in the same run, alternating, so shared-CPU load hits both alike; and the largest difference
  between their maps;
- the whole panel, `explain_prompts` (8 relevance maps + word relevance + 8 similarity maps), p50;
- the same panel on mini-CLIP (the shipped weights, or random weights of the same shape).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np
import torch

PROMPTS = [f"a photo of {w}" for w in ("an astronaut", "a cat", "a rocket", "a cup of coffee",
                                        "a motorcycle", "a flag", "a dog", "a city at night")]


def sample_image() -> np.ndarray:
    try:
        from skimage import data
        return data.astronaut()                                       # [512, 512, 3] uint8
    except Exception:                                                  # noqa: BLE001 - data files optional
        return np.random.default_rng(0).integers(0, 256, (512, 512, 3), dtype=np.uint8)


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def miniclip_model():
    """The shipped mini-CLIP, or its default architecture with random weights until it ships."""
    from .models import load
    from .models.miniclip_adapter import CARD, MINICLIP_DIR, MiniCLIPAdapter, minilm_text_tower
    if (MINICLIP_DIR / CARD).is_file():
        return load("miniclip"), "shipped weights"
    from .miniclip.model import MiniCLIP
    from .miniclip.vit import ViTConfig
    torch.manual_seed(0)
    return (MiniCLIPAdapter.from_model(MiniCLIP(ViTConfig()).eval(), minilm_text_tower("cpu")),
            "random weights, default architecture (not shipped yet)")


def speedup(model, image, rounds: int) -> dict:
    from .explain.relevance import relevance_batched, relevance_per_prompt
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


def panel_p50(model, image, repeats: int) -> float:
    import mminspect as mi
    mi.explain_prompts(model, image, PROMPTS)                            # warm-up
    return statistics.median(timed(lambda: mi.explain_prompts(model, image, PROMPTS))
                             for _ in range(repeats))


def run(repeats: int) -> dict:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_grad_enabled(True)
    from .models import load
    image = sample_image()
    load_before = os.getloadavg()[0]
    vit = load("open_clip:ViT-B-32/random")
    sp = speedup(vit, image, rounds=max(3, min(repeats, 7)))
    panel = panel_p50(vit, image, max(3, min(repeats, 10)))
    mini, mini_label = miniclip_model()
    mini_panel = panel_p50(mini, image, max(5, min(repeats, 30)))
    load_after = os.getloadavg()[0]
    checks = [
        ("clip: ours / per-prompt recipe time (8 maps)", 1 / sp["ratio"], 1 / 3,
         f"{sp['ratio']:.2f}x faster: {sp['ours_s']:.2f} s vs {sp['per_prompt_s']:.2f} s "
         f"(ViT-B-32, median of {sp['rounds']})"),
        ("clip: max |ours - per-prompt| / max map", sp["relative_diff"], 1e-5,
         f"max abs diff {sp['max_abs_diff']:.2e}"),
        ("clip: panel p50, ViT-B-32, 8 prompts (s)", panel, 2.0,
         "8 relevance + word maps + 8 similarity maps"),
        ("clip: panel p50, mini-CLIP, 8 prompts (ms)", 1e3 * mini_panel, 150.0, mini_label),
    ]
    return {"checks": checks, "speedup": sp, "panel_vit_b32_s": panel,
            "panel_miniclip_ms": 1e3 * mini_panel, "miniclip": mini_label,
            "load_average": [load_before, load_after], "threads": torch.get_num_threads()}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    a = ap.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    out = run(a.repeats)
    for name, value, target, detail in out["checks"]:
        print(f"{name:<48}{value:>10.3g}{'≤' + format(target, '.3g'):>10}  "
              f"{'yes' if value <= target else 'NO ':<4} {detail}")
    print(json.dumps({k: v for k, v in out.items() if k != "checks"}, indent=1, default=float))


if __name__ == "__main__":
    main()
