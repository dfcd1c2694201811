"""The shipped fusion model: its card and hash, its held-out figures re-measured on a small
sample of the card's own streams (each within reach of the card's figure), and how the
registry and the app offer it."""
import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import mminspect as mi  # noqa: E402
from mminspect.api import fusion as fusion_api  # noqa: E402
from mminspect.lab.fusion_eval import EVAL_SEED, TARGETS, evaluate  # noqa: E402
from mminspect.models.bundled import sha256_file  # noqa: E402
from mminspect.models.fusion_adapter import fusion_dir  # noqa: E402

pytestmark = pytest.mark.slow     # loads mini-CLIP 2 and MiniLM too, and re-measures every figure
FOLDER = fusion_dir("bundled:fusion")
N = 40                       # the first 40 scenes of each of the card's held-out streams
TOLERANCE = 0.12             # 40 scenes against the card's 200: a few scenes either way


@pytest.fixture(scope="module")
def model():
    return mi.load("fusion")


@pytest.fixture(scope="module")
def card():
    return json.loads((FOLDER / "card.json").read_text())


@pytest.fixture(scope="module")
def small(model):
    return evaluate(model.model, N)


def test_the_card_records_the_recipe_the_figures_and_the_weights_hash(model, card):
    weights = FOLDER / card["weights"]["file"]
    assert sha256_file(weights) == card["weights"]["sha256"]            # what the loader checks
    assert weights.stat().st_size == card["weights"]["bytes"] <= 10_000_000
    assert card["provenance"]["command"].startswith("python -m mminspect.lab.fusion_train")
    assert card["provenance"]["code"]["git_commit"] and card["provenance"]["date"]
    assert card["eval_seed"] == EVAL_SEED and card["metrics"]["n"] == 200
    assert card["train"]["seed"] == 0 and card["training_time_s"] > 0
    assert card["image_tower"]["sha256"] == mi.load("miniclip2").card["weights"]["sha256"]
    assert card["vocabulary"] == list(model.vocabulary())
    assert any("photo" in limit.lower() for limit in card["known_limits"])


@pytest.mark.parametrize("figure", sorted(TARGETS) + ["matching, one word changed", "pointing"])
def test_the_small_sample_agrees_with_the_card(small, card, figure):
    """Deterministic (the same 40 scenes each run): the card describes these weights."""
    assert abs(small[figure] - card["metrics"][figure]) <= TOLERANCE, (figure, small[figure],
                                                                       card["metrics"][figure])


def test_the_registry_offers_it_to_its_own_tab_only():
    rows = {r["name"]: r for r in mi.list_models()}
    assert rows["fusion"]["bundled"] and rows["fusion"]["modality"] == "fusion"


def test_every_example_runs_and_names_objects_the_pointing_table_scores(model):
    for title in fusion_api.list_fusion_examples():
        ex = fusion_api.fusion_example(title)
        view = fusion_api.inspect_fusion(model, ex.image, ex.caption)
        table = fusion_api.fusion_pointing(view, ex.masks)
        assert len(table.words) == model.n_layers * len(ex.masks)
        assert np.all((table.energy >= 0) & (table.energy <= 1))
