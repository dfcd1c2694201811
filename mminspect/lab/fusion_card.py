"""The fusion model's card: what `fusion_train` writes next to the weights, for the loader
(config, vocabulary, the weights' SHA-256) and for people (data, recipe, seeds, held-out
figures, time, limits, provenance)."""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..fusion import words as W
from ..fusion.model import FusionModel, count_params
from ..miniclip import world
from ..models.bundled import sha256_file
from .fusion_eval import EVAL_SEED, TARGETS

KNOWN_LIMITS = (
    "Its world only: 64 x 64 synthetic scenes of 1-3 coloured shapes or emoji things on any "
    "background. On a photo its answers are guesses.",
    "It reads only its own closed vocabulary of canonical words (one colour word per colour "
    "family, one name per thing); any other word is [UNK].",
    "Captions name at most three objects; positions are a 3 x 3 grid and relations are "
    "above / below / left of / right of, which it saw but which the card does not measure.",
    "Attention is where a word looks, not why the answer is what it is: a word's patch map "
    "can point at its object while the answer comes from elsewhere (test it with ablation).",
)


def model_card(cfg, model: FusionModel, hist: dict, metrics: dict | None,
               weights: Path, prov: dict) -> dict:
    """cfg: the run's `fusion_train.FusionTrainConfig` (not imported: training imports this)."""
    last = hist["history"][-50:]
    return {
        "model": "fusion (concatenation, single stream)",
        "description": "One small transformer reads [CLS], the caption's words and the 8 x 8 "
                       "image patches as one sequence (modality and position embeddings), the "
                       "patch tokens coming from mini-CLIP 2's frozen image tower, with "
                       "an image-text matching head on [CLS] and a masked-word head on the words; "
                       "trained from scratch on mini-CLIP 2's world.",
        "config": cfg.model.to_dict(),
        "vocabulary": list(W.vocabulary()),
        "parameters": count_params(model),
        "parameters_trained": count_params(model, trainable=True),
        "image_tower": hist.get("tower"),
        "preprocess": {"resize": "centre crop + bicubic", "mean": 0.5, "std": 0.25},
        "data": {"generator": "mminspect.miniclip.world.render_world", "objects_per_scene": "1-3",
                 "backgrounds": list(world.BACKGROUNDS), "p_everyday": world.P_EVERYDAY,
                 "captions": "mminspect.fusion.words.caption (canonical words, drawn fresh each step)",
                 "pool": cfg.pool, "data_seed": cfg.data_seed,
                 "everyday_source": "Noto Color Emoji (Debian fonts-noto-color-emoji, SIL Open "
                                    "Font Licence 1.1), rendered with Pillow"},
        "train": asdict(cfg) | {"model": cfg.model.to_dict()},
        "loss": f"ITM cross-entropy ({cfg.p_true:.0%} true captions, {cfg.p_other:.0%} another "
                f"scene's, {1 - cfg.p_true - cfg.p_other:.0%} the true caption with one naming word "
                "changed) + masked-word cross-entropy (one naming word per caption), on separate "
                "rows of each batch",
        "training_time_s": round(hist["seconds"], 1),
        # the machine is shared: wall time grows with the other work on it, the one thread's
        # CPU time is what the run costs (about the wall time on an idle machine)
        "training_cpu_s": round(hist.get("cpu_seconds", float("nan")), 1),
        "pool_time_s": round(hist["pool_seconds"], 1),
        "eval_time_s": round(hist.get("eval_seconds", 0.0), 1),
        "final_loss": {k: round(float(np.mean([h[k] for h in last])), 4) for k in ("itm", "mlm")},
        "metrics": metrics,
        "targets": TARGETS,
        "targets_met": None if metrics is None else {k: metrics[k] >= t for k, t in TARGETS.items()},
        "eval_seed": EVAL_SEED,
        "known_limits": list(KNOWN_LIMITS),
        "weights": {"file": weights.name, "sha256": sha256_file(weights),
                    "bytes": weights.stat().st_size},
        "provenance": prov,
    }
