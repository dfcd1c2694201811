"""Links to the Attributions and Image–text tabs' Compare panels, read by the server (the
browser walk is in test_browser_compare): what they fill, which button they press."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np

import mminspect as mi
from mminspect.ui import links
from mminspect.ui.context import AppContext


def _ctx():
    return AppContext(models=[m | {"bundled": True} for m in mi.list_models() if m.get("bundled")],
                      bundled=frozenset(m["name"] for m in mi.list_models() if m.get("bundled")))


def _open(**query) -> dict:
    return links.on_open_link(_ctx(), SimpleNamespace(query_params=query))


def test_an_attributions_link_with_text_b_opens_the_panel_and_presses_compare():
    out = _open(tab="attributions", text="The movie was good.", b="The movie was not good.",
                model_b="@random")
    assert out["attributions:acmp_text_b"] == "The movie was not good."
    assert out["attributions:acmp_model_b"] == "@random"
    assert out["attributions:acmp_accordion"].open is True and out["press"] == "acmp-run"
    plain = _open(tab="attributions", text="The movie was good.")
    assert plain["press"] == "attributions-run" and "attributions:acmp_accordion" not in plain


def test_an_image_link_with_a_scene_sets_images_a_and_b_and_presses_compare():
    out = _open(tab="image-text", scene="0,1", model_b="miniclip")
    a, b, _ = mi.object_removed_pair(0, 1)
    assert np.array_equal(out["image-text:image"], a)
    assert np.array_equal(out["image-text:icmp_image_b"], b)
    assert out["image-text:icmp_scene"] == "0,1" and out["image-text:icmp_model_b"] == "miniclip"
    assert out["press"] == "icmp-run" and "red star" in out["image-text:icmp_note"]


def test_a_bad_scene_is_refused_and_nothing_is_pressed():
    for bad in ("0,x", "1", "0,99999999"):
        out = _open(tab="image-text", scene=bad)
        assert "press" not in out and "scene" in out["image-text:message"], bad
        assert out["image-text:icmp_scene"] == "" and "image-text:image" not in out
        assert "scene" in out["image-text:icmp_message"]             # the panel's own line
    out = _open(tab="image-text", model_b="no-such-model")
    assert "press" not in out and "model_b" in out["image-text:message"]
