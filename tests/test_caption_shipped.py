"""The shipped cross-attention captioner: its card and hash (a changed file is refused), its
held-out figures re-measured on the first 40 of the card's 200 scenes (each within reach of
the card's figure), the api on the trained weights, and how the registry offers it."""
import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import mminspect as mi  # noqa: E402
from mminspect.api import fusion as fusion_api  # noqa: E402
from mminspect.api.fusion_caption import object_steps  # noqa: E402
from mminspect.lab.caption_eval import EVAL_SEED, TARGETS, evaluate  # noqa: E402
from mminspect.models.bundled import sha256_file  # noqa: E402
from mminspect.models.caption_adapter import CARD, CaptionAdapter, caption_dir  # noqa: E402
from mminspect.types import ModelLoadError  # noqa: E402

pytestmark = pytest.mark.slow     # loads the captioner and re-measures every figure
FOLDER = caption_dir("bundled:fusion-caption")
N = 40
TOLERANCE = 0.12             # 40 scenes against the card's 200: a few scenes either way


@pytest.fixture(scope="module")
def model():
    return mi.load("fusion-caption")


@pytest.fixture(scope="module")
def card():
    return json.loads((FOLDER / CARD).read_text())


@pytest.fixture(scope="module")
def small(model):
    return evaluate(model.model, N)


def test_the_card_records_the_recipe_the_figures_and_the_weights_hash(model, card):
    weights = FOLDER / card["weights"]["file"]
    assert sha256_file(weights) == card["weights"]["sha256"]
    assert weights.stat().st_size == card["weights"]["bytes"] <= 10_000_000
    # the training command, from the run's own card or the card program's record of the run
    trained = card.get("training", card["provenance"])
    assert trained["command"].startswith("python -m mminspect.lab.caption_train")
    assert trained.get("git_commit", card["provenance"]["code"].get("git_commit"))
    assert card["provenance"]["code"]["git_commit"] and card["provenance"]["date"]
    assert card["eval_seed"] == EVAL_SEED and card["metrics"]["n"] == 200
    assert card["train"]["seed"] == 0 and card["training_time_s"] > 0
    assert card["image_tower"]["frozen"]
    assert card["image_tower"]["sha256"] == mi.load("miniclip2").card["weights"]["sha256"]
    assert card["vocabulary"] == list(model.vocabulary())
    assert set(card["targets_met"]) == set(TARGETS)
    assert any("photo" in limit.lower() for limit in card["known_limits"])


def test_a_changed_weights_file_is_refused(card, tmp_path):
    for f in (CARD, card["weights"]["file"]):
        (tmp_path / f).write_bytes((FOLDER / f).read_bytes())
    with open(tmp_path / card["weights"]["file"], "r+b") as f:
        f.seek(-4, 2)
        f.write(b"\x00\x01\x02\x03")
    with pytest.raises(ModelLoadError, match="SHA-256"):
        CaptionAdapter(name="tampered", path=str(tmp_path), label="x")


@pytest.mark.parametrize("figure", ["names_every_object", "colours_right", "exact", "pointing",
                                    "pointing_last_layer"])
def test_the_small_sample_agrees_with_the_card(small, card, figure):
    """Deterministic (the same 40 scenes each run): the card describes these weights."""
    assert abs(small[figure] - card["metrics"][figure]) <= TOLERANCE, (figure, small[figure],
                                                                       card["metrics"][figure])


def test_the_registry_offers_it_to_the_fusion_tab():
    rows = {r["name"]: r for r in mi.list_models()}
    assert rows["fusion-caption"]["bundled"] and rows["fusion-caption"]["modality"] == "fusion"


def test_every_example_is_captioned_and_its_object_words_scored(model):
    scored = 0
    for title in fusion_api.list_fusion_examples():
        ex = fusion_api.fusion_example(title)
        view = mi.caption_scene(model, ex.image)
        assert view.ended and 2 <= len(view.words) <= 18, view.steps
        table = mi.caption_pointing(view, ex.masks)
        named = object_steps(view)
        assert len(table.words) % model.n_layers == 0 and len(table.words) <= model.n_layers * len(named)
        assert set(table.words) <= {view.steps[t] for t in named} and set(table.objects) <= set(ex.masks)
        assert np.all((table.energy >= 0) & (table.energy <= 1))
        scored += len(table.words) // model.n_layers
    assert scored >= len(fusion_api.list_fusion_examples())      # at least one object word a scene on average
