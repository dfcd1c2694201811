"""What each image map costs: milliseconds per map, every `IMAGE_METHODS` entry at its
defaults (the "Every method" settings), one prompt, one image:

    python -m mminspect.lab.image_cost [--models miniclip,hf-vit-b32] [--repeats 3] [--threads 2]

Models: "miniclip" (the shipped one), "hf-vit-b32": an HF `CLIPModel` built from
`CLIPConfig()` (its defaults are ViT-B/32's shapes: 224 px, 32 px patches, 12 layers of width
768; text 12 layers of width 512) with random weights, saved to a temporary folder with a
byte-level stand-in tokenizer and opened like any checkpoint: the real cost, no download.
Any other name is `models.load`ed (e.g. "open_clip:ViT-B-32/random").

Per method: one warm-up map, then the median of `--repeats` timed maps. `--json` writes the
table with its provenance. CPU timings on a shared machine vary; the record names the machine.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ..explain.image_methods import IMAGE_METHODS, compute
from ..models import load
from .provenance import provenance

PROMPT = "a photo of a red circle"


def _byte_bpe() -> tuple[dict[str, int], list[str]]:
    """A CLIP-BPE vocabulary of single bytes (alone and word-final) and no merges: every text
    tokenizes, one piece per character (the byte-level BPE's printable stand-ins for the 256
    bytes, from transformers)."""
    from transformers.convert_slow_tokenizer import bytes_to_unicode
    chars = list(bytes_to_unicode().values())
    vocab = chars + [c + "</w>" for c in chars] + ["<|startoftext|>", "<|endoftext|>"]
    return {t: i for i, t in enumerate(vocab)}, []


def build_hf_vit_b32(folder: Path) -> Path:
    """A random ViT-B/32 CLIPModel + tokenizer + image processor saved in `folder`."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPTokenizer

    vocab, merges = _byte_bpe()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=77).save_pretrained(folder)
    CLIPImageProcessor(size={"shortest_edge": 224},
                       crop_size={"height": 224, "width": 224}).save_pretrained(folder)
    cfg = CLIPConfig(text_config={"bos_token_id": vocab["<|startoftext|>"],
                                  "eos_token_id": vocab["<|endoftext|>"],
                                  "pad_token_id": vocab["<|endoftext|>"]})
    torch.manual_seed(0)
    CLIPModel(cfg).eval().save_pretrained(folder)
    return folder


def open_model(name: str, tmp: Path):
    if name == "hf-vit-b32":
        return load(str(build_hf_vit_b32(tmp / "hf-vit-b32")))
    return load(name)


def cost(adapter, methods, repeats: int) -> dict:
    """{method: {"ms": median ms per map, "runs": [ms, ...]}} on one random image."""
    size = adapter.patch_grid.image_size
    image = np.random.default_rng(0).integers(0, 256, (*size, 3), dtype=np.uint8)
    pixels = adapter.preprocess([image])
    enc = adapter.tokenize(PROMPT)
    out = {}
    for m in methods:
        compute(adapter, pixels, [enc], m)                               # warm-up
        runs = []
        for _ in range(repeats):
            t = time.perf_counter()
            compute(adapter, pixels, [enc], m)
            runs.append(1e3 * (time.perf_counter() - t))
        out[m] = {"ms": statistics.median(runs), "runs": [round(r, 1) for r in runs]}
    return out


def format_table(res: dict) -> str:
    models = list(res)
    methods = list(res[models[0]])
    lines = [f"{'method':<24}" + "".join(f"{m:>16}" for m in models)]
    for m in methods:
        lines.append(f"{m:<24}" + "".join(f"{res[x][m]['ms']:>13.0f} ms" for x in models))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else list(argv)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="miniclip,hf-vit-b32")
    ap.add_argument("--methods", default=",".join(IMAGE_METHODS))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--json", help="also write the table here")
    a = ap.parse_args(args)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    if a.threads:
        torch.set_num_threads(a.threads)
    methods = a.methods.split(",")
    res = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in a.models.split(","):
            adapter = open_model(name, Path(tmp))
            res[name] = cost(adapter, methods, a.repeats)
            print(f"{name}: done", flush=True)
    print(format_table(res))
    if a.json:
        prov = provenance("mminspect.lab.image_cost", args, params={
            "models": a.models.split(","), "methods": methods, "repeats": a.repeats,
            "prompt": PROMPT}, code=("mminspect/lab/image_cost.py", "mminspect/explain"))
        with open(a.json, "w") as f:
            json.dump({"results": res, "provenance": prov}, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()
