"""The captioner's "remove the heads that read the image" table:
python -m mminspect.lab.caption_causal_table [--n 200] [--folder assets/fusion]

Heads ranked by their share of weight on the objects (`caption_reading_heads`, 40 held-out
scenes); each row removes a set of cross-attention heads (zero ablation) and lets the model
write all n held-out two-object scenes again: names every object, every shape's colour right,
well formed (the training captions' grammar). Printed as a markdown table (docs/fusion-lab.md).
"""
from __future__ import annotations

import argparse
import time

import torch

from ..api import fusion_caption_causal as cc
from ..models.caption_adapter import CaptionAdapter


def rows(adapter, n: int):
    L, H = adapter.n_layers, adapter.n_heads
    ranked = cc.caption_reading_heads(adapter, k=L * H, n=40)
    most = ranked.ranking
    yield "the 4 most on the objects", most[:4]
    yield "the 8 most on the objects", most[:8]
    yield "the 4 least on the objects (a control)", most[::-1][:4]
    yield "the 8 least on the objects (a control)", most[::-1][:8]
    yield "every head", most
    for layer in range(L):
        yield f"all 4 heads of layer {layer}", [(layer, h) for h in range(H)]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--folder", default="bundled:fusion-caption")
    ap.add_argument("--mode", default="zero", choices=("zero", "mean"))
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    t0 = time.time()
    adapter = CaptionAdapter(name="fusion-caption", path=a.folder, label="captioner")
    share = cc.caption_reading_heads(adapter, k=1, n=40).share
    print("share of weight on the objects at naming steps (40 held-out scenes), [layer, head]:")
    for layer, row in enumerate(share):
        print(f"  L{layer}: " + "  ".join(f"H{h} {x:.2f}" for h, x in enumerate(row)))
    print(f"\n| heads removed ({a.mode} ablation) | names every object | colours right | well formed |")
    print("|---|---|---|---|")
    intact = None
    for name, heads in rows(adapter, a.n):
        acc = cc.caption_ablation_accuracy(adapter, heads, n=a.n, mode=a.mode)
        if intact is None:
            intact = acc
            f = acc.intact
            print(f"| none (intact) | {f['names_every_object']:.1%} | {f['colours_right']:.1%} | "
                  f"{f['grammatical']:.1%} |")
        f = acc.ablated
        label = ", ".join(f"L{x}H{y}" for x, y in heads) if len(heads) <= 8 else f"{len(heads)} heads"
        print(f"| {name}: {label} | {f['names_every_object']:.1%} | {f['colours_right']:.1%} | "
              f"{f['grammatical']:.1%} |")
    print(f"\ncolour guessed at random for every shape: {intact.colour_chance:.1%}; n = {intact.n} "
          f"scenes, seed {intact.seed}; {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
