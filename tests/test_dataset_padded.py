"""Dataset mode's rows run together (api/dataset_rows.py: one padded forward for many texts)
give each row's single-input numbers: every column of the batched table against
explain_row (the prediction, compare_attributions and head_importance called for that
row alone), on bundled texts of different lengths, for a zero-shot, a similarity and a
classifier target. Tolerance: float32 rounding (see TOL in test_dataset.py)."""
import math

import numpy as np
import pytest

import mminspect as mi
from mminspect.api.dataset_batch import DatasetSpec, explain_batch, explain_row
from mminspect.api.dataset_rows import batchable
from mminspect.api.limits import limits
from test_dataset import one_thread  # noqa: F401  (autouse: one torch thread, as there)

TOL = {"rtol": 1e-6, "atol": 1e-5}
COMPLETENESS_TOL = 1e-4
GRADIENT_METHODS = ("integrated_gradients", "saliency", "input_x_gradient")




def assert_rows_equal(batched: list[dict], alone: list[dict]) -> None:
    assert len(batched) == len(alone)
    for a, b in zip(batched, alone):
        assert a.keys() == b.keys()
        for key, want in b.items():
            got = a[key]
            if key == "seconds":
                continue
            if key.endswith(".completeness"):
                assert (math.isnan(got) and math.isnan(want)) or abs(got - want) <= COMPLETENESS_TOL
            elif isinstance(want, float):
                assert (math.isnan(got) and math.isnan(want)) or got == pytest.approx(
                    want, rel=TOL["rtol"], abs=TOL["atol"]), key
            elif isinstance(want, list) and want and not isinstance(want[0], str):
                np.testing.assert_allclose(np.asarray(got, float), np.asarray(want, float),
                                           **TOL, err_msg=key)
            else:
                assert got == want, key


def spec_for(model: str, target: str, labels=(), methods=GRADIENT_METHODS) -> DatasetSpec:
    return DatasetSpec(model=model, target=target, methods=tuple(methods), labels=tuple(labels),
                       threads=1, limits=limits())


def test_zero_shot_rows_together_equal_each_row_alone(minilm):
    pairs = mi.load_dataset_sample("pairs")
    picked = pairs.groupby("slice").head(2)                  # every kind of minimal pair
    rows = [{"text": t, "label": lab} for t, lab in zip(picked["text"], picked["label"])]
    rows.insert(2, {"text": "  ", "label": rows[0]["label"]})     # skipped, kept in place
    rows.append({"text": "A much longer sentence, about the old grey cat that chased a red "
                         "ball all over the garden on a warm and sunny afternoon.",
                 "label": rows[0]["label"]})
    labels = sorted(set(pairs["label"]))
    spec = spec_for("minilm", "zero_shot", labels)
    assert batchable(minilm, spec)
    batched = explain_batch(minilm, rows, spec)
    label_emb = minilm.embed(labels)
    alone = [explain_row(minilm, r, spec, label_emb) for r in rows]
    assert [r["ok"] for r in batched] == [r["text"].strip() != "" for r in rows]
    assert len({r["n_tokens"] for r in batched if r["ok"]}) > 2      # really padded
    assert_rows_equal(batched, alone)


def test_similarity_pairs_together_equal_each_pair_alone(minilm):
    pairs = mi.load_dataset_sample("pairs_similarity").head(4)
    rows = [{"text": a, "text2": b} for a, b in zip(pairs["text"], pairs["text2"])]
    spec = spec_for("minilm", "similarity", methods=("integrated_gradients",))
    batched = explain_batch(minilm, rows, spec)
    alone = [explain_row(minilm, r, spec) for r in rows]
    assert_rows_equal(batched, alone)


def test_a_classifier_together_equals_alone(task_models):
    model = task_models["bert-cls"]
    rows = [{"text": "I loved this film."}, {"text": "Terrible, boring and far too long."},
            {"text": "It was fine."}]
    spec = spec_for(model.name, "class", methods=("integrated_gradients", "saliency"))
    assert batchable(model, spec)
    assert_rows_equal(explain_batch(model, rows, spec), [explain_row(model, r, spec) for r in rows])


def test_perturbation_methods_stay_one_text_at_a_time(minilm):
    assert not batchable(minilm, spec_for("minilm", "zero_shot", ["a", "b"],
                                          ("integrated_gradients", "occlusion")))
    assert not batchable(minilm, spec_for("minilm", "mask_fill"))
