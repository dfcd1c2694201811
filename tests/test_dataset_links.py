"""A bundled scene set's row as an Image–text example: the image, the row's exact mask and the
set's labels, found again from its title (what the Image–text tab's link opener and its
"Every method" pointing use)."""
import numpy as np
import pandas as pd
import pytest
from PIL import Image

import mminspect as mi
from mminspect.api.dataset_links import parse_scene, scene_example
from mminspect.api.examples import load_example
from mminspect.types import InputError


@pytest.mark.parametrize("name, model", [("scenes", "miniclip2"), ("scenes_flat", "miniclip")])
def test_a_rows_example_is_its_scene_and_mask(name, model):
    folder = mi.load_dataset_sample(name)
    rows = pd.read_csv(folder / "images.csv", dtype=str, keep_default_na=False)
    ex = scene_example(name, 7)
    r = rows.iloc[7]
    assert ex["model"] == model and ex["prompts"] == sorted(set(rows["label"]))
    assert np.array_equal(np.asarray(ex["image"]), np.asarray(Image.open(folder / r["file"])))
    again = load_example(ex["title"])                    # what the tab reads the mask through
    assert list(again.masks) == [r["prompt"]]
    assert np.array_equal(again.masks[r["prompt"]], np.asarray(Image.open(folder / r["mask"])) > 127)


@pytest.mark.parametrize("raw, message", [("scenes:40", "rows 0 to 39"), ("nope:1", "bundled set"),
                                          ("scenes:-1", "bundled set"), ("scenes", "bundled set")])
def test_bad_scene_values_are_refused(raw, message):
    with pytest.raises(InputError, match=message):
        scene_example(*parse_scene(raw))
