"""The bundled text set of minimal pairs: the file is what its recorded recipe writes, and each
pair differs exactly in the way its kind says (checked word by word, not by the generator)."""
import math

import pytest

import mminspect as mi
from mminspect.api.dataset_samples import pairs_recipe
from mminspect.lab import text_pairs
from mminspect.types import InputError
from mminspect.ui import dataset_tab


@pytest.fixture(scope="module")
def rows():
    return mi.load_dataset_sample("pairs")


def test_the_file_is_what_the_recorded_recipe_writes():
    rec = pairs_recipe()
    again = text_pairs.make_pairs(seed=rec["seed"], per_kind=rec["pairs_per_kind"])
    pairs = mi.load_dataset_sample("pairs_similarity")
    assert list(pairs["text"]) == [p["text_a"] for p in again]
    assert list(pairs["text2"]) == [p["text_b"] for p in again]
    assert rec["words"]["good"] == text_pairs.GOOD and rec["kinds"].keys() == text_pairs.KINDS.keys()
    # another seed draws another set: the seed in the file is the one that made it
    assert text_pairs.make_pairs(seed=rec["seed"] + 1) != again


def test_size_kinds_and_balance(rows):
    assert len(rows) >= 200 and len(rows) == 2 * rows["pair"].nunique()
    kinds = {p["name"] for p in mi.list_pairs()}
    assert set(rows["slice"]) == kinds
    assert rows.groupby("slice").size().nunique() == 1          # as many rows of each kind
    # within a kind the two labels are equally common, and a pair never repeats
    for kind, part in rows.groupby("slice"):
        counts = part["label"].value_counts()
        assert len(counts) == 2 and counts.iloc[0] == counts.iloc[1], kind
    assert rows["text"].is_unique


def _words(text):
    return text.rstrip(".").split()


def test_each_pair_differs_as_its_kind_says(rows):
    good, bad = set(text_pairs.GOOD), set(text_pairs.BAD)
    people, animals = set(text_pairs.PEOPLE), set(text_pairs.ANIMALS)
    for _, p in mi.load_dataset_sample("pairs_similarity").iterrows():
        a, b = _words(p["text"]), _words(p["text2"])
        labels = rows[rows["pair"] == p["pair"]].set_index("side")["label"]
        if p["slice"] == "negation":
            assert b == a[:3] + ["not"] + a[3:]
            positive = a[-1] in good
            assert a[-1] in good | bad
            assert labels["a"] == ("positive" if positive else "negative")
            assert labels["b"] == ("negative" if positive else "positive")
        elif p["slice"] == "number":
            changed = [i for i, (x, y) in enumerate(zip(a, b)) if x != y]
            assert len(a) == len(b) and changed == [1, 2]
            assert b[1] == a[1] + "s" and a[2] == b[2] + "s"       # cats sit / cat sits
            assert (labels["a"], labels["b"]) == ("one animal", "several animals")
        else:
            assert sorted(a) == sorted(b) and a != b                # the same words, moved
            if p["slice"] == "swapped roles":
                assert (a[1], a[-1]) == (b[-1], b[1])
                assert a[1] in people and b[1] in animals
                assert (labels["a"], labels["b"]) == ("a person acts", "an animal acts")
            else:
                adj = a[1]
                assert a[2] in people and b[-2] == adj and b[-1] in text_pairs.OBJECTS
                assert labels["a"].endswith("a person") and labels["b"].endswith("an object")


def test_unknown_name_is_refused_with_the_choices():
    with pytest.raises(InputError, match="pairs_similarity"):
        mi.load_dataset_sample("imagenet")


def test_the_tab_offers_the_pairs(rows):
    data = dataset_tab._data(dataset_tab.PAIRS_NAME, None)
    assert data.equals(rows)


def test_a_slice_runs_through_dataset_mode(rows):
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        part = rows[rows["slice"] == "negation"].head(4)
        table = mi.explain_dataset("minilm", part, methods=["saliency"], heads=False,
                                   budget_s=math.inf)
    finally:
        torch.set_num_threads(threads)
    assert list(table["text"]) == list(part["text"]) and table["ok"].all()
    assert set(table["prediction"]) <= {"positive", "negative"}
    assert list(table["correct"]) == [p == l for p, l in zip(table["prediction"], part["label"])]
