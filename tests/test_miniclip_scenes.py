"""mini-CLIP scene generator and captions: determinism, exact masks, true captions."""
import numpy as np
import pytest

from mminspect.miniclip.captions import (COLOUR_WORDS, POSITION_WORDS, SHAPE_WORDS, caption,
                                         position_prompts, relations, shape_colour_prompts,
                                         swapped_pair)
from mminspect.miniclip.scenes import (BACKGROUND_SAT_MAX, COLOURS, SHAPES, ObjectSpec,
                                       sample_layout, scene, scene_rng)


def _saturation(img: np.ndarray) -> np.ndarray:
    return img.max(-1).astype(int) - img.min(-1).astype(int)      # [H, W]


def test_same_seed_and_index_give_identical_scene():
    a, b = scene(3, 17), scene(3, 17)
    assert np.array_equal(a.image, b.image)
    assert np.array_equal(a.masks, b.masks)
    assert a.objects == b.objects and a.rgbs == b.rgbs


def test_scene_does_not_depend_on_what_was_drawn_before():
    later = scene(3, 5)
    for i in range(5):
        scene(3, i)
    assert np.array_equal(scene(3, 5).image, later.image)


def test_different_seed_or_index_gives_different_scene():
    base = scene(3, 17).image
    assert not np.array_equal(base, scene(4, 17).image)
    assert not np.array_equal(base, scene(3, 18).image)


def test_generator_covers_every_shape_colour_size_and_count():
    scenes = [scene(11, i) for i in range(300)]
    objs = [o for s in scenes for o in s.objects]
    assert {o.shape for o in objs} == set(SHAPES) and len(SHAPES) >= 5
    assert {o.colour for o in objs} == set(COLOURS) and len(COLOURS) == 6
    assert {o.size for o in objs} == {"small", "large"}
    assert {o.position for o in objs} == set(POSITION_WORDS)
    assert {len(s.objects) for s in scenes} == {1, 2, 3}
    # Backgrounds vary: light and dark ones both occur.
    corners = [int(s.image[0, 0].mean()) for s in scenes]
    assert min(corners) < 100 < max(corners)


@pytest.mark.parametrize("index", range(40))
def test_masks_are_exactly_the_drawn_object_pixels(index):
    s = scene(21, index)
    h, w = s.image.shape[:2]
    assert s.masks.shape == (len(s.objects), h, w) and s.masks.dtype == bool
    union = s.masks.any(0)
    assert s.masks.sum(0).max() <= 1, "objects overlap"
    # Backgrounds are low-saturation, objects saturated: the saturated pixels of the image,
    # found without the masks, are exactly the union of the masks.
    assert np.array_equal(_saturation(s.image) > BACKGROUND_SAT_MAX + 20, union)
    for obj, mask, rgb in zip(s.objects, s.masks, s.rgbs):
        assert mask.sum() > 40, f"{obj} drew only {mask.sum()} pixels"
        assert (s.image[mask] == np.array(rgb, np.uint8)).all()
        ys, xs = np.nonzero(mask)                          # the object sits in its cell
        assert int(ys.mean() * 3 // h) == obj.row and int(xs.mean() * 3 // w) == obj.col


def test_large_objects_are_larger_than_small_ones():
    area = {"small": [], "large": []}
    for i in range(60):
        s = scene(5, i)
        for o, m in zip(s.objects, s.masks):
            area[o.size].append(m.sum())
    assert min(area["large"]) > max(area["small"])


def test_layout_never_repeats_a_colour_shape_pair():
    for i in range(200):
        lay = sample_layout(scene_rng(9, i))
        pairs = [(o.shape, o.colour) for o in lay]
        assert len(set(pairs)) == len(pairs)
        assert len({o.position for o in lay}) == len(lay)


@pytest.mark.parametrize("index", range(60))
def test_caption_names_colour_and_shape_of_every_object(index):
    rng = scene_rng(13, index)
    lay = sample_layout(rng)
    text = caption(lay, rng)
    for o in lay:
        assert any(w in text for w in COLOUR_WORDS[o.colour]), (text, o)
        assert any(w in text for w in SHAPE_WORDS[o.shape]), (text, o)


def test_captions_use_synonyms_relations_and_positions():
    texts = [caption(sample_layout(scene_rng(2, i)), scene_rng(2, i)) for i in range(400)]
    joined = " ".join(texts)
    for word in ("crimson", "disc", "above", "to the left of", "in the top left corner", " and "):
        assert word in joined


def test_relation_words_match_the_cells():
    a = ObjectSpec("circle", "red", "small", 0, 0)
    b = ObjectSpec("square", "blue", "large", 2, 1)
    assert relations(a, b) == ["above", "left"]
    assert relations(b, a) == ["below", "right"]


def test_zero_shot_prompts_cover_every_class_once_per_combination():
    sc = shape_colour_prompts()
    assert len(sc) == len(SHAPES) * len(COLOURS) == len({p for _, _, p in sc})
    assert "an orange star" in {p for _, _, p in sc}
    pp = position_prompts()
    assert len(pp) == 9 * len(SHAPES) * len(COLOURS)


def test_swapped_pair_swaps_only_the_colours():
    true, swap = swapped_pair(ObjectSpec("circle", "red", "small", 0, 0),
                              ObjectSpec("square", "blue", "small", 1, 1))
    assert true == "a red circle and a blue square"
    assert swap == "a blue circle and a red square"
