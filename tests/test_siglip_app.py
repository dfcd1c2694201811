"""The Image–text tab on a SigLIP model (tiny random build, opened as a custom local folder):
the summary and the steps figure say scale + bias -> sigmoid per prompt, the label shows the
independent probabilities, every image method runs, the [POOL] token's attention is the
pooling head's."""
from __future__ import annotations

import numpy as np
import pytest

import mminspect as mi
from mminspect.ui import clip_methods, clip_tab, clip_views
from mminspect.ui.context import default_context

from clip_tiny import tiny_hf_siglip_dir

EXAMPLE = "scene 1: a red star and a green star"


@pytest.fixture(scope="module")
def siglip(tmp_path_factory):
    return str(tiny_hf_siglip_dir(tmp_path_factory))


@pytest.fixture(scope="module")
def inspected(siglip):
    ex = mi.load_example(EXAMPLE)
    out = clip_tab.on_inspect(default_context(), "miniclip", siglip, ex.image, None,
                              "\n".join(ex.prompts[:3]), "", EXAMPLE)
    return ex, out


def test_the_tab_shows_the_sigmoid_chain_and_independent_probabilities(siglip, inspected):
    ex, out = inspected
    view = mi.inspect_clip(siglip, ex.image, ex.prompts[:3])
    probs = out["label"]
    np.testing.assert_allclose(list(probs.values()), view.probs[0], atol=1e-5)
    assert "a sigmoid per prompt" in out["summary"] and "+ bias -3.0" in out["summary"]
    assert f"sum to {view.probs[0].sum():.2f} here, not to 1" in out["summary"]
    steps = out["steps"]
    for bars, values in zip(steps.data, (view.cosine[0], view.logits[0], view.probs[0])):
        np.testing.assert_allclose(np.asarray(bars.x, float), values, atol=1e-5)
    assert "sigmoid of each logit" in steps.layout.annotations[2].text
    assert len(out["rel"]) == len(out["sims"]) == 3


def test_the_pool_tokens_attention_is_the_pooling_heads(siglip, inspected):
    ex, out = inspected
    state, ctx = out["state"], default_context()
    view = state["view"]
    assert view.image_tokens[0] == "[POOL]"
    last = view.image_attention.shape[1] - 1                 # the pooling head's "layer"
    img = clip_views.redraw_attention(ctx, state, last, 0, "[POOL]")["patches"]
    assert img.dtype == np.uint8 and img.shape[2] == 3
    row = view.image_attention[0, last, 0, 0, 1:]             # the probe over the patches
    assert abs(row.sum() - 1) < 1e-5 and row.min() > 0
    first = view.image_attention[0, 0, 0, 0]                  # inside the encoder: a placeholder
    assert first[0] == 1 and not first[1:].any()
    size = clip_tab.cfig.upscale(view.images[0]).shape[0]
    cell = size // view.grid_rows
    evt = type("Evt", (), {"index": [2 * cell + 1, 3 * cell + 1]})()
    assert clip_views.on_patch_select(ctx, state, evt)["query"]["value"] == "r3c2"


def test_every_image_method_runs_on_siglip(siglip, inspected):
    ex, out = inspected
    ctx = default_context()
    res = clip_methods.on_all_methods(ctx, "miniclip", siglip, out["state"], ex.prompts[0])
    gallery, table = res["method_maps"], res["method_table"]
    assert len(gallery) == len(mi.list_image_methods())
    assert table.count("<tr>") == len(gallery) + 1 and "deletion area" in table
