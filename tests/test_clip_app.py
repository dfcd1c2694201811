"""The Image–text tab: handlers without a server, the endpoint through gradio_client."""
from __future__ import annotations

import json

import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

import mminspect as mi
from mminspect.ui import clip_tab
from mminspect.ui.context import default_context

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


def test_inspect_handler_fills_every_panel_and_matches_the_api(tiny_clip):
    ex = mi.load_example(EXAMPLE)
    out = clip_tab.make_on_inspect(default_context())(
        "miniclip", tiny_clip, ex.image, None, "\n".join(ex.prompts) + "\n\n", "", EXAMPLE)
    state, probs, summary, notes, steps, matrix, rel, sims, words, pca, contrast, contrast_md = out[:12]
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
    state = {"expl": expl}
    image, md = clip_tab.redraw_contrast(state, ex.prompts[0], ex.prompts[1])
    same, _ = clip_tab.redraw_contrast(state, ex.prompts[1], ex.prompts[0])
    assert not np.array_equal(image, same)                       # A-B and B-A colour differently
    with pytest.raises(Exception, match="Pick two of the prompts"):
        clip_tab.redraw_contrast(state, "a cat", ex.prompts[0])


def test_clicking_the_attention_image_picks_the_patch_under_the_pointer(tiny_clip):
    ex = mi.load_example(EXAMPLE)
    view = mi.inspect_clip(tiny_clip, ex.image, ex.prompts[:2])
    state = {"view": view}
    size = clip_tab.cfig.upscale(view.images[0]).shape[0]
    cell = size // view.grid_rows
    evt = type("Evt", (), {"index": [2 * cell + 1, 3 * cell + 1]})()   # column 2, row 3
    update = clip_tab.on_patch_select(state, evt)
    assert update["value"] == "r3c2"
    img = clip_tab.redraw_attention(state, 0, 0, "r3c2")
    assert img.shape[:2] == (size, size)


def test_every_method_runs_with_faithfulness_and_pointing_on_a_scene(tiny_clip):
    ex = mi.load_example(EXAMPLE)
    ctx = default_context()
    out = clip_tab.make_on_inspect(ctx)("miniclip", tiny_clip, ex.image, None,
                                        "\n".join(ex.prompts[:2]), "", EXAMPLE)
    gallery, table = clip_tab.make_on_all_methods(ctx)("miniclip", tiny_clip, out[0], "a red star")
    assert len(gallery) == len(mi.list_image_methods())
    assert table.count("<tr>") == len(gallery) + 1 and "deletion area" in table


def test_clip_endpoint_through_gradio_client(app_url, tiny_clip, tmp_path):
    client = Client(app_url, verbose=False)
    ex = mi.load_example(EXAMPLE)
    path = tmp_path / "scene.png"
    ex.image.save(path)
    out = client.predict("miniclip", tiny_clip, handle_file(str(path)), [], "a red star\na green star",
                         "", None, api_name="/inspect_clip")
    probs, summary = out[0], out[1]
    view = mi.inspect_clip(tiny_clip, ex.image, ["a red star", "a green star"])
    got = {c["label"]: c["confidence"] for c in probs["confidences"]}
    assert got == pytest.approx(dict(zip(view.prompts, view.probs[0].tolist())), abs=1e-5)
    assert json.loads(out[3]["plot"])["data"][0]["type"] == "bar"
    with pytest.raises(AppError, match="prompt"):
        client.predict("miniclip", tiny_clip, handle_file(str(path)), [], "\n \n", "", None,
                       api_name="/inspect_clip")


def test_the_pointing_table_says_where_it_came_from_and_whether_it_is_current(tmp_path, monkeypatch):
    import shutil

    from mminspect.models import miniclip_adapter
    shutil.copy(miniclip_adapter.MINICLIP_DIR / "card.json", tmp_path / "card.json")
    monkeypatch.setattr(miniclip_adapter, "MINICLIP_DIR", tmp_path)
    assert "No pointing-game table" in clip_tab.pointing_markdown()
    sha = json.loads((tmp_path / "card.json").read_text())["weights"]["sha256"]
    record = {"model": "miniclip", "n": 200, "seed": 7, "weights_sha256": sha, "command": "cmd",
              "results": {"relevance": {"hit_rate": 0.95, "n": 200, "seconds": 0.01},
                          "rollout": {"hit_rate": 0.5, "n": 200, "seconds": 0.01}, "chance": 0.1}}
    (tmp_path / "pointing.json").write_text(json.dumps(record))
    md = clip_tab.pointing_markdown()
    assert "| relevance | 95.0 % |" in md and md.index("relevance") < md.index("rollout")
    assert "chance 10.0 %" in md and "⚠️" not in md
    record["weights_sha256"] = "0" * 64
    (tmp_path / "pointing.json").write_text(json.dumps(record))
    assert "measured on other weights" in clip_tab.pointing_markdown()
