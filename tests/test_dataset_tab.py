"""The Dataset tab's handlers without a browser: the downloads hold the table the run made
(Parquet with its lists, CSV with lists as JSON), and the data choices refuse in words."""
import json
import math

import numpy as np
import pandas as pd
import pytest

import mminspect as mi
from mminspect.types import InputError
from mminspect.ui import dataset_tab
from mminspect.ui.context import default_context


@pytest.fixture(scope="module")
def table(minilm):
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)               # 2 threads on 2 busy cores: several times slower
    try:
        return mi.explain_dataset(minilm, dataset_tab.SAMPLE.iloc[[0, 4, 8]], methods=["saliency"],
                                  budget_s=math.inf)
    finally:
        torch.set_num_threads(before)


def test_downloads_hold_the_table(table):
    ctx = default_context()
    parquet = dataset_tab.on_export_parquet(ctx, table)["export_file"]["value"]
    back = pd.read_parquet(parquet)
    assert back["text"].tolist() == table["text"].tolist()
    for a, b in zip(back["head_importance"], table["head_importance"]):
        np.testing.assert_array_equal(np.stack(a), np.stack(b))           # [layer, head]
    csv = pd.read_csv(dataset_tab.on_export_csv(ctx, table)["export_file"]["value"])
    np.testing.assert_allclose(json.loads(csv["saliency.scores"][1]), table["saliency.scores"][1])
    with pytest.raises(InputError, match="press Run first"):
        dataset_tab.on_export_csv(ctx, None)


def test_data_choice_and_rows_view(table):
    assert dataset_tab._data(dataset_tab.SAMPLE_NAME, None) is dataset_tab.SAMPLE
    assert dataset_tab._data(dataset_tab.UPLOAD_NAME, b"text\nhi\n") == b"text\nhi\n"
    with pytest.raises(InputError, match="No file yet"):
        dataset_tab._data(dataset_tab.UPLOAD_NAME, None)
    view = dataset_tab._rows_view(table, ["saliency"])
    assert list(view.columns) == ["row", "text", "label", "prediction", "correct", "score",
                                  "saliency.deletion_area", "notes"]
    assert view["prediction"].tolist() == table["prediction"].tolist()


def test_rows_filter_by_text_and_outcome():
    t = pd.DataFrame({"text": ["A Cat sat.", "A dog ran.", None, "Catalogue."],
                      "ok": [True, True, False, True], "correct": [True, False, None, None]})
    assert dataset_tab.filtered(t, "cat", "all rows")["text"].tolist() == ["A Cat sat.", "Catalogue."]
    assert dataset_tab.filtered(t, "", "correct")["text"].tolist() == ["A Cat sat."]
    assert dataset_tab.filtered(t, " ", "incorrect")["text"].tolist() == ["A dog ran."]
    assert dataset_tab.filtered(t, "", "skipped")["ok"].tolist() == [False]
    assert dataset_tab.filtered(t, "(", "all rows").empty             # plain text, not a regex
