"""Each image model says what it was trained on; photos on mini-CLIP get a plain warning."""
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


def test_models_trained_on_web_photos_take_any_image():
    class Hub:                                              # the family is what decides
        family, name, label = "hf_clip", "x", "x"
    assert domain_note(Hub(), mi.load_example("photo: Chelsea the cat").image) is None
    assert {"miniclip", "hf_clip", "open_clip"} <= set(DOMAINS)
