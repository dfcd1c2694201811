"""Dataset mode's Ray backend gives the local backend's table (max difference <= 1e-6), on
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


def max_difference(a: pd.DataFrame, b: pd.DataFrame) -> float:
    """The largest absolute difference between two tables' numbers (lists and grids too);
    any other difference (a word, a missing value, a column) fails the test at once."""
    assert list(a.columns) == list(b.columns)
    worst = 0.0
    for col in a.columns.drop("seconds"):
        for x, y in zip(a[col], b[col]):
            if isinstance(x, np.ndarray) and x.dtype == object and len(x) and isinstance(x[0], np.ndarray):
                x, y = np.stack(x), np.stack(y)                  # [layer, head]
            if isinstance(x, (float, np.ndarray)) and not isinstance(x, str):
                x, y = np.asarray(x), np.asarray(y)
                if x.dtype.kind in "fc":
                    assert np.array_equal(np.isnan(x), np.isnan(y)), col
                    d = np.abs(x - y)
                    worst = max(worst, float(d[~np.isnan(d)].max(initial=0.0)))
                    continue
                assert np.array_equal(x, y), col
            else:
                assert x == y or (pd.isna(x) and pd.isna(y)), (col, x, y)
    return worst


def test_ray_started_here_equals_local_and_is_stopped_again(minilm, local, tmp_path):
    assert not ray.is_initialized()
    try:
        got = mi.explain_dataset(minilm, ROWS, methods=METHODS, batch_size=2, backend="ray",
                                 budget_s=math.inf, out=tmp_path / "t.parquet")
        assert not ray.is_initialized()                # it shut down the Ray it started
    finally:
        ray.shutdown()
    assert max_difference(local, got) <= 1e-6
    assert got["ok"].tolist() == [True, True, False, True, True, True]
    assert max_difference(local, read_table(tmp_path / "t.parquet")) <= 1e-6


def test_ray_already_running_is_used_and_left_running(minilm, local):
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
             log_to_driver=False)
    try:
        got = mi.explain_dataset(minilm, ROWS, methods=METHODS, batch_size=3, backend="ray",
                                 budget_s=math.inf, ray_options={"num_cpus": 0.5})
        assert ray.is_initialized()
        assert max_difference(local, got) <= 1e-6
        s_local, s_ray = mi.summarize_dataset(local), mi.summarize_dataset(got)
        pd.testing.assert_frame_equal(s_local.faithfulness, s_ray.faithfulness)
        np.testing.assert_allclose(s_local.heads_mean, s_ray.heads_mean, atol=1e-9)
    finally:
        ray.shutdown()
