"""Dataset mode's Ray backend gives the local backend's table (identical with the same
batch_size; with batches cut differently the rows are padded to other lengths, so equal up
to float32 rounding: <= 1e-5 of each number's size (at least 1), completeness aside:
head importance is a difference of two targets of size ~10), on
a Ray it starts itself on loopback (and stops again) and on a Ray already running (the way a
user points it at a cluster with ray.init(address=...)), which it leaves running."""
import math

import numpy as np
import pandas as pd
import pytest

import mminspect as mi
from mminspect.api.dataset_io import read_table

ray = pytest.importorskip("ray")          # in requirements-test.txt: CI always has it
pytestmark = pytest.mark.slow             # Ray's start-up alone is ~5-15 s on 2 cores

ROWS = pd.DataFrame({
    "text": ["The cat sat on the mat.", "The striker scored a late goal.", "",
             "Dogs bark at the mail carrier every morning.", "The team won the cup final.",
             "A kitten chased a ball of wool."],
    "label": ["animals", "sports", "sports", "animals", "sports", "animals"]})
METHODS = ["integrated_gradients", "saliency"]


@pytest.fixture(scope="module")
def one_thread():
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)                   # the actors get the same count (DatasetSpec)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def local(minilm, one_thread):
    return mi.explain_dataset(minilm, ROWS, methods=METHODS, batch_size=4, budget_s=math.inf)


def max_difference(a: pd.DataFrame, b: pd.DataFrame, relative: bool = False) -> float:
    """The largest absolute difference between two tables' numbers (lists and grids too),
    relative=True: divided by max(1, |number|), the completeness ratios left out (their
    rounding is tested against the single-input API in test_dataset.py); any other
    difference (a word, a missing value, a column) fails the test at once."""
    assert list(a.columns) == list(b.columns)
    worst = 0.0
    for col in a.columns.drop("seconds"):
        if relative and col.endswith(".completeness"):
            continue
        for x, y in zip(a[col], b[col]):
            if isinstance(x, np.ndarray) and x.dtype == object and len(x) and isinstance(x[0], np.ndarray):
                x, y = np.stack(x), np.stack(y)                  # [layer, head]
            if isinstance(x, (float, np.ndarray)) and not isinstance(x, str):
                x, y = np.asarray(x), np.asarray(y)
                if x.dtype.kind in "fc":
                    assert np.array_equal(np.isnan(x), np.isnan(y)), col
                    d = np.abs(x - y) / (np.maximum(1, np.abs(y)) if relative else 1)
                    worst = max(worst, float(d[~np.isnan(d)].max(initial=0.0)))
                    continue
                assert np.array_equal(x, y), col
            else:
                assert x == y or (pd.isna(x) and pd.isna(y)), (col, x, y)
    return worst


def test_ray_started_here_equals_local_and_is_stopped_again(minilm, local, tmp_path):
    assert not ray.is_initialized()
    try:
        got = mi.explain_dataset(minilm, ROWS, methods=METHODS, batch_size=4, backend="ray",
                                 budget_s=math.inf, out=tmp_path / "t.parquet")
        assert not ray.is_initialized()                # it shut down the Ray it started
    finally:
        ray.shutdown()
    assert max_difference(local, got) == 0             # the same batches: the same sums
    assert got["ok"].tolist() == [True, True, False, True, True, True]
    assert max_difference(local, read_table(tmp_path / "t.parquet")) == 0


def test_ray_already_running_is_used_and_left_running(minilm, local):
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
             log_to_driver=False)
    try:
        got = mi.explain_dataset(minilm, ROWS, methods=METHODS, batch_size=3, backend="ray",
                                 budget_s=math.inf, ray_options={"num_cpus": 0.5})
        assert ray.is_initialized()
        assert max_difference(local, got, relative=True) <= 1e-5
        s_local, s_ray = mi.summarize_dataset(local), mi.summarize_dataset(got)
        pd.testing.assert_frame_equal(s_local.faithfulness, s_ray.faithfulness, rtol=1e-4,
                                      atol=1e-5)
        np.testing.assert_allclose(s_local.heads_mean, s_ray.heads_mean, rtol=1e-6, atol=1e-5)
    finally:
        ray.shutdown()
