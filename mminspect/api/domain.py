"""What each image model was trained on, and whether an image is of that kind (keyed by a
bundled model's name, else by family).

A model answers confidently whatever it is shown: mini-CLIP, trained only on synthetic scenes,
calls Chelsea the cat "a rocket" at 60 %. The page must say when an input is outside what the
model knows, next to the prediction, in plain words.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from PIL import Image

from ..models.arch import ARCHS


def flat_colour_share(image: Image.Image | np.ndarray, k: int = 8) -> float:
    """Share of pixels covered by the k most common colours (8 levels per channel) at
    128x128: synthetic scenes (flat background + flat shapes) score near 1, photos far
    lower (thousands of shades)."""
    im = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image, np.uint8))
    a = np.asarray(im.convert("RGB").resize((128, 128), Image.NEAREST)) // 32   # [128, 128, 3]
    codes = (a[..., 0].astype(np.int64) * 64 + a[..., 1] * 8 + a[..., 2]).ravel()  # [pixel]
    counts = np.sort(np.bincount(codes, minlength=512))[::-1]
    return float(counts[:k].sum() / codes.size)


@dataclass(frozen=True)
class Domain:
    """trained_on: in words; fits(image) -> bool, or None when any image is fair game."""

    trained_on: str
    fits: Callable[[Image.Image], bool] | None = None
    elsewhere: str = ""


SYNTHETIC_MIN_SHARE = 0.9   # generator scenes: >= 0.95 (200 drawn); the bundled photos: 0.54-0.77
# mini-CLIP 2's world has noise, gradients and emoji: its flat-colour share (0.64-1.0 over 200
# scenes) overlaps photos' (0.54-1.0 over 10 scikit-image photos), so colours cannot tell them
# apart. Its scenes are drawn at 64 x 64 pixels, photos are far larger: the size is the sign.
WORLD_MAX_SIDE = 256


def small_picture(image: Image.Image) -> bool:
    return max(image.size) <= WORLD_MAX_SIDE

DOMAINS: dict[str, Domain] = {
    "miniclip": Domain(
        trained_on="synthetic scenes: a few flat coloured shapes on a plain background",
        fits=lambda im: flat_colour_share(im) >= SYNTHETIC_MIN_SHARE,
        elsewhere="For photos, open a real CLIP where the internet is reachable: "
                  "“OpenAI CLIP ViT-B/32” or “open_clip ViT-B/32 LAION-2B” in the model list."),
    "miniclip2": Domain(
        trained_on="synthetic 64 × 64 scenes: coloured shapes and 64 kinds of everyday things "
                   "(emoji drawings) on plain, gradient, striped, checked, noisy or blotchy "
                   "backgrounds; never a photo",
        fits=small_picture,
        elsewhere="For photos, open a real CLIP where the internet is reachable: "
                  "“OpenAI CLIP ViT-B/32” or “open_clip ViT-B/32 LAION-2B” in the model list."),
    # every other family: what its spec says it was trained on (models/arch.py)
    **{f: Domain(trained_on=a.trained_on) for f, a in ARCHS.items() if a.trained_on},
}


def domain_note(model, image: Image.Image | np.ndarray) -> str | None:
    """A plain-words warning when `image` is outside what `model` was trained on, else None."""
    # a bundled model's own entry (mini-CLIP 2), else its family's
    domain = DOMAINS.get(getattr(model, "name", "")) or DOMAINS.get(getattr(model, "family", ""))
    if domain is None or domain.fits is None:
        return None
    im = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image, np.uint8))
    if domain.fits(im):
        return None
    return (f"This image does not look like what {getattr(model, 'label', model.name).split(' · ')[0]} "
            f"was trained on ({domain.trained_on}). Its answer here is a guess with no basis, "
            f"however confident the percentages look. {domain.elsewhere}")
