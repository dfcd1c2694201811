"""JSON round trips: a saved result reads back as an equal result of the same class
(arrays bit-identical), and a damaged or foreign file gets a clear refusal."""
import dataclasses
import json

import numpy as np
import pytest

import mminspect as mi
from mminspect.types.serialize import RESULT_TYPES, results_equal, to_jsonable

PAIR = ("The cat sat on the mat.", "A dog lay on the rug.")


def round_trip(result, tmp_path):
    path = mi.save_result(result, tmp_path / "r.json")
    json.loads(path.read_text())                          # strict JSON: no NaN literals
    assert "NaN" not in path.read_text()
    back = mi.load_result(path)
    assert type(back) is type(result)
    return back


def test_text_view_round_trip_is_equal(minilm, tmp_path):
    view = mi.inspect_text(minilm, PAIR[0], compare_to=PAIR[1])
    back = round_trip(view, tmp_path)
    assert results_equal(view, back)
    assert back.attention.weights.dtype == np.float32
    assert np.array_equal(back.attention.weights, view.attention.weights)


def test_attribution_with_faithfulness_and_comparison_round_trip(minilm, tmp_path):
    attr = mi.attribute_text(minilm, PAIR[0], method="integrated_gradients", compare_to=PAIR[1])
    assert attr.faithfulness is not None
    assert results_equal(attr, round_trip(attr, tmp_path))
    comp = mi.compare_attributions(minilm, PAIR[0], methods=["saliency", "input_x_gradient"],
                                   compare_to=PAIR[1])
    assert results_equal(comp, round_trip(comp, tmp_path))


def test_clip_view_pixel_map_and_causal_results_round_trip(tmp_path):
    clip = mi.load("miniclip")
    image = mi.load_example("scene 1: a red star and a green star").image
    view = mi.inspect_clip(clip, image, ["a red star", "a blue circle"])
    assert results_equal(view, round_trip(view, tmp_path))
    pix = mi.attribute_image(clip, image, "a red star", method="relevance")
    assert results_equal(pix, round_trip(pix, tmp_path))
    abl = mi.ablate_heads(clip, image=image, prompts=["a red star", "a blue circle"], heads=[(0, 0)])
    assert results_equal(abl, round_trip(abl, tmp_path))


def test_non_finite_numbers_survive_and_a_changed_value_is_seen(minilm, tmp_path):
    imp = mi.head_importance(minilm, PAIR[0], compare_to=PAIR[1])
    delta = imp.delta.copy()
    delta[0, 0] = np.nan
    delta[0, 1] = np.inf
    odd = dataclasses.replace(imp, delta=delta)
    back = round_trip(odd, tmp_path)
    assert np.isnan(back.delta[0, 0]) and np.isposinf(back.delta[0, 1])
    assert results_equal(odd, back)
    assert not results_equal(imp, back)                   # the check can fail


def test_every_result_class_is_known_and_foreign_values_are_refused():
    assert {"TextView", "TokenAttribution", "ClipView", "HeadTrace", "HeadImportance"} <= set(RESULT_TYPES)

    @dataclasses.dataclass
    class Other:
        x: int = 1
    with pytest.raises(ValueError, match="not an mminspect result"):
        to_jsonable(Other())
    with pytest.raises(ValueError, match="cannot be saved"):
        to_jsonable({"f": object()})


@pytest.mark.parametrize("content, words", [
    ("not json at all", "is not JSON"),
    ('{"format": "something-else", "result": {}}', "is not an mminspect result"),
    ('{"format": "mminspect-result/1", "result": {"__result__": "os.system", "fields": {}}}',
     "unknown result type"),
    ('{"format": "mminspect-result/1", "result": {"__result__": "Rollout", "fields": {"weights": 1}}}',
     "does not check out"),
])
def test_damaged_or_foreign_files_get_a_clear_refusal(tmp_path, content, words):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(mi.InputError, match=words):
        mi.load_result(path)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(mi.InputError, match="No file at"):
        mi.load_result(tmp_path / "nope.json")


def _file(tmp_path, result_body, name="crafted.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps({"format": "mminspect-result/1", "result": result_body}))
    return path


CRAFTED = {
    # a 125-byte file that asked numpy for 3.7 GiB
    "huge dtype": {"__ndarray__": [], "dtype": "S1000000000", "shape": [4]},
    "object dtype": {"__ndarray__": [1, 2], "dtype": "object", "shape": [2]},
    "shape larger than its values": {"__ndarray__": [1.0], "dtype": "float32",
                                     "shape": [100000, 100000]},
    "negative shape": {"__ndarray__": [], "dtype": "float32", "shape": [-1]},
    "text in an array": {"__ndarray__": ["a", "b"], "dtype": "float32", "shape": [2]},
    "fields not a dict": {"__result__": "TextView", "fields": 5},
    "unknown field": {"__result__": "TextView", "fields": {"nonsense": 1}},
    "result name not text": {"__result__": ["TextView"], "fields": {}},
    "float tag": {"__float__": "1e999"},
    "tuple not a list": {"__tuple__": 3},
    "int too large": {"__ndarray__": [10 ** 30], "dtype": "int64", "shape": [1]},
}


@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_crafted_files_get_a_clear_refusal_before_anything_large_is_allocated(tmp_path, case):
    path = _file(tmp_path, CRAFTED[case])
    with pytest.raises(mi.InputError, match="does not check out"):
        mi.load_result(path)


def test_a_huge_dtype_in_a_tiny_file_is_refused_by_name(tmp_path):
    path = _file(tmp_path, CRAFTED["huge dtype"])
    assert path.stat().st_size < 200
    with pytest.raises(mi.InputError, match="dtype 'S1000000000'"):
        mi.load_result(path)


@pytest.mark.parametrize("depth", [100, 100_000])
def test_deep_nesting_is_refused_not_a_recursion_error(tmp_path, depth):
    path = tmp_path / "deep.json"
    body = "[" * depth + "]" * depth
    path.write_text('{"format": "mminspect-result/1", "result": ' + body + "}")
    with pytest.raises(mi.InputError, match="nested"):
        mi.load_result(path)
    nested_dicts = {"a": None}
    for _ in range(depth if depth < 1000 else 500):
        nested_dicts = {"a": nested_dicts}
    with pytest.raises(mi.InputError, match="nested"):
        mi.load_result(_file(tmp_path, nested_dicts, "deep_dicts.json"))


def test_a_well_formed_array_still_reads_back(tmp_path):
    back = mi.load_result(_file(tmp_path, {"__ndarray__": [[1.0, {"__float__": "nan"}]],
                                           "dtype": "float32", "shape": [1, 2]}))
    assert back.dtype == np.float32 and back.shape == (1, 2) and np.isnan(back[0, 1])
