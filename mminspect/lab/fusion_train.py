"""Train the concatenation fusion model:  python -m mminspect.lab.fusion_train --out DIR

Writes DIR/fusion.safetensors and DIR/card.json (config, vocabulary, recipe, seeds, held-out
figures, timing, limits, provenance, the weights' SHA-256 the loader checks). The shipped
model is `--out assets/fusion` with the defaults below.

Data: mini-CLIP 2's world (`miniclip.world.render_world`, exact masks) with 1-3 objects, drawn
once into a pool (a scene costs ~1.5 ms to draw). Captions are drawn fresh at every step in
canonical words (`fusion.words`), so the model sees many wordings of each scene.

Each step's batch is two kinds of rows, one forward for both:
- **masked-word rows**: a true caption with one naming word (colour, shape or thing) replaced
  by [MASK]; the loss is the cross-entropy of that word. No ITM loss on these rows, so
  "[MASK] present" can never tell the matching head anything.
- **matching rows**: a caption and a 0/1 label. Half are true; `p_other` (15 %) are another
  scene's caption; the rest (35 %) are the true caption with one naming word changed so it is
  false (`words.wrong_word`): these can only be told apart by looking at the right object, and
  they were the first recipe's weak kind (85 % held out with a quarter of the rows, 1500 steps),
  so they get more rows than another scene's caption, which is easy (99 %).
Loss = ITM + MLM. AdamW, warm-up then cosine; one CPU thread by default (the CI machine is
shared), float32.
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

from ..fusion import words as W
from ..fusion.data import pad, world_scenes
from ..fusion.model import FusionConfig, FusionModel, count_params, fusion_loss
from ..miniclip.model import to_pixels
from ..models.miniclip_adapter import bundled_dir, read_card, verify_weights
from ..miniclip.world import Thing
from .miniclip_train import lr_at, make_optimizer
from .provenance import code_snapshot, provenance



@dataclass
class FusionTrainConfig:
    seed: int = 0                # torch initialisation
    data_seed: int = 7           # pool, captions, batch order (held-out evaluation: 5100-5400)
    pool: int = 12000
    steps: int = 2000
    batch: int = 96              # scenes per step: batch masked-word rows + batch matching rows
    lr: float = 2e-3
    warmup: int = 100
    weight_decay: float = 0.05
    p_true: float = 0.5          # matching rows: true captions
    p_other: float = 0.15        # another scene's caption; the rest: one naming word changed
    threads: int = 1
    device: str = "cpu"          # the shipped run: cpu (a GPU only to try recipes quickly)
    model: FusionConfig = field(default_factory=lambda: FusionConfig(vocab_size=len(W.vocabulary())))


@dataclass
class Pool:
    images: np.ndarray                       # uint8 [scene, H, W, 3]
    things: list[tuple[Thing, ...]]          # what each scene holds


def build_pool(cfg: FusionTrainConfig, log=print) -> Pool:
    t0, images, things = time.time(), [], []
    for i, (_, s) in enumerate(world_scenes(cfg.data_seed, cfg.pool, cfg.model.image_size)):
        images.append(s.image)
        things.append(s.things)
        if (i + 1) % 4000 == 0 or i + 1 == cfg.pool:
            log(f"  pool: {i + 1}/{cfg.pool} scenes ({time.time() - t0:.0f}s)")
    return Pool(np.stack(images), things)


def make_batch(cfg: FusionTrainConfig, pool: Pool, step: int):
    """Step `step`'s rows: (pool index [row], ids, keep, match [row], targets [row, word])."""
    rng = np.random.default_rng([cfg.data_seed, 1, step])
    idx = rng.choice(len(pool.images), cfg.batch, replace=False)
    rows, captions, match, blanks = [], [], [], []
    for i in idx:                                              # masked-word rows
        c = W.caption(pool.things[i], rng)
        spots = W.content_positions(c)
        k = spots[int(rng.integers(len(spots)))]
        rows.append(i)
        captions.append(list(W.with_mask(c, k).tokens))
        match.append(-1)
        blanks.append((k, c.tokens[k]))
    for n, i in enumerate(idx):                                # matching rows
        c, u = W.caption(pool.things[i], rng), rng.random()
        if u < cfg.p_true:
            label = 1
        elif u < cfg.p_true + cfg.p_other:
            j = idx[(n + 1) % len(idx)]                        # another scene of the batch
            c, label = W.caption(pool.things[j], rng), int(pool.things[j] == pool.things[i])
        else:
            c, label = W.wrong_word(c, pool.things[i], rng), 0
        rows.append(i)
        captions.append(list(c.tokens))
        match.append(label)
        blanks.append(None)
    ids, keep = pad(captions, cfg.model.max_words)
    targets = torch.full(ids.shape, -1, dtype=torch.long)
    for r, b in enumerate(blanks):
        if b is not None:
            targets[r, b[0] + 1] = W.ids_of([b[1]])[0]          # +1: [CLS] comes first
    return torch.from_numpy(np.array(rows)), ids, keep, torch.tensor(match), targets


TOWER = "bundled:miniclip2"        # the frozen image tower's weights (hash-checked by its card)


def load_tower(model: FusionModel, source: str = TOWER) -> dict:
    """Copy mini-CLIP 2's image tower into the model (frozen); returns what the card records."""
    from safetensors.torch import load_file
    folder = bundled_dir(source)
    card = read_card(folder)
    if card["config"] != model.cfg.vit:
        raise ValueError(f"the fusion config's tower {model.cfg.vit} is not mini-CLIP 2's {card['config']}")
    state = load_file(str(verify_weights(folder, card)))
    model.visual.load_state_dict({k.removeprefix("visual."): v for k, v in state.items()
                                  if k.startswith("visual.")})
    return {"from": source, "model": card.get("model"), "sha256": card["weights"]["sha256"], "frozen": True}


@torch.no_grad()
def pool_patches(model: FusionModel, pool: Pool, log=print, chunk: int = 256) -> torch.Tensor:
    """The frozen tower's patch tokens of every pool scene, once: float32 [scene, patch, embed]
    (the tower never changes, so running it at every step would only cost time)."""
    t0, out = time.time(), []
    for i in range(0, len(pool.images), chunk):
        out.append(model.patch_tokens(to_pixels(pool.images[i:i + chunk])).float())
    log(f"  image tower: {len(pool.images)} scenes ({time.time() - t0:.0f}s)")
    return torch.cat(out)


def train(cfg: FusionTrainConfig, log=print, every: int = 50, evaluate_every=None):
    t0, c0 = time.time(), time.process_time()
    torch.manual_seed(cfg.seed)
    model = FusionModel(cfg.model)
    tower = load_tower(model)
    log(f"fusion: {count_params(model, trainable=True):,} trained parameters (+ the frozen tower), "
        f"{cfg.steps} steps x 2 x {cfg.batch} rows")
    pool = build_pool(cfg, log)
    feats = pool_patches(model, pool, log)                                 # [scene, patch, embed]
    model.to(cfg.device)
    t_pool = time.time() - t0
    opt = make_optimizer(model, cfg)
    model.train()
    history = []
    for step in range(cfg.steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(cfg, step)
        rows, ids, keep, match, targets = (t.to(cfg.device) for t in make_batch(cfg, pool, step))
        patches = feats[rows.cpu()].to(cfg.device)                 # [row, patch, embed]
        itm_logits, word_logits, _ = model(None, ids, keep, patches=patches)
        itm, mlm = fusion_loss(itm_logits, match, word_logits, targets)
        opt.zero_grad(set_to_none=True)
        (itm + mlm).backward()
        opt.step()
        rows = match >= 0
        history.append({"itm": itm.item(), "mlm": mlm.item(),
                        "itm_acc": (itm_logits[rows].argmax(-1) == match[rows]).float().mean().item()})
        if step % every == 0 or step == cfg.steps - 1:
            recent = history[-every:]
            log(f"step {step + 1:5d}/{cfg.steps}  itm {np.mean([h['itm'] for h in recent]):.3f}"
                f" (acc {np.mean([h['itm_acc'] for h in recent]):.3f})"
                f"  mlm {np.mean([h['mlm'] for h in recent]):.3f}  {time.time() - t0:5.0f}s"
                f" (cpu {time.process_time() - c0:.0f}s)"
                + (f"  {evaluate_every(model)}" if evaluate_every and step % (4 * every) == 0 else ""))
    model.eval().cpu()
    return model, {"history": history, "seconds": time.time() - t0, "pool_seconds": t_pool,
                   "cpu_seconds": time.process_time() - c0, "tower": tower}


WEIGHTS = "fusion.safetensors"
CODE = ("mminspect/lab/fusion_train.py", "mminspect/lab/fusion_eval.py",
        "mminspect/lab/fusion_card.py", "mminspect/lab/miniclip_train.py", "mminspect/fusion",
        "mminspect/miniclip")


def main(argv: list[str] | None = None) -> None:
    from .fusion_card import model_card
    from .fusion_eval import evaluate, format_metrics
    args = sys.argv[1:] if argv is None else list(argv)
    d = FusionTrainConfig()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("seed", "data_seed", "pool", "steps", "batch", "threads"):
        ap.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(d, name))
    for name in ("lr", "p_true", "p_other"):
        ap.add_argument(f"--{name.replace('_', '-')}", type=float, default=getattr(d, name))
    ap.add_argument("--device", default=d.device)
    ap.add_argument("--width", type=int, default=d.model.width)
    ap.add_argument("--depth", type=int, default=d.model.depth)
    ap.add_argument("--eval", type=int, default=200, metavar="N",
                    help="evaluate on N held-out scenes per figure (0: skip)")
    ap.add_argument("--monitor", type=int, default=60, metavar="N",
                    help="log held-out figures on N scenes every 200 steps (0: off; only logged, "
                         "nothing is chosen by them)")
    ap.add_argument("--out", type=Path, required=True,
                    help="a folder for the weights and card (the shipped one: assets/fusion)")
    a = ap.parse_args(args)
    torch.set_num_threads(a.threads)
    model_cfg = FusionConfig(vocab_size=len(W.vocabulary()), width=a.width, depth=a.depth)
    cfg = FusionTrainConfig(seed=a.seed, data_seed=a.data_seed, pool=a.pool, steps=a.steps,
                            batch=a.batch, lr=a.lr, p_true=a.p_true, p_other=a.p_other,
                            threads=a.threads, device=a.device,
                            model=model_cfg)
    at_start = code_snapshot(CODE)
    monitor = None
    if a.monitor:
        def monitor(m):
            text = format_metrics(evaluate(m, a.monitor)).replace("\n", " |")
            m.train()
            return text
    model, hist = train(cfg, lambda s: print(s, flush=True), evaluate_every=monitor)
    a.out.mkdir(parents=True, exist_ok=True)
    from safetensors.torch import save_file
    weights = a.out / WEIGHTS
    save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()},
              str(weights), metadata={"format": "pt"})
    print(f"trained in {hist['seconds']:.0f}s; config {asdict(cfg)}", flush=True)
    metrics, t_eval = None, time.time()
    if a.eval:
        metrics = evaluate(model, a.eval)
        print(format_metrics(metrics), flush=True)
    hist["eval_seconds"] = time.time() - t_eval
    card = model_card(cfg, model, hist, metrics, weights,
                      provenance("mminspect.lab.fusion_train", args, params=asdict(cfg), code=CODE,
                                 at_start=at_start))
    with open(a.out / "card.json", "w") as f:
        json.dump(card, f, indent=2, default=str)
        f.write("\n")
    print(f"wrote {weights} and the card beside it", flush=True)


if __name__ == "__main__":
    main()
