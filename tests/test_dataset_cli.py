"""`mminspect dataset`: the folder it writes holds the same table as Parquet and CSV and
the aggregates the library computes from it; a file without a text column exits 3."""
import json

import numpy as np
import pandas as pd
import pytest

import mminspect as mi
from mminspect.cli import main


@pytest.fixture
def one_thread():
    import torch
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)              # the command sets --threads for the process


def test_dataset_command_writes_table_and_aggregates(tmp_path, capsys, one_thread):
    rows = pd.DataFrame({"text": ["The cat sat on the mat.", "The striker scored a goal.",
                                  "Dogs bark at night."],
                         "label": ["animals", "sports", "sports"]})
    rows.to_json(tmp_path / "d.jsonl", orient="records", lines=True)
    out = tmp_path / "res"
    rc = main(["dataset", str(tmp_path / "d.jsonl"), "--methods", "saliency", "--out", str(out),
               "--threads", "1", "--quiet"])
    assert rc == 0 and capsys.readouterr().out == ""
    table = pd.read_parquet(out / "table.parquet")
    csv = pd.read_csv(out / "table.csv")
    for a, b in zip(table["saliency.scores"], csv["saliency.scores"]):
        np.testing.assert_allclose(a, json.loads(b))
    grid = np.array(json.loads(csv["head_importance"][0]))
    assert grid.shape == (6, 12)                   # MiniLM: 6 layers x 12 heads
    np.testing.assert_allclose(grid, np.stack(table["head_importance"][0]))
    acc = pd.read_csv(out / "accuracy.csv").set_index(["slice", "value"])
    assert acc.loc[("all", "all"), "accuracy"] == pytest.approx(table["correct"].mean())
    faith = pd.read_csv(out / "faithfulness.csv")
    pd.testing.assert_frame_equal(faith, mi.summarize_dataset(table).faithfulness,
                                  check_dtype=False)


def test_dataset_command_names_the_missing_column(tmp_path, capsys):
    (tmp_path / "d.csv").write_text("sentence\nhello\n")
    rc = main(["dataset", str(tmp_path / "d.csv"), "--out", str(tmp_path / "r")])
    assert rc == 3
    assert "no 'text' column (columns found: sentence)" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
