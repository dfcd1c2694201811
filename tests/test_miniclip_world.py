"""mini-CLIP 2's world (the data): everyday objects from the emoji font with names
from unicodedata, backgrounds of every kind and hue, 1-4 objects anywhere, overlapping, and
masks that are exactly each object's visible pixels, recomputed here independently."""
from __future__ import annotations

import colorsys
import unicodedata

import numpy as np
import pytest

from mminspect.miniclip import everyday, world
from mminspect.miniclip.scenes import scene_rng

SEED = 4242
N = 160


@pytest.fixture(scope="module")
def scenes():
    return [world.world_scene(SEED, i, size=64) for i in range(N)]


def test_at_least_50_everyday_categories_in_six_groups_with_unicode_names():
    emoji = everyday.all_emoji()
    names = [everyday.name_of(e) for e in emoji]
    assert len(emoji) >= 50 and len(set(names)) == len(names)
    assert set(everyday.CATEGORIES) == {"animal", "food", "vehicle", "tool", "plant", "thing"}
    for e, name in zip(emoji, names):
        official = unicodedata.name(e[0]).lower()
        assert name == everyday.SHORT.get(official, official)
        s = everyday.sprite(e)                                   # [h, w, 4]
        assert (s[..., 3] > 127).mean() > 0.15, f"{name} draws almost nothing"


def test_a_missing_font_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(everyday, "FONT_PATHS", ("/nonexistent/NotoColorEmoji.ttf",))
    monkeypatch.delenv("MMINSPECT_EMOJI_FONT", raising=False)
    with pytest.raises(everyday.FontMissing, match="apt-get install fonts-noto-color-emoji"):
        everyday.font_path()


def test_a_scene_is_a_function_of_seed_and_index(scenes):
    again = world.world_scene(SEED, 7, size=64)
    assert np.array_equal(again.image, scenes[7].image)
    assert np.array_equal(again.masks, scenes[7].masks) and again.things == scenes[7].things
    assert not np.array_equal(world.world_scene(SEED + 1, 7, size=64).image, scenes[7].image)


def _full_cover(t: world.Thing, size: int) -> np.ndarray:
    """The object's own pixels before anything covers it, drawn again here."""
    if t.kind == "shape":
        return world._shape_layer(t, size)
    return world._emoji_layer(t, size)[0]


def test_masks_are_the_visible_pixels_of_each_object(scenes):
    overlapped = 0
    for s in scenes:
        n, size = len(s.things), s.image.shape[0]
        assert s.masks.shape == (n, size, size) and s.masks.sum(0).max() <= 1     # disjoint
        later = np.zeros((size, size), bool)
        for i in reversed(range(n)):                 # front to back: what is in front hides
            full = _full_cover(s.things[i], size)
            assert np.array_equal(s.masks[i], full & ~later)
            assert s.masks[i].sum() >= world.MIN_VISIBLE * full.sum() > 0
            overlapped += int(s.masks[i].sum() < full.sum())
            later |= full
    assert overlapped >= 5                           # overlaps do happen


def test_shape_pixels_are_one_colour_far_from_the_background_and_emoji_are_the_sprite(scenes):
    for s in scenes[:60]:
        size = s.image.shape[0]
        for t, m in zip(s.things, s.masks):
            pixels = s.image[m]                                        # [pixel, 3]
            if t.kind == "shape":
                assert (pixels == pixels[0]).all()
                ring = _ring(m) & ~s.masks.any(0)                      # background next to it
                if ring.sum() >= 8:
                    gap = np.linalg.norm(s.image[ring].mean(0) - pixels[0])
                    assert gap > world.MIN_CONTRAST / 3
            else:
                rgb = world._emoji_layer(t, size)[1]
                assert np.array_equal(pixels, rgb[m])


def _ring(mask: np.ndarray, width: int = 2) -> np.ndarray:
    grown = mask.copy()
    for _ in range(width):
        grown[1:] |= grown[:-1].copy()
        grown[:-1] |= grown[1:].copy()
        grown[:, 1:] |= grown[:, :-1].copy()
        grown[:, :-1] |= grown[:, 1:].copy()
    return grown & ~mask


def test_the_world_is_varied(scenes):
    kinds = {s.background for s in scenes}
    counts = {len(s.things) for s in scenes}
    things = [t for s in scenes for t in s.things]
    assert kinds == set(world.BACKGROUNDS) and counts == {1, 2, 3, 4}
    assert {t.kind for t in things} == {"shape", "everyday"}
    assert len({t.region for t in things}) == 9                      # every region of the 3x3
    hues = set()
    for s in scenes:
        r, g, b = s.image.reshape(-1, 3).mean(0) / 255
        h, _, v = colorsys.rgb_to_hsv(r, g, b)
        hues.add(int(h * 6) % 6)
    assert len(hues) == 6                                            # every hue sector
    assert 0.2 < np.mean([s.tinted for s in scenes]) < 0.95
    sizes = [t.size for t in things]
    assert min(sizes) < 0.2 and max(sizes) > 0.4


def test_names_that_cannot_be_told_apart_never_share_a_scene(scenes):
    for s in scenes:
        keys = [(t.name, t.colour) for t in s.things]
        assert len(set(keys)) == len(keys)


def test_a_generator_per_scene_means_batch_order_does_not_matter():
    a = world.render_world(scene_rng(SEED, 3), 64)
    world.world_scene(SEED, 2)                                       # another draw in between
    b = world.render_world(scene_rng(SEED, 3), 64)
    assert np.array_equal(a.image, b.image)


def test_captions_name_every_object_truthfully(scenes):
    from mminspect.miniclip import world_captions as wc
    rng = np.random.default_rng(0)
    for s in scenes[:80]:
        text = wc.world_caption(s.things, rng)
        named = s.things if len(s.things) <= 3 else None
        for t in (named or ()):
            # the object's name is said (a shape by one of its colour and shape words)
            if t.kind == "everyday":
                assert t.name in text
            else:
                assert any(w in text for w in wc.SHAPE_WORDS[t.name])
                assert any(w in text for w in wc.COLOUR_WORDS[t.colour])
        assert wc.object_captions(s.things) == [wc.object_phrase(t) for t in s.things]
        placed = wc.object_captions(s.things, rng, p_position=1.0)
        assert placed == [f"{wc.object_phrase(t)} {wc.POSITION_WORDS[t.region][0]}"
                          for t in s.things]
    # relations follow the regions: a thing in a higher row is "above"
    a = world.Thing("everyday", "cat", None, "🐈", 0.2, 0.5, 0.1, (0, 1))
    b = world.Thing("shape", "star", "red", None, 0.2, 0.5, 0.9, (2, 1))
    assert wc.relation(a, b) == "above" and wc.relation(b, a) == "below"
    assert wc.relation(a, a) is None


def test_swapped_colours_keep_the_words_and_break_the_binding():
    from mminspect.miniclip import world_captions as wc
    a = world.Thing("shape", "circle", "red", None, 0.2, 0.3, 0.3, (0, 0))
    b = world.Thing("shape", "square", "blue", None, 0.2, 0.7, 0.7, (2, 2))
    true, swap = wc.swapped_colours((a, b))
    assert true == "a red circle and a blue square" and swap == "a blue circle and a red square"
    assert sorted(true.split()) == sorted(swap.split())
    cat = world.Thing("everyday", "cat", None, "🐈", 0.2, 0.5, 0.5, (1, 1))
    assert wc.swapped_colours((a, cat)) is None


def test_mini_clip_2_recipe_runs_and_its_dense_loss_reaches_the_patches():
    """One step of the mini-CLIP 2 recipe on a tiny pool: both losses are finite and the
    object loss alone sends gradient into the patch path (the stem), which is what makes
    patch-text similarity trainable."""
    import torch
    from mminspect.lab import miniclip2_train as t2
    from mminspect.models.miniclip_adapter import minilm_text_tower
    cfg = t2.Train2Config(pool=12, batch=6, steps=1)
    pool = t2.build_pool(cfg, log=lambda s: None)
    n = len(pool.caption_ids)                             # 12 scenes and their colour-swapped twins
    assert len(pool.originals()) == 12 and pool.images.shape == (n, 64, 64, 3) and len(pool.objects) == n
    weights = [w for objs in pool.objects for _, w in objs]
    assert all(w.shape == (64,) and 0 < w.sum() and w.max() <= 1 for w in weights)
    feats = t2.embed_captions(pool.texts, minilm_text_tower("cpu"), log=lambda s: None)
    torch.manual_seed(0)
    model = t2.MiniCLIP(cfg.vit)
    _, parts = t2.step_loss(model, pool, feats, np.arange(6), dense=1.0)
    assert np.isfinite(parts["scene"]) and np.isfinite(parts["objects"])
    only_dense, _ = t2.step_loss(model, pool, feats, np.arange(6), dense=1.0)
    model.zero_grad()
    (only_dense - t2.step_loss(model, pool, feats, np.arange(6), dense=0.0)[0]).backward()
    stem = model.visual.stem[0].weight.grad
    assert stem is not None and stem.abs().sum() > 0


def _twinned(n=400):
    out = []
    for i in range(n):
        rng = scene_rng(SEED + 7, i)
        s = world.render_world(rng, 64)
        twin = world.colour_swapped(s)
        if twin is not None:
            out.append((s, twin, rng))
    return out


def test_a_colour_swapped_twin_changes_only_the_two_shapes_and_swaps_their_colours():
    from mminspect.miniclip import world_captions as wc
    pairs = _twinned()
    assert len(pairs) > 40                                 # about 1 scene in 5 has a pair
    for s, twin, rng in pairs:
        i, j = world.swap_pair(s.things)
        changed = (s.image != twin.image).any(-1)          # [H, W]
        assert not (changed & ~(s.masks[i] | s.masks[j])).any()     # nothing else moved
        assert (twin.image[s.masks[i]] == s.image[s.masks[j]][0]).all()
        assert (twin.image[s.masks[j]] == s.image[s.masks[i]][0]).all()
        assert twin.things[i].colour == s.things[j].colour and twin.things[j].colour == s.things[i].colour
        assert np.array_equal(twin.masks, s.masks) and twin.things[i].name == s.things[i].name
        # the swapped caption is the twin's own caption, worded alike (same draws)
        twin_rng = __import__("copy").deepcopy(rng)
        true, false = wc.swapped_caption(s.things, rng)
        if false is not None:
            assert false == wc.world_caption(twin.things, twin_rng)
            assert len(true.split()) == len(false.split())


def test_the_pool_pairs_each_twin_with_its_scene_and_batches_keep_pairs_together():
    import torch
    from mminspect.lab import miniclip2_train as t2
    from mminspect.models.miniclip_adapter import minilm_text_tower
    cfg = t2.Train2Config(pool=60, batch=16, p_swap=0.5, swaps="twins")
    pool = t2.build_pool(cfg, log=lambda s: None)
    firsts = pool.originals(with_twin=True)
    assert len(firsts) >= 3
    for a in firsts:
        b = pool.twin[a]
        assert pool.twin[b] == a and b not in pool.originals()
        assert pool.caption_ids[b] == pool.negative_ids[a] and pool.negative_ids[b] == pool.caption_ids[a]
    cfg = t2.Train2Config(pool=60, batch=2 * len(firsts) + 4, swaps="twins",
                          p_swap=2 * len(firsts) / (2 * len(firsts) + 4))
    idx = t2.batch_indices(cfg, pool, step=0)
    assert len(idx) == cfg.batch and len(set(idx)) == len(idx)
    assert all(pool.twin[i] in idx for i in idx if pool.twin[i] >= 0)
    # the two-way binding loss is exactly log 2 when the "swap" is the true caption itself
    feats = t2.embed_captions(pool.texts, minilm_text_tower("cpu"), log=lambda s: None)
    torch.manual_seed(0)
    model = t2.MiniCLIP(cfg.vit)
    _, parts = t2.step_loss(model, pool, feats, idx, dense=1.0, bind=1.0)
    assert np.isfinite(parts["binding"]) and parts["binding"] > 0
    pool.negative_ids = np.where(pool.negative_ids >= 0, pool.caption_ids, -1)
    _, parts = t2.step_loss(model, pool, feats, idx, dense=1.0, bind=1.0)
    assert abs(parts["binding"] - np.log(2)) < 1e-4
    # the shipped recipe has no swaps: no negatives, no twins
    plain = t2.build_pool(t2.Train2Config(pool=60), log=lambda s: None)
    assert (plain.negative_ids == -1).all() and (plain.twin == -1).all() and len(plain.twin) == 60
    # the held-out binding monitor: a share of n scenes, each one with a swap
    monitor = t2.BindingMonitor(minilm_text_tower("cpu"), 64, n=10)
    assert monitor.pixels.shape == (10, 3, 64, 64) and 0 <= monitor(model) <= 1


def test_patch_weights_are_the_share_of_each_patch_covered():
    from mminspect.lab.miniclip2_train import patch_weights
    m = np.zeros((64, 64), bool)
    m[0:8, 0:8] = True                    # all of patch (0, 0)
    m[8:12, 8:16] = True                  # half of patch (1, 1)
    w = patch_weights(m, 8)
    assert w[0] == 1.0 and w[9] == 0.5 and w.sum() == 1.5


class _Oracle:
    """An adapter that sees the truth: an image embeds as its shape's colour word, a text as
    the colour word it contains (one-hot), so the colour accuracy must be exactly 1."""

    def __init__(self, colours):
        self.colours = list(colours)

    def _onehot(self, word):
        import torch
        v = torch.zeros(len(self.colours))
        v[self.colours.index(word)] = 1.0
        return v

    def preprocess(self, images):
        return images

    def encode_image(self, scenes):
        import torch
        return torch.stack([self._onehot(s) for s in scenes])

    def encode_text(self, texts):
        import torch
        return torch.stack([self._onehot(next(c for c in self.colours if f" {c} " in f" {t} "))
                            for t in texts])


def test_the_evaluation_scores_an_oracle_perfectly_and_a_liar_at_zero():
    from mminspect.lab import miniclip2_eval as ev
    from mminspect.miniclip.scenes import COLOURS, SHAPES
    scenes = [s for s in (world.world_scene(9, i) for i in range(80))
              if len(s.things) == 1 and s.things[0].kind == "shape"][:12]
    classes = {c: [f"a {c} {sh}" for sh in SHAPES] for c in COLOURS}
    oracle = _Oracle(COLOURS)
    truth = (lambda s: s.things[0].colour)
    oracle.preprocess = lambda images: [truth(s) for s in scenes]
    assert ev._accuracy(oracle, scenes, classes, truth) == 1.0
    wrong = {c: COLOURS[(i + 1) % len(COLOURS)] for i, c in enumerate(COLOURS)}
    oracle.preprocess = lambda images: [wrong[truth(s)] for s in scenes]
    assert ev._accuracy(oracle, scenes, classes, truth) == 0.0


def test_the_evaluation_runs_on_the_bundled_mini_clip():
    from mminspect.lab import miniclip2_eval as ev
    from mminspect.models import load
    m = ev.evaluate(load("miniclip"), n=6)
    for k in ev.TARGETS:
        assert m[k] is None or 0.0 <= m[k] <= 1.0, k
    assert m["eval"] == {"seed": ev.EVAL_SEED, "n": 6, "image_size": 64}


def test_the_binding_probe_runs_on_twins_and_scores_held_out_swaps():
    """lab.binding_probe (the evidence that the frozen text side can bind, docs/miniclip2.md):
    its training pictures come in (scene, colour-swapped twin) pairs with the captions the
    other way round, and its score is a share of held-out scenes."""
    from mminspect.lab import binding_probe as bp
    rows = bp.scenes(bp.TRAIN_SEED, 20, twins=True)
    pairs = [(a, b) for a, b in zip(rows, rows[1:]) if a[1] == b[2] and a[2] == b[1]]
    assert len(pairs) >= 8 and all(sorted(a[0]) != sorted(b[0]) for a, b in pairs)
    out = bp.probe(n_scenes=40, steps=3, log=lambda s: None)
    assert 0 <= out["held_out_binding"] <= 1 and out["n_test"] == 300


def test_the_training_command_writes_weights_and_a_card_the_loader_accepts(tmp_path):
    """`python -m mminspect.lab.miniclip2_train --out DIR` end to end, tiny: the card names
    the weights' SHA-256, the recipe and its provenance, and the adapter opens the folder
    (hash-checked) as it opens the shipped one."""
    import json
    from mminspect.lab import miniclip2_train as t2
    from mminspect.models.bundled import sha256_file
    from mminspect.models.miniclip_adapter import MiniCLIPAdapter
    t2.main(["--pool", "40", "--steps", "2", "--batch", "16", "--eval", "0", "--out", str(tmp_path)])
    card = json.loads((tmp_path / "card.json").read_text())
    assert card["weights"]["sha256"] == sha256_file(tmp_path / t2.WEIGHTS)
    assert card["train"]["steps"] == 2 and card["train"]["swaps"] == "none" and card["metrics"] is None
    assert card["provenance"]["command"].endswith(f"--out {tmp_path}")
    assert "mminspect/miniclip/world.py" in card["provenance"]["code"]["files"]
    model = MiniCLIPAdapter("tiny2", str(tmp_path), "tiny2")
    assert model.card == card and model.patch_grid.rows == 8
