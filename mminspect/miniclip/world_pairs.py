"""Pairs of world scenes that teach by contrast: a scene, and the same scene with one object
taken away, pixel for pixel everywhere else.

How the object is taken away without a second drawing: `render_world` draws the background
from the scene's own random stream before any object, so replaying that stream gives the
exact background (checked against every pixel no object covers). The removed object's pixels
are painted with it. Only an object that hides no part of another can be removed cleanly
(otherwise the hidden part would be missing), so the first such object is chosen.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from .scenes import scene_rng
from .world import (BACKGROUNDS, N_OBJECTS_P, WorldScene, _emoji_layer, _shape_layer,
                    background, world_scene)


def _cover(thing, size: int) -> np.ndarray:
    """bool [H, W]: every pixel the object paints, hidden ones included."""
    return _shape_layer(thing, size) if thing.kind == "shape" else _emoji_layer(thing, size)[0]


def _replayed_background(seed: int, index: int, size: int, n_objects: int | None) -> np.ndarray:
    rng = scene_rng(seed, index)                        # the calls render_world makes first
    if n_objects is None:
        rng.choice(4, p=N_OBJECTS_P)
    kind = BACKGROUNDS[rng.integers(len(BACKGROUNDS))]
    return np.round(background(rng, size, kind)).astype(np.uint8)       # [H, W, 3]


def removable(s: WorldScene) -> int | None:
    """The first object whose pixels hide no part of any other object, or None."""
    size = s.image.shape[0]
    covers = [_cover(t, size) for t in s.things]        # [H, W] each, drawn back to front
    for k in range(len(s.things)):
        hidden = [covers[k] & covers[j] & ~s.masks[j] for j in range(k)]  # j's pixels k hides
        if len(s.things) > 1 and not any(h.any() for h in hidden):
            return k
    return None


def without_object(seed: int, index: int, size: int = 64, n_objects: int | None = None
                   ) -> tuple[WorldScene, WorldScene, int] | None:
    """(scene, the scene without one object, the index of that object in `scene.things`), or
    None when no object can be removed cleanly or the background cannot be replayed (the
    scene was redrawn after a failed layout)."""
    s = world_scene(seed, index, size, n_objects)
    k = removable(s)
    if k is None:
        return None
    bg = _replayed_background(seed, index, size, n_objects)              # [H, W, 3]
    free = ~s.masks.any(0)                                               # [H, W]
    if not np.array_equal(bg[free], s.image[free]):
        return None
    img = s.image.copy()
    img[s.masks[k]] = bg[s.masks[k]]
    keep = [i for i in range(len(s.things)) if i != k]
    return s, replace(s, image=img, masks=s.masks[keep], things=tuple(s.things[i] for i in keep)), k
