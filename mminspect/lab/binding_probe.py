"""Can mini-CLIP's frozen text side bind colours to shapes at all? A probe:
python -m mminspect.lab.binding_probe [--scenes 6000] [--steps 1500] [--seed 0]

mini-CLIP 2 leaves swapped colours ("a red circle and a blue square" vs "a blue circle and a
red square") at chance whatever its recipe (see `miniclip2_train`). Either the text side
(frozen MiniLM, mean-pooled, then a linear projection) cannot tell the two captions apart in
a usable way, or the ViT's image embedding does not bind. This probe replaces the ViT by an
image encoder that binds by construction: the image is the sum of one learnt vector per
(colour, shape) pair (or everyday thing) it holds. It is trained like mini-CLIP 2 with
colour-swapped twins (InfoNCE + the two-way swap loss) on world scenes of 2-3 objects, and
scored on held-out scenes: own caption above its swap. Well above chance means the text side
is not the limit.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np
import torch
from torch.nn import functional as F

from ..miniclip.everyday import all_emoji, name_of
from ..miniclip.scenes import COLOURS, SHAPES
from ..miniclip.world import colour_swapped, render_world
from ..miniclip.world_captions import swapped_caption
from ..models.miniclip_adapter import minilm_text_tower
from .provenance import command_line

TRAIN_SEED, TEST_SEED = 11, 12           # world streams of the probe only
KEYS = [(c, s) for c in COLOURS for s in SHAPES] + [("", name_of(e)) for e in all_emoji()]
KEY_ID = {k: i for i, k in enumerate(KEYS)}


def _ids(things) -> list[int]:
    return [KEY_ID[(t.colour, t.name) if t.kind == "shape" else ("", t.name)] for t in things]


def scenes(seed: int, n: int, twins: bool):
    """(object ids per picture, true caption, swapped caption) for n swappable scenes, each
    followed by its colour-swapped twin (whose captions are the other way round) if `twins`."""
    out, i = [], 0
    while len(out) < n:
        rng = np.random.default_rng([seed, i])
        i += 1
        s = render_world(rng, 64, n_objects=int(rng.integers(2, 4)), p_everyday=0.2)
        true, false = swapped_caption(s.things, rng)
        if false is None:
            continue
        out.append((_ids(s.things), true, false))
        other = colour_swapped(s) if twins else None
        if other is not None:
            out.append((_ids(other.things), false, true))
    return out


def probe(n_scenes: int = 6000, steps: int = 1500, seed: int = 0, batch: int = 256,
          log=print) -> dict:
    torch.manual_seed(seed)
    text = minilm_text_tower("cpu")
    train, test = scenes(TRAIN_SEED, n_scenes, True), scenes(TEST_SEED, 300, False)

    def embed(rows, k):                                                # [row, 384]
        return torch.from_numpy(text.embed([r[k] for r in rows]))

    tr_t, tr_f, te_t, te_f = embed(train, 1), embed(train, 2), embed(test, 1), embed(test, 2)
    vectors = torch.nn.Parameter(torch.randn(len(KEYS), 128) * 0.1)   # [key, embed]
    proj = torch.nn.Linear(384, 128, bias=False)                      # like mini-CLIP's text_proj
    opt = torch.optim.Adam([vectors, *proj.parameters()], lr=3e-3)

    def image(rows):                                                  # [row, embed]
        return F.normalize(torch.stack([vectors[r[0]].sum(0) for r in rows]), dim=-1)

    def accuracy(rows, t, f) -> float:
        with torch.no_grad():
            v = image(rows)
            a, b = F.normalize(proj(t), dim=-1), F.normalize(proj(f), dim=-1)
            return float(((v * a).sum(1) > (v * b).sum(1)).float().mean())

    gen = torch.Generator().manual_seed(seed)
    for step in range(steps):
        idx = torch.randint(0, len(train), (batch,), generator=gen)
        v = image([train[j] for j in idx])
        t, f = F.normalize(proj(tr_t[idx]), dim=-1), F.normalize(proj(tr_f[idx]), dim=-1)
        logits, labels = 20 * v @ t.T, torch.arange(batch)
        two = torch.stack([20 * (v * t).sum(1), 20 * (v * f).sum(1)], 1)
        loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)
                + F.cross_entropy(two, torch.zeros(batch, dtype=torch.long)))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 500 == 0 or step == steps - 1:
            log(f"step {step + 1}/{steps}  loss {loss.item():.3f}  held-out binding "
                f"{100 * accuracy(test, te_t, te_f):.1f} %")
    return {"held_out_binding": accuracy(test, te_t, te_f), "n_test": len(test),
            "train_pictures": len(train), "steps": steps, "seed": seed}


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else list(argv)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", type=int, default=6000)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(args)
    out = probe(a.scenes, a.steps, a.seed)
    print(f"{command_line('mminspect.lab.binding_probe', args)}: held-out binding "
          f"{100 * out['held_out_binding']:.1f} % on {out['n_test']} scenes (chance 50 %)")


if __name__ == "__main__":
    main()
