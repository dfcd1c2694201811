"""A new image explainer is its function + one IMAGE_METHODS entry (+ its test): registered
here inside the test only, it is listed, explains an image, enters the sanity check and is
offered by the app's method pickers, with no other file touched."""
from __future__ import annotations

import numpy as np
import pytest

import mminspect as mi
from mminspect.explain import image_methods
from mminspect.explain.image_methods import ImageMethod, MapOutput
from mminspect.explain.image_maps import upsample


def map_brightness(q, params, progress):
    """A toy explainer: each patch's mean brightness (times `gain`), whatever the prompt."""
    px = q.pixels[0].mean(0).detach().cpu().numpy()                         # [H, W]
    g = q.adapter.patch_grid
    rows, cols = g.rows, g.cols
    h, w = px.shape[0] // rows, px.shape[1] // cols
    patches = px[:rows * h, :cols * w].reshape(rows, h, cols, w).mean((1, 3)) * params["gain"]
    return MapOutput(patches, upsample(patches, g), 0.0)


@pytest.fixture
def brightness(monkeypatch):
    from mminspect.explain.attribution.base import Param
    m = ImageMethod("brightness", "Patch brightness (toy)", map_brightness,
                    (Param("gain", 1.0, 0.5, 4.0, 0.5, "Scale of the map."),), prompt=False,
                    description="Mean brightness of each patch.")
    monkeypatch.setitem(image_methods.IMAGE_METHODS, m.name, m)
    return m


def test_a_registered_explainer_is_listed_runs_and_is_sanity_checked(brightness):
    assert "brightness" in [m["name"] for m in mi.list_image_methods()]
    model = mi.load("miniclip")
    ex = mi.load_example(mi.list_examples()[0])
    out = mi.attribute_image(model, ex.image, ex.prompts[0], method="brightness", gain=2.0)
    px = model.preprocess([ex.image])[0].mean(0).numpy()
    g = model.patch_grid
    h = px.shape[0] // g.rows
    by_hand = px[:g.rows * h, :g.cols * h].reshape(g.rows, h, g.cols, h).mean((1, 3)) * 2.0
    np.testing.assert_allclose(out.patch_scores, by_hand, rtol=1e-5, atol=1e-6)
    check = mi.sanity_check(model, method="brightness", image=ex.image, prompt=ex.prompts[0],
                            data=False)
    # the map ignores the weights: re-initialising them cannot change it (it fails the check)
    assert np.allclose(check.spearman, 1.0)


def test_the_app_offers_a_registered_explainer(brightness):
    """The page's image-method pickers are built from the registry: the new method is a
    choice of the image sanity check's boxes."""
    from mminspect.ui import build_app
    from mminspect.ui.i18n import marker
    cfg = build_app().get_config_file()
    # the page shows each label through its translation marker (English / 中文)
    boxes = [c for c in cfg["components"] if c["type"] == "checkboxgroup"
             and c.get("props", {}).get("label") == marker("Image methods to check")]
    assert len(boxes) == 1
    values = [ch[1] if isinstance(ch, (list, tuple)) else ch for ch in boxes[0]["props"]["choices"]]
    labels = [ch[0] if isinstance(ch, (list, tuple)) else ch for ch in boxes[0]["props"]["choices"]]
    assert "brightness" in values and "Patch brightness (toy)" in labels
