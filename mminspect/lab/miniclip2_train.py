"""Train mini-CLIP 2 on its world (issue 15; work in progress: the recipe runs, the shipped
weights are still mini-CLIP 1):  python -m mminspect.lab.miniclip2_train --out DIR

What is new against mini-CLIP 1's recipe (`miniclip_train.py`, whose helpers this reuses):
- data: `miniclip.world` scenes (any background, 1-4 shapes or everyday objects anywhere,
  overlapping), pre-rendered once into a pool (a world scene costs ~10 ms to draw, too much
  to draw 256 per step on 2 cores);
- a **dense loss**: each object's patch tokens, weighted by how much of each patch its
  visible mask covers, are averaged and pulled towards the embedding of its own caption
  ("a bicycle", "a red star") against every other object in the batch (symmetric InfoNCE,
  identical captions are not negatives), so patch-text similarity should localise;
- **hard negatives**: where a scene has two shapes of different colours, the caption with
  the colours swapped is one more wrong text for that image (binding).
Loss = scene InfoNCE + `dense` x object InfoNCE (+ the hard negatives inside the first).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from ..miniclip.model import MiniCLIP, clip_loss, to_pixels
from ..miniclip.vit import ViTConfig, count_params
from ..miniclip.world import render_world
from ..miniclip.world_captions import object_captions, swapped_colours, world_caption
from ..models.miniclip_adapter import minilm_text_tower
from .miniclip_train import embed_captions, lr_at, make_optimizer


@dataclass
class Train2Config:
    seed: int = 0                # torch initialisation
    data_seed: int = 2           # pool of scenes, captions, batch order (mini-CLIP 1 used 1)
    pool: int = 20000            # pre-rendered scenes
    steps: int = 1200
    batch: int = 256
    lr: float = 1e-3
    warmup: int = 100
    weight_decay: float = 0.05
    dense: float = 1.0           # weight of the object (dense) loss
    bf16: bool = False           # bfloat16 autocast for the steps (AMX CPUs: ~1.5-2x faster)
    vit: ViTConfig = field(default_factory=ViTConfig)


@dataclass
class Pool:
    images: np.ndarray           # uint8 [scene, H, W, 3]
    caption_ids: np.ndarray      # int [scene]: its caption in `texts`
    negative_ids: np.ndarray     # int [scene]: its swapped-colour caption, or -1
    objects: list[list[tuple[int, np.ndarray]]]   # per scene: (caption id, patch weights [patch])
    texts: list[str]             # unique captions (scene, object and swapped ones)


def patch_weights(mask: np.ndarray, grid: int) -> np.ndarray:
    """bool [H, W] -> float [grid * grid]: the share of each patch the mask covers."""
    h = mask.shape[0] // grid
    return mask.reshape(grid, h, grid, h).mean((1, 3)).reshape(-1).astype(np.float32)


def build_pool(cfg: Train2Config, log=print) -> Pool:
    texts: dict[str, int] = {}

    def tid(t: str) -> int:
        return texts.setdefault(t, len(texts))

    size, grid = cfg.vit.image_size, cfg.vit.grid
    images = np.zeros((cfg.pool, size, size, 3), np.uint8)
    caps, negs, objects = np.zeros(cfg.pool, int), np.full(cfg.pool, -1), []
    t0 = time.time()
    for i in range(cfg.pool):
        rng = np.random.default_rng([cfg.data_seed, 0, i])
        s = render_world(rng, size)
        images[i] = s.image
        caps[i] = tid(world_caption(s.things, rng))
        swapped = swapped_colours(s.things)
        if swapped is not None:
            negs[i] = tid(swapped[1])
        objects.append([(tid(c), patch_weights(m, grid))
                        for c, m in zip(object_captions(s.things, rng), s.masks)])
        if (i + 1) % 2000 == 0 or i + 1 == cfg.pool:
            log(f"  pool: {i + 1}/{cfg.pool} scenes ({time.time() - t0:.0f}s)")
    return Pool(images, caps, negs, objects, list(texts))


def step_loss(model: MiniCLIP, pool: Pool, feats: torch.Tensor, idx: np.ndarray,
              dense: float) -> tuple[torch.Tensor, dict]:
    """The loss of one batch of pool indices `idx`, and its parts."""
    pixels = to_pixels(pool.images[idx])                                 # [batch, 3, H, W]
    cls, patches, _ = model.visual(pixels)                               # [batch, embed], [batch, patch, embed]
    img = F.normalize(cls, dim=-1)
    ids = torch.from_numpy(pool.caption_ids[idx])                        # [batch]
    txt = model.encode_text_features(feats[ids])                         # [batch, embed]
    logits = model.scale() * img @ txt.T                                 # [batch, batch]
    negs = [(r, int(pool.negative_ids[i])) for r, i in enumerate(idx) if pool.negative_ids[i] >= 0]
    same = ids[:, None] == ids[None, :]
    if negs:
        rows = torch.tensor([r for r, _ in negs])
        neg_txt = model.encode_text_features(feats[torch.tensor([n for _, n in negs])])
        extra = torch.full((len(idx), len(negs)), float("-inf"), dtype=logits.dtype)  # own image only
        extra[rows, torch.arange(len(negs))] = (model.scale() * (img[rows] * neg_txt).sum(-1)).to(logits.dtype)
        off = same & ~torch.eye(len(idx), dtype=torch.bool)
        i2t = torch.cat([logits.masked_fill(off, float("-inf")), extra], 1)
        labels = torch.arange(len(idx))
        scene = (F.cross_entropy(i2t, labels) +
                 F.cross_entropy(logits.masked_fill(off, float("-inf")).T, labels)) / 2
    else:
        scene = clip_loss(logits, same)
    # dense: one row per object in the batch
    rows, weights, obj_ids = [], [], []
    for r, i in enumerate(idx):
        for cid, w in pool.objects[i]:
            rows.append(r)
            weights.append(w)
            obj_ids.append(cid)
    w = torch.from_numpy(np.stack(weights))                              # [object, patch]
    pooled = torch.einsum("op,ope->oe", w / w.sum(1, keepdim=True).clamp(min=1e-6),
                          patches[torch.tensor(rows)])                   # [object, embed]
    oid = torch.tensor(obj_ids)
    obj_logits = model.scale() * F.normalize(pooled, dim=-1) @ model.encode_text_features(feats[oid]).T
    objects = clip_loss(obj_logits, oid[:, None] == oid[None, :])
    return scene + dense * objects, {"scene": scene.item(), "objects": objects.item()}


def train(cfg: Train2Config, text, log=print, every: int = 25) -> tuple[MiniCLIP, dict]:
    t0 = time.time()
    torch.manual_seed(cfg.seed)
    model = MiniCLIP(cfg.vit)
    log(f"mini-CLIP 2: {count_params(model):,} parameters, {cfg.steps} steps x {cfg.batch}")
    pool = build_pool(cfg, log)
    feats = embed_captions(pool.texts, text, log)                        # [text, 384]
    opt = make_optimizer(model, cfg)
    model.train()
    history: list[dict] = []
    for step in range(cfg.steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(cfg, step)
        idx = np.random.default_rng([cfg.data_seed, 2, step]).choice(cfg.pool, cfg.batch, replace=False)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.bf16):
            loss, parts = step_loss(model, pool, feats, idx, cfg.dense)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        history.append(parts)
        if step % every == 0 or step == cfg.steps - 1:
            recent = history[-every:]
            log(f"step {step + 1:5d}/{cfg.steps}  scene {np.mean([h['scene'] for h in recent]):.3f}"
                f"  objects {np.mean([h['objects'] for h in recent]):.3f}"
                f"  scale {model.scale().item():5.1f}  {time.time() - t0:5.0f}s")
    model.eval()
    return model, {"history": history, "seconds": time.time() - t0, "texts": len(pool.texts)}


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else list(argv)
    d = Train2Config()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("seed", "data_seed", "pool", "steps", "batch"):
        ap.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(d, name))
    ap.add_argument("--lr", type=float, default=d.lr)
    ap.add_argument("--dense", type=float, default=d.dense)
    ap.add_argument("--bf16", action="store_true", help="bfloat16 autocast for the steps")
    ap.add_argument("--eval", type=int, default=200, metavar="N",
                    help="evaluate on N held-out scenes per figure (0: skip)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", type=Path, required=True,
                    help="a folder for the weights (the bundled mini-CLIP is not replaced)")
    a = ap.parse_args(args)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if a.threads:
        torch.set_num_threads(a.threads)
    cfg = Train2Config(seed=a.seed, data_seed=a.data_seed, pool=a.pool, steps=a.steps,
                       batch=a.batch, lr=a.lr, dense=a.dense, bf16=a.bf16)
    text = minilm_text_tower("cpu")
    model, hist = train(cfg, text, lambda s: print(s, flush=True))
    a.out.mkdir(parents=True, exist_ok=True)
    from safetensors.torch import save_file
    save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()},
              str(a.out / "miniclip2.safetensors"), metadata={"format": "pt"})
    print(f"trained in {hist['seconds']:.0f}s; config {asdict(cfg)}", flush=True)
    if a.eval:
        from ..models.miniclip_adapter import MiniCLIPAdapter
        from .miniclip2_eval import evaluate, format_metrics
        m = evaluate(MiniCLIPAdapter.from_model(model, text), a.eval)
        print(format_metrics(m), flush=True)
        (a.out / "metrics.json").write_text(json.dumps(
            {"metrics": m, "config": asdict(cfg), "seconds": hist["seconds"]}, indent=2,
            default=str) + "\n")


if __name__ == "__main__":
    main()
