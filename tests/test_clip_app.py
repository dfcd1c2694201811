"""The Image–text tab: handlers without a server, the endpoint through gradio_client."""
from __future__ import annotations

import json

import numpy as np
import pytest
from gradio_client import Client, handle_file

import mminspect as mi
from mminspect.ui import clip_methods, clip_tab, clip_views
from mminspect.ui.context import default_context

from app_outputs import unchanged
from clip_tiny import tiny_hf_clip_dir

EXAMPLE = "scene 1: a red star and a green star"


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    return str(tiny_hf_clip_dir(tmp_path_factory))


def test_examples_carry_true_masks_for_the_objects_they_name():
    ex = mi.load_example(EXAMPLE)
    assert ex.prompts[:2] == ["a red star", "a green star"]
    image = np.asarray(ex.image)
    red = image[ex.masks["a red star"]].mean(0)
    assert red[0] > 150 and red[1] < 100                         # the masked pixels are red
    assert len(mi.list_examples()) >= 8


def test_a_mini_clip_2_example_picks_its_model_and_the_others_leave_the_model_alone():
    ctx = default_context()
    world = [t for t in mi.list_examples() if t.startswith("mini-CLIP 2")]
    out = clip_tab.on_example(ctx, world[0])
    ex = mi.load_example(world[0])
    assert out["model"] == "miniclip2" and out["custom"] == ""
    assert out["prompts"] == "\n".join(ex.prompts) and out["example"] == world[0]
    # each object's mask: the pixels of that object only (the scene's own masks, no overlap)
    stacked = np.stack(list(ex.masks.values()))
    assert stacked.any((1, 2)).all() and stacked.sum(0).max() == 1
    for title in (EXAMPLE, "photo: Chelsea the cat"):
        assert "model" not in clip_tab.on_example(ctx, title)


def test_inspect_handler_fills_every_panel_and_matches_the_api(tiny_clip):
    ex = mi.load_example(EXAMPLE)
    out = clip_tab.on_inspect(default_context(), "miniclip", tiny_clip, ex.image, None,
                              "\n".join(ex.prompts) + "\n\n", "", EXAMPLE)
    state, probs, notes, steps = out["state"], out["label"], out["notes"], out["steps"]
    rel, sims, words, contrast, contrast_md = (out[k] for k in ("rel", "sims", "words", "contrast",
                                                                 "contrast_md"))
    # every prompt dropdown is filled (a shared update object used to leave all but one empty)
    for key in ("a", "b", "method_prompt", "text_prompt"):
        assert list(out[key]["choices"]) == ex.prompts, key
    view = mi.inspect_clip(tiny_clip, ex.image, ex.prompts)
    assert list(probs) == ex.prompts
    np.testing.assert_allclose(list(probs.values()), view.probs[0], atol=1e-5)
    assert len(rel) == len(sims) == len(ex.prompts) and rel[0][0].dtype == np.uint8
    assert all(m.prompt in words for m in state["expl"].maps)
    best, second = np.argsort(-view.probs[0])[:2]
    diff = view.logits[0, best] - view.logits[0, second]
    assert f"{diff:+.3f}" in contrast_md and contrast.shape[2] == 3
    for bars, values in zip(steps.data, (view.cosine[0], view.logits[0], view.probs[0])):
        np.testing.assert_allclose(np.asarray(bars.x, float), values, atol=1e-5)   # the 3 steps
    assert "resized from 64x64" in notes


def test_contrast_is_the_difference_of_two_relevance_maps(tiny_clip):
    ex = mi.load_example(EXAMPLE)
    expl = mi.explain_prompts(tiny_clip, ex.image, ex.prompts[:2])
    state, ctx = {"expl": expl}, default_context()
    image = clip_views.redraw_contrast(ctx, state, ex.prompts[0], ex.prompts[1])["contrast"]
    same = clip_views.redraw_contrast(ctx, state, ex.prompts[1], ex.prompts[0])["contrast"]
    assert not np.array_equal(image, same)                       # A-B and B-A colour differently
    with pytest.raises(mi.InputError, match="Pick two of the prompts"):
        clip_views.redraw_contrast(ctx, state, "a cat", ex.prompts[0])
    with pytest.raises(mi.InputError, match="same prompt"):
        clip_views.redraw_contrast(ctx, state, ex.prompts[0], ex.prompts[0])


def test_clicking_the_attention_image_picks_the_patch_under_the_pointer(tiny_clip):
    ex = mi.load_example(EXAMPLE)
    view = mi.inspect_clip(tiny_clip, ex.image, ex.prompts[:2])
    state = {"view": view}
    size = clip_tab.cfig.upscale(view.images[0]).shape[0]
    cell = size // view.grid_rows
    evt = type("Evt", (), {"index": [2 * cell + 1, 3 * cell + 1]})()   # column 2, row 3
    ctx = default_context()
    update = clip_views.on_patch_select(ctx, state, evt)["query"]
    assert update["value"] == "r3c2"
    img = clip_views.redraw_attention(ctx, state, 0, 0, "r3c2")["patches"]
    assert img.shape[:2][1] == size and img.shape[0] > size     # the image, then its colour bar
    below = type("Evt", (), {"index": [5, size + 3]})()          # a click on the colour bar
    assert clip_views.on_patch_select(ctx, state, below) == {}


def test_every_method_runs_with_faithfulness_and_pointing_on_a_scene(tiny_clip):
    ex = mi.load_example(EXAMPLE)
    ctx = default_context()
    out = clip_tab.on_inspect(ctx, "miniclip", tiny_clip, ex.image, None,
                              "\n".join(ex.prompts[:2]), "", EXAMPLE)
    res = clip_methods.on_all_methods(ctx, "miniclip", tiny_clip, out["state"], "a red star")
    gallery, table = res["method_maps"], res["method_table"]
    assert len(gallery) == len(mi.list_image_methods())
    assert table.count("<tr>") == len(gallery) + 1 and "deletion area" in table
    # the tiny CLIP's input is not 64 px, and the scene's mask still gives a hit or a miss
    assert "—" not in table and table.count("✅") + table.count("❌") == len(gallery)
    # the pointing table under it is the one for the model that ran (the tiny CLIP has none)
    assert "No pointing-game table shipped for" in res["pointing_md"]


def test_clip_endpoint_through_gradio_client(app_url, tiny_clip, tmp_path):
    client = Client(app_url, verbose=False)
    ex = mi.load_example(EXAMPLE)
    path = tmp_path / "scene.png"
    ex.image.save(path)
    out = client.predict("miniclip", tiny_clip, handle_file(str(path)), "a red star\na green star",
                         "", api_name="/inspect_clip")
    probs = out[0]
    view = mi.inspect_clip(tiny_clip, ex.image, ["a red star", "a green star"])
    got = {c["label"]: c["confidence"] for c in probs["confidences"]}
    assert got == pytest.approx(dict(zip(view.prompts, view.probs[0].tolist())), abs=1e-5)
    assert json.loads(out[3]["plot"])["data"][0]["type"] == "bar"
    out = client.predict("miniclip", tiny_clip, handle_file(str(path)), "\n \n", "",
                         api_name="/inspect_clip")
    assert "prompt" in out[-1] and all(unchanged(v) for v in out[:-1])
    broken = tmp_path / "broken.png"
    broken.write_text("this is text, not an image")
    out = client.predict("miniclip", tiny_clip, handle_file(str(broken)), "a red star", "",
                         api_name="/inspect_clip")
    assert "Could not read the image" in out[-1] and all(unchanged(v) for v in out[:-1])


def test_the_pointing_table_says_where_it_came_from_its_parameters_and_whether_it_is_current(
        monkeypatch):
    from mminspect import api
    monkeypatch.setattr(api, "pointing_results", lambda model="miniclip", wait=True: None)
    assert "No pointing-game table" in clip_methods.pointing_markdown()
    record = {"n": 200, "seed": 7, "command": "python -m mminspect.lab.pointing --n 200",
              "params": {"integrated_gradients": {"n_steps": 32}, "relevance": {}},
              "current": True, "stale_reason": None, "date": "2026-11-29",
              "results": {"relevance": {"hit_rate": 0.95, "n": 200, "seconds": 0.01},
                          "rollout": {"hit_rate": 0.5, "n": 200, "seconds": 0.01}, "chance": 0.1}}
    monkeypatch.setattr(api, "pointing_results", lambda model="miniclip", wait=True: record)
    md = clip_methods.pointing_markdown()
    assert "| Relevance (Chefer et al. 2021) | 95.0 % |" in md
    assert md.index("Relevance") < md.index("Attention rollout")
    assert "chance 10.0 %" in md and "⚠️" not in md and "python -m mminspect.lab.pointing" in md
    assert "Integrated Gradients" in md and "steps along the path 32" in md   # its parameters
    monkeypatch.setattr(api, "pointing_results",
                        lambda model="miniclip", wait=True: record | {"current": False, "stale_reason": "the code changed"})
    assert "⚠️ stale: the code changed" in clip_methods.pointing_markdown()
