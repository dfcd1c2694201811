"""Write the captioner's card for saved weights:

    python -m mminspect.lab.caption_recard --folder assets/fusion --log train.log \
        --train-commit <commit the run started at> --train-started <UTC time> \
        --train-args "<the training command's arguments; default: --out assets/fusion>"

Why: `caption_train` writes the card at the end of its run, but its provenance check refuses
when a source file it imported changed during the run (it happens in a shared checkout). The
weights are saved before that check, so this program loads them, re-measures every held-out
figure and records how the weights were trained from the run's own log (time, pool time, last
loss) and the command's arguments (its config).
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

from ..fusion.caption import CaptionModel
from .caption_card import model_card


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
    prov = provenance("mminspect.lab.caption_recard", args, params={k: str(v) for k, v in vars(a).items()},
                      code=CODE, at_start=at_start)
    card = model_card(cfg, model, hist, metrics, weights, prov)
    card["training"] = {"command": f"python -m mminspect.lab.caption_train {a.train_args}",
                        "params": asdict(cfg) | {"model": cfg.model.to_dict()},
                        "git_commit": a.train_commit, "started": a.train_started,
                        "wall_seconds": hist["seconds"],
                        "card_by": "mminspect.lab.caption_recard: the run's own card step refused to "
                                   "write (a source file it imports was changed by another session "
                                   "during the run); figures re-measured here from the saved weights"}
    (a.folder / CARD).write_text(json.dumps(card, indent=2, default=str) + "\n")
    print(f"wrote {a.folder / CARD}", flush=True)


if __name__ == "__main__":
    main()
