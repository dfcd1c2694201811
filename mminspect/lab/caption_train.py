"""Train the cross-attention captioner:  python -m mminspect.lab.caption_train --out DIR

Writes DIR/caption.safetensors and DIR/caption_card.json (config, vocabulary, recipe, seeds,
held-out figures, timing, limits, provenance, the weights' SHA-256 the loader checks). The
shipped model is `--out assets/fusion` with the defaults below.

Data: the concatenation model's pool recipe (`fusion_train.build_pool`: mini-CLIP 2's world,
1-3 objects, exact masks) and mini-CLIP 2's frozen image tower run once over the pool. A
caption is drawn fresh for each scene at every step (`fusion.words.caption`: every object
named, in a random order, positions and relations sometimes), so the decoder learns to name
every object rather than one memorised sentence. Loss: next-word cross-entropy, [END] included;
`--object-weight W` counts each naming word (colour, shape, thing) and [END] W times in the
mean (W = 1: the plain mean), because a missed or wrong object is one of those few words among
many easy glue words ("a", "and").
AdamW, warm-up then cosine; one CPU thread by default (the CI machine is shared), float32.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from ..fusion import words as W
from ..fusion.caption import END, START, CaptionConfig, CaptionModel, caption_ids, caption_loss, caption_vocabulary
from ..fusion.model import count_params
from .fusion_train import build_pool, load_tower, pool_patches
from .miniclip_train import lr_at, make_optimizer
from .provenance import code_snapshot, provenance


@dataclass
class CaptionTrainConfig:
    seed: int = 0                # torch initialisation
    data_seed: int = 11          # pool, captions, batch order (held-out evaluation: 5200-5203)
    pool: int = 12000
    steps: int = 3000
    batch: int = 128
    lr: float = 2e-3
    warmup: int = 100
    weight_decay: float = 0.05
    object_weight: float = 1.0   # weight of naming words and [END] in the loss (1: plain mean)
    threads: int = 1
    device: str = "cpu"
    model: CaptionConfig = field(default_factory=lambda: CaptionConfig(vocab_size=len(caption_vocabulary())))


def make_batch(cfg: CaptionTrainConfig, pool, step: int):
    """Step `step`'s rows: (pool index [row], input ids [row, word], targets [row, word],
    loss weights [row, word])."""
    rng = np.random.default_rng([cfg.data_seed, 2, step])
    idx = rng.choice(len(pool.images), cfg.batch, replace=False)
    caps = [W.caption(pool.things[i], rng) for i in idx]
    seqs = [[START, *c.tokens, END] for c in caps]
    n = max(len(s) for s in seqs) - 1
    if n > cfg.model.max_words:
        raise ValueError(f"a caption of {n} tokens; the captioner reads at most {cfg.model.max_words}")
    ids = torch.zeros(len(seqs), n, dtype=torch.long)                    # [PAD] is id 0
    targets = torch.full((len(seqs), n), -1, dtype=torch.long)
    weights = torch.zeros(len(seqs), n)
    for r, (s, c) in enumerate(zip(seqs, caps)):
        sid = caption_ids(s)
        ids[r, :len(s) - 1] = torch.tensor(sid[:-1])
        targets[r, :len(s) - 1] = torch.tensor(sid[1:])
        named = [role is not None for role in c.roles] + [True]           # the targets; [END] last
        weights[r, :len(s) - 1] = torch.tensor([cfg.object_weight if k else 1.0 for k in named])
    return torch.from_numpy(idx), ids, targets, weights


def weighted_loss(logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Cross-entropy averaged with per-token weights (padding has weight 0)."""
    ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1).clamp(min=0),
                         reduction="none")
    w = weights.reshape(-1) * (targets.reshape(-1) >= 0)
    return (ce * w).sum() / w.sum()


def train(cfg: CaptionTrainConfig, log=print, every: int = 50, evaluate_every=None):
    t0 = time.time()
    torch.manual_seed(cfg.seed)
    model = CaptionModel(cfg.model)
    tower = load_tower(model)
    log(f"captioner: {count_params(model, trainable=True):,} trained parameters (+ the frozen tower), "
        f"{cfg.steps} steps x {cfg.batch} captions")
    pool = build_pool(cfg, log)
    feats = pool_patches(model, pool, log)                               # [scene, patch, embed]
    model.to(cfg.device)
    t_pool = time.time() - t0
    opt = make_optimizer(model, cfg)
    model.train()
    history = []
    for step in range(cfg.steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(cfg, step)
        rows, ids, targets, weights = make_batch(cfg, pool, step)
        logits = model(None, ids.to(cfg.device), patches=feats[rows].to(cfg.device))[0]
        if cfg.object_weight == 1.0:                    # the shipped recipe's loss, bit for bit
            loss = caption_loss(logits, targets.to(cfg.device))
        else:
            loss = weighted_loss(logits, targets.to(cfg.device), weights.to(cfg.device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        history.append({"loss": loss.item()})
        if step % every == 0 or step == cfg.steps - 1:
            recent = np.mean([h["loss"] for h in history[-every:]])
            log(f"step {step + 1:5d}/{cfg.steps}  loss {recent:.3f}  {time.time() - t0:5.0f}s"
                + (f"  {evaluate_every(model)}" if evaluate_every and step % (10 * every) == 0 else ""))
    model.eval().cpu()
    return model, {"history": history, "seconds": time.time() - t0, "pool_seconds": t_pool,
                   "tower": tower}


WEIGHTS, CARD = "caption.safetensors", "caption_card.json"
CODE = ("mminspect/lab/caption_train.py", "mminspect/lab/caption_eval.py",
        "mminspect/lab/caption_card.py", "mminspect/lab/caption_recard.py", "mminspect/lab/fusion_train.py",
        "mminspect/lab/miniclip_train.py", "mminspect/fusion", "mminspect/miniclip")


def parse(args: list[str]) -> tuple[argparse.Namespace, CaptionTrainConfig]:
    """The command line -> (its arguments, the run's config); every option defaults to the
    shipped recipe."""
    d = CaptionTrainConfig()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ints = {"seed": d.seed, "data_seed": d.data_seed, "pool": d.pool, "steps": d.steps,
            "batch": d.batch, "threads": d.threads, "width": d.model.width, "depth": d.model.depth}
    for name, default in ints.items():
        ap.add_argument("--" + name.replace("_", "-"), type=int, default=default)
    ap.add_argument("--lr", type=float, default=d.lr)
    ap.add_argument("--warmup", type=int, default=d.warmup)
    ap.add_argument("--object-weight", type=float, default=d.object_weight,
                    help="weight of naming words (colour, shape, thing) and [END] in the loss")
    ap.add_argument("--device", default=d.device)
    ap.add_argument("--eval", type=int, default=200, metavar="N",
                    help="evaluate on N held-out scenes per figure (0: skip)")
    ap.add_argument("--monitor", type=int, default=40, metavar="N",
                    help="log held-out figures on N scenes every 500 steps (0: off; only logged)")
    ap.add_argument("--out", type=Path, required=True,
                    help="a folder for the weights and card (the shipped one: assets/fusion)")
    a = ap.parse_args(args)
    model = CaptionConfig(vocab_size=len(caption_vocabulary()), width=a.width, depth=a.depth)
    run = {k: getattr(a, k) for k in ("seed", "data_seed", "pool", "steps", "batch", "lr", "warmup",
                                      "object_weight", "threads", "device")}
    return a, CaptionTrainConfig(**run, model=model)


def main(argv: list[str] | None = None) -> None:
    from safetensors.torch import save_file
    from .caption_card import model_card
    from .caption_eval import evaluate, format_metrics
    args = sys.argv[1:] if argv is None else list(argv)
    a, cfg = parse(args)
    torch.set_num_threads(a.threads)
    at_start = code_snapshot(CODE)

    def monitor(m):                          # only printed: nothing is chosen by these figures
        line = format_metrics(evaluate(m, a.monitor)).replace("\n", " |")
        m.train()
        return line

    model, hist = train(cfg, lambda line: print(line, flush=True), evaluate_every=monitor if a.monitor else None)
    a.out.mkdir(parents=True, exist_ok=True)
    weights = a.out / WEIGHTS
    save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(weights),
              metadata={"format": "pt"})
    print(f"trained in {hist['seconds']:.0f}s; config {asdict(cfg)}", flush=True)
    t_eval = time.time()
    metrics = evaluate(model, a.eval) if a.eval else None
    hist["eval_seconds"] = time.time() - t_eval
    if metrics:
        print(format_metrics(metrics), flush=True)
    prov = provenance("mminspect.lab.caption_train", args, params=asdict(cfg), code=CODE, at_start=at_start)
    (a.out / CARD).write_text(json.dumps(model_card(cfg, model, hist, metrics, weights, prov),
                                         indent=2, default=str) + "\n")
    print(f"wrote {weights} and {CARD} beside it", flush=True)


if __name__ == "__main__":
    main()
