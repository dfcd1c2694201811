"""The lessons' measures on the two fusion models: concatenation (one stream, `fusion`) and
cross-attention (the captioner, `fusion-caption`), each answer measured live on the real
weights (registered in `lesson_measures.MEASURES`).

- `patches_read_words`: change the caption, keep the picture: do the patch vectors change?
  In one stream the patches attend to the words; a captioner's image encoder runs before any
  word.
- `pointing_contrast`: on the same held-out scenes, how often does an object word's map
  (heads averaged, best layer) peak on that object, in each model?
- `attention_vs_ablation`: for the [MASK] of a caption, the head that reads the picture most
  against the head whose removal hurts the answer most.
"""
from __future__ import annotations

import numpy as np
import torch

from ..capture.heads import capture_residual
from ..explain.pointing import energy_in_mask, pointing_hit
from ..fusion import words as W
from ..fusion.data import world_scenes
from ..models.clip_base import PatchGrid
from .lesson_types import LessonError, LessonState, Measured

CHANGED = ("in both models", "only in the concatenation model", "only in the cross-attention captioner",
           "in neither")
WHICH = ("the concatenation model", "the cross-attention captioner", "about the same")
SAME = ("the same head", "a different head")
SCENES, SEED, STREAM = 40, 5100, 4          # the concatenation card's pointing scenes (held out)
CAPTIONER = "fusion-caption"


def _example_image(st: LessonState) -> np.ndarray:
    from .fusion import fusion_example
    if not st.example:
        raise LessonError("a fusion lesson needs example = a world scene (api.list_fusion_examples)")
    return fusion_example(st.example).image


def _patch_states(adapter, image, caption: str) -> torch.Tensor:
    """The last layer's output at the 64 patch positions [patch, D]."""
    _, tokens, pixels, ids = adapter.inputs(image, caption)
    with torch.no_grad(), capture_residual(adapter.blocks()) as resid:
        adapter.forward(pixels, ids)
    return resid[adapter.n_layers - 1][0, len(tokens):]


def patches_read_words(adapter, st: LessonState) -> Measured:
    """Relative change of the patch vectors when the caption changes, in each model."""
    from ..models import load
    if not st.compare_to:
        raise LessonError("patches_read_words needs compare_to = a second caption")
    image = _example_image(st)
    a, b = (_patch_states(adapter, image, t) for t in (st.text, st.compare_to))
    concat = float((a - b).norm() / a.norm())
    _, _, pixels, ids = adapter.inputs(image, st.text)
    attns = adapter.forward(pixels, ids)[2]
    n = ids.shape[1]
    to_words = float(np.mean([float(x[0, :, n:, :n].sum(-1).mean()) for x in attns]))
    cap = load(CAPTIONER)
    seen = cap.image_array(image)
    with torch.no_grad():                  # the captioner's patch vectors: its memory
        mem = [cap.model.memory(cap.pixels(seen)) for _ in (st.text, st.compare_to)]
        for m, text in zip(mem, (st.text, st.compare_to)):
            words = [w for w in W.tokenize(text) if w in cap.vocabulary()]
            cap.model.decode(cap.prefix_ids(words), m)       # the decoder reads, never writes it
    cross = float((mem[0] - mem[1]).abs().max())
    answer = CHANGED[0] if cross > 1e-6 and concat > 1e-6 else (
        CHANGED[1] if concat > 1e-6 else CHANGED[2] if cross > 1e-6 else CHANGED[3])
    text = (f"Concatenation: the last layer's 64 patch vectors move by {100 * concat:.1f} % "
            f"(‖change‖ ÷ ‖vectors‖) when “{st.text}” becomes “{st.compare_to}”; in every "
            f"layer the patches put {100 * to_words:.1f} % of their attention on the words "
            f"(image→text block, heads averaged). Cross-attention captioner: its patch vectors "
            f"come from the image encoder alone, before any word, and differ by {cross:.1g} "
            "between the two captions; the words read them, they never read the words.")
    return Measured(answer=answer, value=concat, text=text, choices=(),
                    evidence={"tokens": ["concatenation", "cross-attention captioner"],
                              "series": {"change of the patch vectors (share)": np.array([concat, cross]),
                                         "patches' attention on words (share)": np.array([to_words, 0.0])},
                              "title": "Change the caption: do the patch vectors change?"})


def _unique_objects(things) -> dict[str, int]:
    """name -> object index, for names that appear once in the scene."""
    names = [t.name for t in things]
    return {n: i for i, n in enumerate(names) if names.count(n) == 1}


def _score_maps(maps: np.ndarray, mask: np.ndarray, grid: PatchGrid, hits, energy) -> None:
    """maps [layer, patch] of one word against its object's mask, appended per layer."""
    for layer, m in enumerate(maps):
        m = m.reshape(grid.rows, grid.cols)
        hits[layer].append(pointing_hit(m, mask, grid))
        energy[layer].append(energy_in_mask(m, mask, grid))


def _best(hits, energy) -> tuple[float, float, int, int]:
    rates = [float(np.mean(h)) if h else 0.0 for h in hits]
    best = int(np.argmax(rates))
    return rates[best], float(np.mean(energy[best])) if energy[best] else 0.0, best, len(hits[0])


def pointing_contrast(adapter, st: LessonState) -> Measured:
    """Pointing of object words, heads averaged, best layer: concatenation (the true caption
    read in one stream, every object word: the card's rule) against the captioner (the words
    it writes whose name is one object's alone), on the same scenes."""
    from ..models import load
    from .fusion_caption import caption_scene
    cap = load(CAPTIONER)
    cfg = adapter.cfg
    grid = PatchGrid(rows=cfg.grid, cols=cfg.grid, patch_size=cfg.patch,
                     image_size=(cfg.image_size, cfg.image_size), has_cls=False)
    ch, ce = [[] for _ in range(cfg.depth)], [[] for _ in range(cfg.depth)]
    xh, xe = [[] for _ in range(cap.n_layers)], [[] for _ in range(cap.n_layers)]
    for rng, s in world_scenes(SEED, SCENES, cfg.image_size, stream=STREAM, n_objects=2):
        names = _unique_objects(s.things)
        c = W.caption(s.things, rng)
        _, tokens, pixels, ids = adapter.inputs(s.image, c.text)
        attns = adapter.forward(pixels, ids)[2]
        n = len(tokens)
        for pos in W.content_positions(c, "shape") + W.content_positions(c, "thing"):
            maps = np.stack([a[0, :, pos + 1, n:].mean(0).cpu().numpy() for a in attns])  # +1: [CLS]
            _score_maps(maps, s.masks[c.objects[pos]], grid, ch, ce)     # the card's rule
        view = caption_scene(cap, s.image)
        for t, word in enumerate(view.steps):
            if W.role_of(word) in ("shape", "thing") and word in names:
                _score_maps(view.cross[:, :, t].mean(1), s.masks[names[word]], grid, xh, xe)
    concat, cross = _best(ch, ce), _best(xh, xe)
    by_layer = {"concatenation": [float(np.mean(h)) for h in ch],
                "cross-attention": [float(np.mean(h)) if h else 0.0 for h in xh]}
    gap = cross[0] - concat[0]
    answer = WHICH[2] if abs(gap) < 0.05 else WHICH[1] if gap > 0 else WHICH[0]
    text = (f"On {SCENES} held-out two-object scenes (seed {SEED}, never trained on): the "
            f"concatenation model's object words point at their object {100 * concat[0]:.0f} % of "
            f"the time ({concat[3]} words, best layer {concat[2]}, energy in mask "
            f"{concat[1]:.2f}); the captioner's {100 * cross[0]:.0f} % ({cross[3]} words it wrote, "
            f"best layer {cross[2]}, energy in mask {cross[1]:.2f}). Heads averaged; a hit: the "
            "map's largest patch touches the object's exact mask.")
    return Measured(answer=answer, value=gap, text=text, choices=(),
                    evidence={"tokens": ["concatenation", "cross-attention captioner"],
                              "series": {"pointing (share of words)": np.array([concat[0], cross[0]]),
                                         "energy in mask": np.array([concat[1], cross[1]])},
                              "title": "Does an object word's map peak on its object?",
                              "pointing_by_layer": by_layer})


def attention_vs_ablation(adapter, st: LessonState) -> Measured:
    """The [MASK]'s most image-reading head against the head whose removal hurts most."""
    from .fusion_causal import fusion_head_importance
    image = _example_image(st)
    _, tokens, pixels, ids = adapter.inputs(image, st.text)
    if W.MASK not in tokens:
        raise LessonError("attention_vs_ablation needs a caption with [MASK]")
    pos, n = tokens.index(W.MASK), len(tokens)
    attns = adapter.forward(pixels, ids)[2]
    share = np.stack([a[0, :, pos, n:].sum(-1).cpu().numpy() for a in attns])    # [layer, head]
    imp = fusion_head_importance(adapter, image, st.text)
    reader = np.unravel_index(int(np.argmax(share)), share.shape)
    hurts = np.unravel_index(int(np.argmin(imp.delta)), share.shape)
    name = lambda h: f"L{h[0]}H{h[1]}"                                    # noqa: E731
    answer = SAME[0] if reader == hurts else SAME[1]
    text = (f"The head that reads the picture most for [MASK] is {name(reader)}: "
            f"{100 * share[reader]:.0f} % of its weight on the 64 patches; removing it alone moves "
            f"{imp.target} by {imp.delta[reader]:+.3f} (from {imp.before:.3f}). The head whose "
            f"removal hurts most is {name(hurts)} ({imp.delta[hurts]:+.3f}), with "
            f"{100 * share[hurts]:.0f} % of its weight on the patches.")
    labels = [f"L{a}H{b}" for a in range(share.shape[0]) for b in range(share.shape[1])]
    return Measured(answer=answer, value=float(imp.delta[reader]), text=text, choices=(),
                    evidence={"tokens": labels,
                              "series": {"[MASK]'s attention on the patches": share.ravel(),
                                         "drop of the answer when removed": -imp.delta.ravel()},
                              "title": "Each head: how much [MASK] reads the picture, and what removing it costs"})
