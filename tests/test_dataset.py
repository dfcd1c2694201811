"""Dataset mode (mi.explain_dataset, mi.summarize_dataset), local backend: every number in
the table is checked against the single-input API called directly, and every aggregate is
recomputed another way (by hand, with scipy, or against its definition)."""
import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

import mminspect as mi
from mminspect.api.dataset_stats import (accuracy_by_slice, agreement_over_set, bootstrap_mean,
                                         head_stats)
from mminspect.types import Cancelled, InputError, OverBudget

ROWS = [{"text": "The cat sat on the mat.", "label": "animals", "slice": "short"},
        {"text": "The striker scored a late goal in the final.", "label": "sports"},
        {"text": "   ", "label": "sports"},
        {"text": "Dogs bark at the mail carrier every single morning.", "label": "animals"},
        {"text": "Parrots can learn to say many words.", "label": "sports", "slice": "short"}]
LABELS = ["animals", "sports"]
METHODS = ["integrated_gradients", "saliency"]
# Dataset mode runs a batch's rows together, padded to the longest text (api/dataset_rows.py):
# the numbers equal the single-input API's up to float32 rounding, because matrix products
# of another shape add in another order (measured: <= 6e-7 relative, <= 5e-6 absolute on
# targets of size ~10). The completeness column is a ratio of a near-zero difference to the
# target's gap, so its rounding is larger (measured <= 2e-5).
TOL = {"rtol": 1e-6, "atol": 1e-5}
COMPLETENESS_TOL = 1e-4


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: on 2 shared cores, two threads wait on each other (a 5-row run
    took 50 s instead of 5 s while other work ran)."""
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def run(minilm, tmp_path_factory):
    out = tmp_path_factory.mktemp("dataset") / "results"
    seen = []
    table = mi.explain_dataset(minilm, ROWS, methods=METHODS, batch_size=2, out=out,
                               budget_s=math.inf, progress=lambda f, d: seen.append(f))
    return table, out, seen


def test_each_row_equals_the_single_input_api(run, minilm):
    table, _, _ = run
    ok = table[table["ok"]]
    assert len(ok) == 4
    for _, row in ok.iterrows():
        direct = mi.compare_attributions(minilm, row["text"], methods=METHODS, target="zero_shot",
                                         labels=LABELS, label=row["prediction"], budget_s=math.inf)
        for r in direct.results:
            np.testing.assert_allclose(np.asarray(row[f"{r.method}.scores"]), r.word_scores,
                                       **TOL)
            assert row[f"{r.method}.deletion_area"] == pytest.approx(
                r.faithfulness.deletion_area, rel=TOL["rtol"], abs=TOL["atol"])
            assert row[f"{r.method}.insertion_area"] == pytest.approx(
                r.faithfulness.insertion_area, rel=TOL["rtol"], abs=TOL["atol"])
        assert list(row["words"]) == direct.results[0].words
        ig = mi.attribute_text(minilm, row["text"], method="integrated_gradients",
                               target="zero_shot", labels=LABELS, label=row["prediction"],
                               budget_s=math.inf)
        np.testing.assert_allclose(np.asarray(row["integrated_gradients.scores"]), ig.word_scores,
                                   **TOL)
        assert row["integrated_gradients.completeness"] == pytest.approx(
            ig.faithfulness.completeness_relative, abs=COMPLETENESS_TOL)
        assert math.isnan(row["saliency.completeness"])          # saliency claims no completeness


def test_prediction_and_head_importance_equal_the_direct_calls(run, minilm):
    table, _, _ = run
    for _, row in table[table["ok"]].iterrows():
        view = mi.inspect_text(minilm, row["text"], labels=LABELS)
        probs = view.prediction.label_probs
        assert row["prediction"] == LABELS[int(np.argmax(probs))]
        assert row["score"] == pytest.approx(float(probs.max()), abs=1e-5)
        assert row["correct"] == (row["prediction"] == row["label"])
    row = table[table["ok"]].iloc[1]
    imp = mi.head_importance(minilm, row["text"], labels=LABELS, label=row["prediction"],
                             budget_s=math.inf)
    np.testing.assert_allclose(np.stack(row["head_importance"]), imp.delta, **TOL)


def test_a_bad_row_stays_in_the_table_with_its_reason(run):
    table, _, seen = run
    assert list(table["row"]) == list(range(len(ROWS)))
    bad = table.iloc[2]
    assert not bad["ok"] and bad["notes"] == "skipped: empty text"
    assert bad["integrated_gradients.scores"] is None and math.isnan(bad["score"])
    assert seen[-1] == 1.0 and seen == sorted(seen)           # progress per batch, up to done


def test_out_folder_holds_the_table_and_the_aggregates(run):
    table, out, _ = run
    back = mi.summarize_dataset(out / "table.parquet")
    again = mi.summarize_dataset(table)
    pd.testing.assert_frame_equal(back.faithfulness, again.faithfulness)
    saved = pd.read_csv(out / "accuracy.csv")
    assert list(saved["accuracy"]) == pytest.approx(list(again.accuracy["accuracy"]))
    grid = pd.read_csv(out / "heads_mean.csv", index_col="layer").to_numpy()
    np.testing.assert_allclose(grid, again.heads_mean, atol=1e-9)
    assert json.loads((out / "summary.json").read_text())["skipped"] == 1


def test_accuracy_per_slice_recomputed_by_hand(run):
    table, _, _ = run
    acc = accuracy_by_slice(table).set_index(["slice", "value"])
    ok = [r for r in table.to_dict("records") if r["ok"]]
    assert acc.loc[("all", "all"), "n"] == len(ok)
    assert acc.loc[("all", "all"), "accuracy"] == pytest.approx(
        sum(r["correct"] for r in ok) / len(ok))
    for label in LABELS:
        mine = [r["correct"] for r in ok if r["label"] == label]
        assert acc.loc[("label", label), "accuracy"] == pytest.approx(sum(mine) / len(mine))
    short = [r["correct"] for r in ok if r["slice"] == "short"]
    assert acc.loc[("slice", "short"), "n"] == len(short) == 2


def test_accuracy_slices_on_a_table_made_by_hand():
    t = pd.DataFrame({"ok": [True] * 6 + [False], "correct": [1, 0, 1, 1, None, 0, None],
                      "label": list("aabbbcc"), "n_words": [3, 3, 12, 50, 7, 8, None]})
    acc = accuracy_by_slice(t, by=["label", "length"]).set_index(["slice", "value"])
    assert acc.loc[("label", "a"), "accuracy"] == 0.5
    assert acc.loc[("label", "b"), "n"] == 2                     # the None is not counted
    assert acc.loc[("label", "c"), "accuracy"] == 0.0
    assert acc.loc[("length", "1-5 words"), "correct"] == 1
    assert acc.loc[("length", "41+ words"), "n"] == 1
    with pytest.raises(InputError, match="No column 'colour'"):
        accuracy_by_slice(t, by=["colour"])


def test_bootstrap_interval_contains_the_mean_shrinks_with_n_and_is_seeded():
    rng = np.random.default_rng(1)
    small, large = rng.normal(2.0, 1.0, 20), rng.normal(2.0, 1.0, 2000)
    m1, lo1, hi1 = bootstrap_mean(small, seed=3)
    m2, lo2, hi2 = bootstrap_mean(large, seed=3)
    assert lo1 < m1 < hi1 and lo2 < m2 < hi2
    assert m1 == pytest.approx(small.mean()) and m2 == pytest.approx(large.mean())
    assert (hi2 - lo2) < 0.4 * (hi1 - lo1)                      # ~ 1/sqrt(n): 10x narrower
    assert (hi2 - lo2) == pytest.approx(2 * 1.96 * large.std() / np.sqrt(2000), rel=0.15)
    assert bootstrap_mean(small, seed=3) == (m1, lo1, hi1)
    assert bootstrap_mean(small, seed=4) != (m1, lo1, hi1)
    assert bootstrap_mean([np.nan, 1.0, 3.0], seed=0)[0] == 2.0


def test_faithfulness_summary_matches_the_columns(run):
    table, _, _ = run
    s = mi.summarize_dataset(table, n_boot=200, seed=5)
    f = s.faithfulness.set_index(["method", "metric"])
    ok = table[table["ok"]]
    for m in METHODS:
        mean = ok[f"{m}.deletion_area"].mean()
        row = f.loc[(m, "deletion_area")]
        assert row["mean"] == pytest.approx(mean) and row["low"] <= mean <= row["high"]
        assert row["n"] == 4
    assert f.loc[("saliency", "completeness"), "n"] == 0


def test_head_stats_and_agreement_on_tables_made_by_hand():
    g1, g2 = np.arange(6.0).reshape(2, 3), np.ones((2, 3))
    t = pd.DataFrame({"head_importance": [g1.tolist(), g2.tolist()]})
    mean, std = head_stats(t)
    np.testing.assert_allclose(mean, (g1 + g2) / 2)
    np.testing.assert_allclose(std, np.abs(g1 - g2) / 2)
    a = [[1.0, 2, 3, 4], [4.0, 1, 3, 2], [0.5, 0.1]]
    b = [[2.0, 4, 6, 9], [1.0, 2, 3, 4], [0.1, 0.5]]             # the 2-word row is left out
    t = pd.DataFrame({"x.scores": a, "y.scores": b})
    agree = agreement_over_set(t)
    expect = np.mean([spearmanr(a[0], b[0]).statistic, spearmanr(a[1], b[1]).statistic])
    assert agree.loc["x", "y"] == pytest.approx(expect) and agree.loc["x", "x"] == 1.0


def test_files_in_three_formats_read_alike(tmp_path, minilm):
    from mminspect.api.dataset_io import read_rows
    from mminspect.api.limits import limits
    df = pd.DataFrame(ROWS[:2])
    df.to_csv(tmp_path / "d.csv", index=False)
    df.to_json(tmp_path / "d.jsonl", orient="records", lines=True)
    df.to_parquet(tmp_path / "d.parquet")
    files = [tmp_path / f"d.{ext}" for ext in ("csv", "jsonl", "parquet")]
    got = [read_rows(f, limits()) for f in files]
    got += [read_rows(f.read_bytes(), limits()) for f in files]       # an upload: bytes only
    for g in got:
        assert g["text"].tolist() == df["text"].tolist() and g["row"].tolist() == [0, 1]
        assert g["slice"].tolist() == ["short", None]
    (tmp_path / "bad.csv").write_text("sentence,label\nhello,a\n")
    with pytest.raises(InputError, match=r"no 'text' column \(columns found: sentence, label\)"):
        mi.explain_dataset(minilm, tmp_path / "bad.csv")
    with pytest.raises(InputError, match="unknown file type '.txt'"):
        (tmp_path / "d.txt").write_text("x")
        mi.explain_dataset(minilm, tmp_path / "d.txt")
    with pytest.raises(InputError, match="No file at"):
        mi.explain_dataset(minilm, tmp_path / "missing.csv")
    with pytest.raises(InputError, match="Could not read the file as JSONL"):
        read_rows(b'{"text": "a"}\n{"text": ', limits())
    with pytest.raises(InputError, match="the limit is 10 MB"):
        read_rows(b"text\n" + b"x" * (10 * 2**20), limits())


def test_limits_refuse_before_any_model_work(tmp_path, minilm, monkeypatch):
    monkeypatch.setenv("MMINSPECT_MAX_ROWS", "3")
    pd.DataFrame(ROWS).to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(InputError, match=r"more than 3 rows; the limit is 3 \(MMINSPECT_MAX_ROWS\)"):
        mi.explain_dataset(minilm, tmp_path / "d.csv")
    with pytest.raises(InputError, match="5 rows; the limit is 3"):
        mi.explain_dataset(minilm, ROWS)
    monkeypatch.setenv("MMINSPECT_MAX_CHARS", "30")
    t = mi.explain_dataset(minilm, ROWS[:2], methods=["saliency"], heads=False, budget_s=math.inf)
    assert t["ok"].tolist() == [True, False]
    assert "44 characters; the limit is 30 (MMINSPECT_MAX_CHARS)" in t["notes"][1]
    for bad, msg in ((dict(backend="spark"), "Unknown backend 'spark'"),
                     (dict(methods=["nope"]), "Unknown method 'nope'"),
                     (dict(target="similarity"), "needs a 'text2' column"),
                     (dict(batch_size=0), "batch_size must be")):
        with pytest.raises(InputError, match=msg):
            mi.explain_dataset(minilm, ROWS[:2], **bad)


def test_time_budget_and_stop(minilm):
    rows = [f"Sentence number {i} about cats and dogs." for i in range(40)]
    with pytest.raises(OverBudget, match=r"About \d+ rows fit"):
        mi.explain_dataset(minilm, rows, target="zero_shot", labels=LABELS, budget_s=0.5,
                           methods=["saliency"], heads=False, batch_size=1)
    done = []                                  # the Stop button, pressed after 3 rows
    with pytest.raises(Cancelled, match="Stopped after 3 of 40 rows"):
        mi.explain_dataset(minilm, rows, target="zero_shot", labels=LABELS, budget_s=math.inf,
                           methods=["saliency"], heads=False, batch_size=1,
                           progress=lambda f, d: done.append(f), should_stop=lambda: len(done) >= 3)
    with pytest.raises(Cancelled, match="Stopped after 0 of 40 rows"):   # pressed mid-row
        mi.explain_dataset(minilm, rows, target="zero_shot", labels=LABELS, budget_s=math.inf,
                           methods=["saliency"], should_stop=iter([False] * 3 + [True] * 99).__next__)


def test_pairs_explain_their_similarity(minilm):
    pairs = {"text": ["A man plays guitar.", "The sky is blue."],
             "text2": ["Someone plays an instrument.", "A child eats soup."]}
    t = mi.explain_dataset(minilm, pairs, methods=["saliency"], heads=False, budget_s=math.inf)
    for _, row in t.iterrows():
        view = mi.inspect_text(minilm, row["text"], compare_to=row["text2"])
        assert row["score"] == pytest.approx(view.prediction.similarity, abs=1e-5)
        assert row["target_value"] == pytest.approx(view.prediction.similarity, abs=1e-4)
        assert pd.isna(row["prediction"]) and pd.isna(row["correct"])   # no label to predict
    assert mi.summarize_dataset(t).accuracy.empty


def test_a_classifier_is_scored_against_its_labels(task_models):
    from conftest import direct_logits
    cls = task_models["bert-cls"]
    texts = ["the cat sat on the mat", "a dog is warm", "hello world !"]
    t = mi.explain_dataset(cls, {"text": texts, "label": ["positive", "neutral", "negative"]},
                           methods=["saliency"], budget_s=math.inf)
    names = cls.label_names()
    for _, row in t.iterrows():
        assert row["prediction"] == names[int(direct_logits(cls, row["text"]).argmax())]
        assert row["correct"] == (row["prediction"] == row["label"])
        assert np.stack(row["head_importance"]).shape == (2, 2)


def test_the_docs_example_runs_as_printed(minilm, capsys):
    from pathlib import Path
    page = (Path(__file__).resolve().parents[1] / "docs" / "dataset.md").read_text()
    code = page.split("```python\n", 1)[1].split("```", 1)[0]
    scope = {}
    exec(compile(code, "docs/dataset.md", "exec"), scope)
    assert scope["summary"].n_ok == 3 and scope["summary"].heads_mean.shape == (6, 12)
    assert "accuracy" in capsys.readouterr().out


def test_rows_late_in_a_request_are_not_made_coarser(minilm, monkeypatch):
    """Inside a request's deadline (the app's long lane) a row runs as it would alone: the
    call's clock, checked between rows, enforces the budget, not each row's planner (which
    would run it coarser, or stop it, once little of the request is left)."""
    import contextlib
    from mminspect.api import dataset_batch
    from mminspect.api.limits import request_budget
    rows = ROWS[:1]
    kw = dict(methods=["integrated_gradients"], heads=False, labels=LABELS)
    alone = mi.explain_dataset(minilm, rows, budget_s=math.inf, **kw)
    with request_budget(0.2):                    # checked once, before the only row
        late = mi.explain_dataset(minilm, rows, **kw)
    np.testing.assert_array_equal(alone["integrated_gradients.scores"][0],
                                  late["integrated_gradients.scores"][0])
    assert alone["notes"][0] == late["notes"][0]
    # the same for a row explained on its own (explain_row: rows that cannot run together)
    monkeypatch.setattr(dataset_batch, "batchable", lambda adapter, spec: False)
    with request_budget(0.5):                    # (0.2 s could pass before the row starts)
        one = mi.explain_dataset(minilm, rows, **kw)
    assert one["notes"][0] == alone["notes"][0]
    monkeypatch.setattr(dataset_batch, "without_deadline", contextlib.nullcontext)
    try:                                         # what the row's own planner would do
        with request_budget(0.2):
            planned = mi.explain_dataset(minilm, rows, **kw)
    except OverBudget:
        return
    assert planned["notes"][0] != alone["notes"][0]          # run coarser, with a note


def test_a_hugging_face_save_to_disk_folder_reads_without_datasets():
    """tests/data/hf_saved was written by `datasets` 5.2.0 (Dataset.save_to_disk and
    DatasetDict.save_to_disk of the same rows); the reader needs only pyarrow."""
    from pathlib import Path
    from mminspect.api.dataset_io import read_rows
    from mminspect.api.limits import limits
    saved = Path(__file__).resolve().parent / "data" / "hf_saved"
    rows = read_rows(saved / "one", limits())
    assert rows["text"].tolist() == ["The cat sat on the mat.", "The striker scored a late goal.",
                                     "Dogs bark at night."]
    assert rows["label"].tolist() == ["animals", "sports", "animals"]
    assert read_rows(saved / "dict" / "test", limits())["text"].tolist() == ["A dog."]
    with pytest.raises(InputError, match=r"several splits \(train, test\); pass one of them, e.g. dict/train"):
        read_rows(saved / "dict", limits())


def test_sanity_over_a_sample_equals_the_direct_checks(run, minilm):
    table, _, _ = run
    sample = mi.dataset_sanity(minilm, table, n=1, methods=["saliency"], seed=1,
                               budget_s=math.inf)
    assert len(sample) == 1
    assert set(sample["row"]) <= set(table.loc[table["ok"], "row"])
    for _, s in sample.iterrows():
        row = table[table["row"] == s["row"]].iloc[0]
        direct = mi.sanity_check(minilm, row["text"], method="saliency", seed=1,
                                 target="zero_shot", labels=LABELS, label=row["prediction"],
                                 budget_s=math.inf)
        assert s["score"] == pytest.approx(direct.score) and s["passed"] == direct.passed
    summary = sample.attrs["summary"].set_index("method")
    assert summary.loc["saliency", "pass_rate"] == sample["passed"].mean()
    again = mi.dataset_sanity(minilm, table, n=1, methods=["saliency"], seed=1, budget_s=math.inf)
    assert again["row"].tolist() == sample["row"].tolist()              # seeded sample
    with pytest.raises(InputError, match="n must be from 1 to the 4 explained rows, got 5"):
        mi.dataset_sanity(minilm, table, n=5)
    bare = table.copy()
    bare.attrs = {}                                   # as after a round trip through a file
    with pytest.raises(InputError, match="attrs\\['spec'\\] is missing"):
        mi.dataset_sanity(minilm, bare, n=1)
