"""Result dataclasses refuse wrong shapes with a message that names the fix."""
import numpy as np
import pytest

from mminspect.types import AttentionMaps, HeadSummary, Rollout, TextPrediction, TextView


def _maps(n=3, layers=2, heads=2):
    w = np.full((layers, heads, n, n), 1.0 / n, np.float32)
    return AttentionMaps(weights=w, tokens=[f"t{i}" for i in range(n)], special=np.zeros(n, bool))


def test_attention_maps_rejects_three_dimensional_weights():
    with pytest.raises(ValueError, match=r"\[layer, head, query, key\]"):
        AttentionMaps(weights=np.zeros((2, 3, 3)), tokens=["a", "b", "c"], special=np.zeros(3, bool))


def test_attention_maps_rejects_token_count_mismatch():
    with pytest.raises(ValueError, match="4 tokens"):
        AttentionMaps(weights=np.zeros((1, 1, 3, 3)), tokens=list("abcd"), special=np.zeros(4, bool))


def test_attention_maps_casts_to_float32_and_reports_sizes():
    m = _maps(n=4, layers=3, heads=5)
    assert m.weights.dtype == np.float32 and (m.n_layers, m.n_heads) == (3, 5)


def test_head_summary_requires_equal_shapes():
    a = np.zeros((2, 3))
    with pytest.raises(ValueError, match="distance"):
        HeadSummary(entropy=a, distance=np.zeros((3, 2)), special=a, self_=a, previous=a, first=a)


def test_rollout_must_be_square_in_tokens():
    with pytest.raises(ValueError, match=r"\[2, 2\]"):
        Rollout(weights=np.zeros((2, 3)), tokens=["a", "b"])


def test_prediction_probabilities_must_sum_to_one():
    with pytest.raises(ValueError, match="sum to 1"):
        TextPrediction(kind="embedding", labels=["a", "b"], label_scores=[0.1, 0.2], label_probs=[0.2, 0.2])


def test_prediction_needs_one_score_per_label():
    with pytest.raises(ValueError, match="2 labels"):
        TextPrediction(kind="embedding", labels=["a", "b"], label_scores=[0.1], label_probs=[1.0])


def test_text_view_checks_hidden_norm_shape():
    m = _maps()
    pred = TextPrediction(kind="embedding")
    with pytest.raises(ValueError, match=r"\[layer\+1, token\]=\(3, 3\)"):
        TextView(text="x", model_name="m", attention=m, hidden_norms=np.zeros((2, 3)),
                 offsets=np.zeros((3, 2)), prediction=pred)
    ok = TextView(text="x", model_name="m", attention=m, hidden_norms=np.zeros((3, 3)),
                  offsets=np.zeros((3, 2)), prediction=pred)
    assert ok.tokens == ["t0", "t1", "t2"]
