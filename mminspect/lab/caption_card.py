"""The captioner's card: the loader's facts (config, vocabulary, the weights' SHA-256) and a
reader's (data, recipe, seeds, held-out figures, time, limits, provenance).

`caption_train` writes it at the end of a run. When that step could not (the training's
provenance check refuses a card if a source file it imported changed during the run, which
happens in a shared checkout), the card program writes it for the saved weights, re-measuring
every figure and recording how the weights were trained from the run's own log:

    python -m mminspect.lab.caption_card --folder assets/fusion --log train.log \
        --train-commit <commit the run started at> --train-started <UTC time> \
        --train-args "<the training command's arguments; default: --out assets/fusion>"
"""
from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..fusion.caption import CaptionModel, caption_vocabulary
from ..fusion.model import count_params
from ..miniclip import world
from ..models.bundled import sha256_file
from .caption_eval import EVAL_SEED, TARGETS

KNOWN_LIMITS = (
    "Its world only: 64 x 64 synthetic scenes of 1-3 coloured shapes or emoji things on any "
    "background. On a photo its captions are guesses.",
    "It writes only its own closed vocabulary of canonical words, at most 19 words; captions "
    "name at most three objects.",
    "Positions (a 3 x 3 grid) and relations (above / below / left of / right of) are in its "
    "training captions but the card does not measure whether it writes them right.",
    "Greedy decoding: one caption per image, the most likely word at each step.",
    "A word's cross-attention map is where that word read the image, not proof that the word "
    "came from there: the residual stream also carries what earlier words read (test it with "
    "ablation).",
)


def model_card(cfg, model: CaptionModel, hist: dict, metrics: dict | None,
               weights: Path, prov: dict) -> dict:
    """cfg: the run's `caption_train.CaptionTrainConfig` (not imported: training imports this)."""
    last = hist["history"][-50:]
    return {
        "model": "fusion captioner (cross-attention, encoder-decoder)",
        "description": "mini-CLIP 2's frozen image tower encodes the picture into 8 x 8 patch "
                       "tokens; a small text decoder (causal self-attention, cross-attention to "
                       "the patches, MLP in each layer) writes a caption word by word; the "
                       "decoder is trained from scratch on mini-CLIP 2's world.",
        "config": cfg.model.to_dict(),
        "vocabulary": list(caption_vocabulary()),
        "parameters": count_params(model),
        "parameters_trained": count_params(model, trainable=True),
        "image_tower": hist.get("tower"),
        "preprocess": {"resize": "centre crop + bicubic", "mean": 0.5, "std": 0.25},
        "data": {"generator": "mminspect.miniclip.world.render_world", "objects_per_scene": "1-3",
                 "backgrounds": list(world.BACKGROUNDS), "p_everyday": world.P_EVERYDAY,
                 "captions": "mminspect.fusion.words.caption (canonical words, every object "
                             "named in a random order, drawn fresh each step)",
                 "pool": cfg.pool, "data_seed": cfg.data_seed},
        "train": asdict(cfg) | {"model": cfg.model.to_dict()},
        "loss": "next-word cross-entropy over the caption and [END]",
        "decoding": "greedy",
        "map_of_a_word": "the cross-attention row of the step that wrote the word (the query at "
                         "the previous token), heads averaged unless a head is chosen",
        "training_time_s": round(hist["seconds"], 1),
        "pool_time_s": round(hist["pool_seconds"], 1),
        "eval_time_s": round(hist.get("eval_seconds", 0.0), 1),
        "final_loss": round(float(np.mean([h["loss"] for h in last])), 4),
        "metrics": metrics,
        "targets": TARGETS,
        "targets_met": None if metrics is None else {k: metrics[k] >= t for k, t in TARGETS.items()},
        "eval_seed": EVAL_SEED,
        "known_limits": list(KNOWN_LIMITS),
        "weights": {"file": weights.name, "sha256": sha256_file(weights),
                    "bytes": weights.stat().st_size},
        "provenance": prov,
    }


def _from_log(text: str) -> dict:
    """The run's own figures from its log: seconds, pool seconds and the loss of each step logged."""
    trained = re.search(r"trained in (\d+)s", text)
    tower = re.search(r"image tower: \d+ scenes \((\d+)s\)", text)
    losses = [float(x) for x in re.findall(r"step +\d+/\d+ +loss ([0-9.]+)", text)]
    if not (trained and tower and losses):
        raise SystemExit("the log lacks 'trained in', 'image tower' or step lines: is it caption_train's?")
    return {"seconds": float(trained.group(1)), "pool_seconds": float(tower.group(1)),
            "history": [{"loss": losses[-1]}]}


def main(argv: list[str] | None = None) -> None:
    from safetensors.torch import load_file
    from .caption_eval import evaluate, format_metrics
    from .caption_train import CODE, WEIGHTS, CARD, load_tower, parse
    from .provenance import code_snapshot, provenance
    ap = argparse.ArgumentParser(description="Write the captioner's card for saved weights.")
    ap.add_argument("--folder", type=Path, required=True)
    ap.add_argument("--log", type=Path, required=True, help="the training run's printed log")
    ap.add_argument("--train-commit", required=True, help="the git commit the run started at")
    ap.add_argument("--train-started", required=True, help="when the run started (UTC)")
    ap.add_argument("--train-args", default="--out assets/fusion",
                    help="the training command's arguments as run (they give its config)")
    ap.add_argument("--eval", type=int, default=200)
    args = sys.argv[1:] if argv is None else list(argv)
    a = ap.parse_args(args)
    at_start = code_snapshot(CODE)
    cfg = parse(shlex.split(a.train_args))[1]                    # the run's own config
    model = CaptionModel(cfg.model)
    tower = load_tower(model)
    weights = a.folder / WEIGHTS
    model.load_state_dict(load_file(str(weights)))
    hist = _from_log(a.log.read_text()) | {"tower": tower}
    t0 = time.time()
    metrics = evaluate(model.eval(), a.eval)
    hist["eval_seconds"] = time.time() - t0
    print(format_metrics(metrics), flush=True)
    prov = provenance("mminspect.lab.caption_card", args, params={k: str(v) for k, v in vars(a).items()},
                      code=CODE, at_start=at_start)
    card = model_card(cfg, model, hist, metrics, weights, prov)
    card["training"] = {"command": f"python -m mminspect.lab.caption_train {a.train_args}",
                        "params": asdict(cfg) | {"model": cfg.model.to_dict()},
                        "git_commit": a.train_commit, "started": a.train_started,
                        "wall_seconds": hist["seconds"],
                        "card_by": "mminspect.lab.caption_card: the run's own card step refused to "
                                   "write (a source file it imports was changed by another session "
                                   "during the run); figures re-measured here from the saved weights"}
    (a.folder / CARD).write_text(json.dumps(card, indent=2, default=str) + "\n")
    print(f"wrote {a.folder / CARD}", flush=True)


if __name__ == "__main__":
    main()
