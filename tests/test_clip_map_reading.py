"""Maps that read right at a glance (the Image–text tab's "Why this label"): on every bundled
example scene of both mini-CLIPs, the best match's map comes first and, as drawn, colours the
object it names more than any other object; the shared colour scale says why the winner may be
dimmer there; flat word maps say so; prompts with unknown characters are flagged; a rejected
or cleared upload leaves nothing to analyse; the tab's first view is mini-CLIP 2's example."""
from __future__ import annotations

import numpy as np
import pytest

import mminspect as mi
from mminspect.api.images import model_mask
from mminspect.explain.pointing import pointing_hit
from mminspect.figures import clip as cfig
from mminspect.ui import clip_tab, clip_views
from mminspect.ui.context import default_context

SCENES = [t for t in mi.list_examples() if mi.load_example(t).masks]


def _model_of(title: str) -> str:
    return mi.load_example(title).model or "miniclip"


LUMA = np.array([0.299, 0.587, 0.114])


def drawn_strength(gallery_image: np.ndarray, base: np.ndarray, scores: np.ndarray,
                   mask: np.ndarray) -> float:
    """How much the drawn map lights up `mask`, as on screen: the mean brightness of the
    gallery picture (colour bar and caption band cut off) above the same picture drawn with
    an all-zero map (the dimmed image alone). mask: bool at the model's input size."""
    plain = cfig.overlay(base, np.zeros_like(scores), legend=False).astype(float)
    k = plain.shape[0] // mask.shape[0]
    big = np.repeat(np.repeat(mask, k, 0), k, 1)                         # [H', W']
    drawn = gallery_image[:plain.shape[0], :plain.shape[1]].astype(float)
    return float(((drawn - plain) @ LUMA)[big].mean())


@pytest.mark.parametrize("title", SCENES)
def test_the_best_match_map_shows_its_own_object_first_and_strongest(title):
    """The measure of "a student identifies the predicted object from the map alone": the
    winner's map is first, its peak patch lies on the winning object, and as drawn it colours
    that object more than every other object of the scene."""
    ex = mi.load_example(title)
    model = mi.load(_model_of(title))
    out = clip_tab.on_inspect(default_context(), model.name, "", ex.image, None,
                              "\n".join(ex.prompts), "", title)
    view = out["state"]["view"]
    best = view.prompts[int(np.argmax(view.probs[0]))]
    image, caption = out["rel"][0]
    assert caption.startswith(f"★ {best} · p = "), caption
    if best not in ex.masks:
        pytest.fail(f"{title}: the best match {best!r} names no object of the scene")
    size = model.patch_grid.image_size
    masks = {p: model_mask(m, ex.image, size) for p, m in ex.masks.items()}
    scores = out["state"]["expl"].maps[view.prompts.index(best)].patch_scores
    assert pointing_hit(scores, masks[best], model.patch_grid), f"{title}: peak off {best!r}"
    base = out["state"]["expl"].maps[0].image
    own = drawn_strength(image, base, scores, masks[best])
    for other, mask in masks.items():
        if other != best:
            assert own > drawn_strength(image, base, scores, mask), (title, best, other)


def test_on_one_shared_scale_the_view_says_why_the_winner_is_dimmer():
    title = next(t for t in SCENES if "light bulb" in t)
    ex = mi.load_example(title)
    out = clip_tab.on_inspect(default_context(), "miniclip2", "", ex.image, None,
                              "\n".join(ex.prompts), "", title)
    state = out["state"]
    peaks = {m.prompt: float(np.abs(m.patch_scores).max()) for m in state["expl"].maps}
    best = out["rel"][0][1].split(" · ")[0].lstrip("★ ")
    own = clip_views.redraw_relevance(None, state, "own")
    shared = clip_views.redraw_relevance(None, state, "shared")
    brightest = max(peaks, key=peaks.get)
    assert brightest != best                      # the case the note is for
    assert f"**{brightest}**" in shared["rel_note"] and "gradients" in shared["rel_note"]
    assert "own scale" in own["rel_note"] and "own scale" in out["rel_note"]
    # the shared scale dims the winner's map; its own scale draws it at full strength
    assert [c for _, c in own["rel"]] == [c for _, c in shared["rel"]]
    m = state["expl"].maps[state["view"].prompts.index(best)]
    mask = model_mask(ex.masks[best], ex.image, mi.load("miniclip2").patch_grid.image_size)
    on_own = drawn_strength(own["rel"][0][0], m.image, m.patch_scores, mask)
    on_shared = drawn_strength(shared["rel"][0][0], m.image, m.patch_scores, mask)
    assert on_own > 0 and on_own > on_shared, (on_own, on_shared)
    assert clip_views.redraw_relevance(None, None, "shared") == {}


def test_word_maps_without_contrast_say_so():
    flat = cfig.word_relevance_html(["a", "snail"], np.array([0.36, 0.46], np.float32))
    assert "weigh about the same" in flat and "0.36 to 0.46" in flat
    varied = cfig.word_relevance_html(["a", "snail"], np.array([0.05, 0.46], np.float32))
    assert "weigh about the same" not in varied
    assert "weigh about the same" not in cfig.word_relevance_html(["snail"], np.array([0.4]))


def test_prompts_with_unknown_characters_are_flagged_by_name():
    ex = mi.load_example(SCENES[0])
    view = mi.inspect_clip("miniclip", ex.image, ["a red star 🐌", "红色 star", "a green star"])
    notes = " ".join(view.notes)
    assert "'🐌'" in notes and "[UNK]" in notes, view.notes
    # a Chinese prompt: one line that names the prompt and the model that reads Chinese
    chinese = [n for n in view.notes if "cannot read Chinese" in n]
    assert len(chinese) == 1 and "'红色 star'" in chinese[0], view.notes
    assert "chinese-clip-vit-base-patch16" in chinese[0]
    assert not any("红" in n for n in view.notes if n not in chinese)
    plain = mi.inspect_clip("miniclip", ex.image, ["a red star", "a green star"])
    assert not any("[UNK]" in n for n in plain.notes)


def test_a_rejected_upload_empties_the_preview_and_inspect_then_refuses():
    ctx = default_context()
    out = clip_tab.on_upload(ctx, b"my lesson notes, not a picture")
    assert out["image"] is None and out["preview"] is None and out["example"] is None
    assert "Could not read the uploaded image" in out["message"]
    with pytest.raises(mi.InputError, match="No image to inspect"):
        clip_tab.on_inspect(ctx, "miniclip", "", out["image"], None, "a cat", "", None)
    # the box cleared by its ×: an upload goes; an example (the box was emptied) stays
    assert clip_tab.on_upload_clear(ctx, None) == {"image": None, "preview": None}
    assert clip_tab.on_upload_clear(ctx, SCENES[0]) == {}


def test_the_first_view_is_mini_clip_2_on_an_everyday_example_computed_once():
    ctx = default_context()
    title, model = clip_tab.first_example(ctx)
    ex = mi.load_example(title)
    assert model == "miniclip2" and ex.model == "miniclip2"
    prompts = "\n".join(ex.prompts)
    out = clip_tab.on_first_view(ctx, None, model, "", title, prompts, "", title, "own")
    assert out["rel"][0][1].startswith("★ ") and "mini-CLIP 2" in out["summary"]
    view = out["state"]["view"]
    again = clip_tab.on_first_view(ctx, None, model, "", title, prompts, "", title, "own")
    assert again["state"]["view"] is view                      # kept, not computed again
    # a run already shown, or any input changed (a link, an edit): nothing is drawn
    assert clip_tab.on_first_view(ctx, out["state"], model, "", title, prompts, "", title,
                                  "own") == {}
    assert clip_tab.on_first_view(ctx, None, model, "", title, prompts + "\na cat", "", title,
                                  "own") == {}
    assert clip_tab.on_first_view(ctx, None, "miniclip", "", title, prompts, "", title,
                                  "own") == {}
