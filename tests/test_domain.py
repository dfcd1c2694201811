"""Each image model says what it was trained on; photos on mini-CLIP get a plain warning."""
import pytest
from clip_tiny import CLIP_FAMILIES, OPEN_CLIP_SIGLIP_FAMILIES, SIGLIP_FAMILIES, tiny_clip_of

import mminspect as mi
from mminspect.api.domain import DOMAINS, domain_note
from mminspect.miniclip.scenes import scene


def test_photos_on_miniclip_are_called_out_of_domain_and_its_own_scenes_are_not():
    model = mi.load("miniclip")
    photos = [t for t in mi.list_examples() if t.startswith("photo")]
    assert len(photos) == 4
    for title in photos:
        note = domain_note(model, mi.load_example(title).image)
        assert note and "synthetic scenes" in note and "OpenAI CLIP" in note, title
    for i in range(60):                                    # scenes drawn like its training data
        assert domain_note(model, scene(1, i, n_objects=1 + i % 3).pil()) is None
    for title in mi.list_examples():
        if title.startswith("scene"):
            assert domain_note(model, mi.load_example(title).image) is None


@pytest.mark.parametrize("family", [f for f in CLIP_FAMILIES + SIGLIP_FAMILIES
                                    + OPEN_CLIP_SIGLIP_FAMILIES if f != "miniclip"])
def test_models_trained_on_web_photos_take_any_image(family, tmp_path_factory):
    """A real loaded adapter of each web-trained family (tiny random weights): its own
    family entry decides, and the photo is one that mini-CLIP's rule would flag."""
    model = tiny_clip_of(family, tmp_path_factory)
    assert model.family in DOMAINS, model.family            # every image family says its data
    photo = mi.load_example("photo: Chelsea the cat").image
    assert DOMAINS["miniclip"].fits(photo) is False         # so None below is a decision
    assert domain_note(model, photo) is None
    assert "photos" in DOMAINS[model.family].trained_on


def test_mini_clip_2_warns_on_photos_and_takes_its_own_world_scenes():
    """mini-CLIP 2's world (noise, gradients, emoji) is not flat-coloured, so its own entry
    decides by the name, before the family's flat-colour rule (which would flag its scenes)."""
    from mminspect.miniclip.scenes import scene_rng
    from mminspect.miniclip.world import render_world

    class MiniClip2:
        family, name, label = "miniclip", "miniclip2", "mini-CLIP 2 · x"
    model = MiniClip2()
    for title in [t for t in mi.list_examples() if t.startswith("photo")]:
        note = domain_note(model, mi.load_example(title).image)
        assert note and "mini-CLIP 2" in note and "never a photo" in note, title
    flagged_by_v1_rule = 0
    for i in range(40):
        s = render_world(scene_rng(77, i), 64)
        assert domain_note(model, s.pil()) is None
        flagged_by_v1_rule += DOMAINS["miniclip"].fits(s.pil()) is False
    assert flagged_by_v1_rule > 0                  # the family rule alone would have warned
    for title in [t for t in mi.list_examples() if t.startswith("mini-CLIP 2")]:
        assert domain_note(model, mi.load_example(title).image) is None
