"""Compare two image–text views (`mi.compare` on two `inspect_clip` results), and the image
pairs that teach: two models on one scene, a scene with and without one object.

    a, b, removed = mi.object_removed_pair(seed=0, index=1)      # world scenes, uint8 arrays
    diff = mi.compare_images("miniclip2", a, ["a red star", "an orange circle"], image_b=b)
    diff = mi.compare_images("miniclip", a, prompts, model_b="miniclip2")
"""
from __future__ import annotations

import numpy as np

from ..explain.compare_align import align_tokens, relative_depth
from ..explain.compare_attention import attention_distance, top_heads
from ..types import ClipView, InputError
from ..types.compare import Comparison
from .availability import exclusive
from .clip import as_clip, inspect_clip


def _unit_maps(view: ClipView) -> np.ndarray | None:
    """float32 [prompt, rows, cols]: each prompt's patch relevance over its own max |value|."""
    if view.maps is None:
        return None
    out = np.stack([m.patch_scores for m in view.maps.maps]).astype(np.float32)
    top = np.abs(out).reshape(len(out), -1).max(1)[:, None, None]
    return out / np.where(top > 0, top, 1.0)


def compare_clip_views(a: ClipView, b: ClipView, k: int = 5) -> Comparison:
    """A against B for the first image of each view, on the same prompts."""
    if a.prompts != b.prompts:
        raise InputError("The two image–text views must score the same prompts to be compared; "
                         f"got {a.prompts} and {b.prompts}.")
    notes = []
    pa, pb = a.probs[0], b.probs[0]                                      # [prompt] each
    ta, tb = int(np.argmax(pa)), int(np.argmax(pb))
    delta = float(pb[ta] - pa[ta])
    prediction = [f"P({a.prompts[ta]}) {pa[ta]:.2f} → {pb[ta]:.2f} ({delta:+.2f}); top prompt: "
                  f"{a.prompts[ta]} → {b.prompts[tb]}."]
    moved = int(np.argmax(np.abs(pb - pa)))
    if moved != ta:
        prediction.append(f"Largest change: P({a.prompts[moved]}) {pa[moved]:.2f} → {pb[moved]:.2f}.")
    al = align_tokens(a.image_tokens, b.image_tokens)
    fields = {}
    if (a.grid_rows, a.grid_cols) == (b.grid_rows, b.grid_cols):
        wa, wb = a.image_attention[0], b.image_attention[0]              # [layer, head, q, k]
        layer_map = relative_depth(len(wa), len(wb))
        if len(wa) != len(wb):
            notes.append(f"A has {len(wa)} image layers and B {len(wb)}: each layer of A is "
                         "compared with the layer of B at the same relative depth.")
        head_js, row_js = attention_distance(wa, wb, al, layer_map)
        fields = dict(layer_map=layer_map, head_js=head_js, row_js=row_js,
                      layer_js=head_js.mean(1), top_heads=top_heads(head_js, k))
    else:
        notes.append(f"A cuts the image into {a.grid_rows}×{a.grid_cols} patches and B into "
                     f"{b.grid_rows}×{b.grid_cols}: their attention is not compared patch by patch.")
    ma, mb = _unit_maps(a), _unit_maps(b)
    if (ma is None) != (mb is None) or (ma is not None and ma.shape != mb.shape):
        notes.append("Only one side carries relevance maps (or the grids differ): maps not compared.")
        ma = mb = None
    return Comparison(kind="image", a=a, b=b, alignment=al, patch_a=ma, patch_b=mb,
                      prediction=prediction, prediction_delta=delta, notes=notes, **fields)


def compare_images(model, image, prompts, image_b=None, model_b=None, maps: bool = True,
                   template: str | None = None, top_k: int = 5) -> Comparison:
    """Inspect `image` with `model` and `image_b` (default: the same image) with `model_b`
    (default: the same model) on the same prompts, then compare: the prediction, the image
    tower's attention per layer and head, and the relevance map of every prompt."""
    views = []
    for m, img in ((model, image), (model if model_b is None else model_b,
                                    image if image_b is None else image_b)):
        adapter = as_clip(m)
        with exclusive(adapter):
            views.append(inspect_clip(adapter, img, prompts, template=template, maps=maps))
    return compare_clip_views(*views, k=top_k)


def object_removed_pair(seed: int = 0, index: int = 1, size: int = 64):
    """(image, the same image without one object, the removed object's name) from the world
    generator mini-CLIP was trained on; the first scene from `index` on where one object can
    be removed cleanly (see miniclip/world_pairs.py)."""
    from ..miniclip.world_pairs import without_object
    for i in range(index, index + 50):
        pair = without_object(seed, i, size)
        if pair is not None:
            full, less, k = pair
            t = full.things[k]
            return full.image, less.image, " ".join(w for w in (t.colour, t.name) if w)
    raise InputError(f"No scene from index {index} to {index + 49} has an object to remove cleanly.")
