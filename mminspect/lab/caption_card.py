"""The captioner's card: the loader's facts (config, vocabulary, the weights' SHA-256) and a
reader's (data, recipe, seeds, held-out figures, time, limits, provenance). `caption_train`
writes it at the end of a run; `caption_recard` writes it for saved weights when the run
could not."""
from __future__ import annotations

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

