"""Head summary and rollout checked on patterns whose answers are known by hand."""
import numpy as np

from mminspect.explain import head_summary, rollout
from mminspect.types import AttentionMaps


def maps_of(*patterns, special=None):
    """AttentionMaps with one layer per given [query, key] pattern, one head each."""
    w = np.stack([np.asarray(p, float) for p in patterns])[:, None]      # [layer, 1, q, k]
    n = w.shape[-1]
    return AttentionMaps(weights=w, tokens=[f"t{i}" for i in range(n)],
                         special=np.zeros(n, bool) if special is None else np.asarray(special))


def previous_token_pattern(n):
    p = np.eye(n, k=-1)
    p[0, 0] = 1.0                                  # the first token has no previous: itself
    return p


def test_self_attention_head_has_zero_entropy_distance_and_full_self_share():
    s = head_summary(maps_of(np.eye(5)))
    assert s.entropy[0, 0] == 0 and s.distance[0, 0] == 0
    assert s.self_[0, 0] == 1 and s.previous[0, 0] == 0


def test_uniform_head_has_log_n_entropy_and_known_mean_distance():
    n = 6
    s = head_summary(maps_of(np.full((n, n), 1 / n)))
    np.testing.assert_allclose(s.entropy[0, 0], np.log(n), rtol=1e-6)
    expected = np.abs(np.arange(n)[:, None] - np.arange(n)).mean()
    np.testing.assert_allclose(s.distance[0, 0], expected, rtol=1e-6)


def test_previous_token_head_is_recognised():
    s = head_summary(maps_of(previous_token_pattern(5)))
    assert s.previous[0, 0] == 1.0                  # queries 1..4 all look one back
    np.testing.assert_allclose(s.distance[0, 0], 4 / 5)


def test_share_to_special_tokens_counts_only_special_keys():
    p = np.zeros((4, 4))
    p[:, 0] = 0.75
    p[:, 2] = 0.25
    s = head_summary(maps_of(p, special=[True, False, False, True]))
    np.testing.assert_allclose(s.special[0, 0], 0.75)


def test_rollout_of_identity_attention_is_identity():
    r = rollout(maps_of(np.eye(4), np.eye(4)))
    np.testing.assert_allclose(r.weights, np.eye(4))


def test_rollout_equals_a_direct_product_and_rows_sum_to_one():
    rng = np.random.default_rng(0)
    layers = [rng.dirichlet(np.ones(5), size=5) for _ in range(3)]
    r = rollout(maps_of(*layers))
    expected = np.eye(5)
    for a in layers:
        expected = (0.5 * np.eye(5) + 0.5 * a) @ expected
    np.testing.assert_allclose(r.weights, expected, atol=1e-6)
    np.testing.assert_allclose(r.weights.sum(-1), 1.0, atol=1e-6)


def test_rollout_averages_heads_before_multiplying():
    two_heads = np.stack([np.eye(3), np.full((3, 3), 1 / 3)])[None]       # [1 layer, 2 heads, 3, 3]
    m = AttentionMaps(weights=two_heads, tokens=list("abc"), special=np.zeros(3, bool))
    mean = 0.5 * np.eye(3) + 0.5 * np.full((3, 3), 1 / 3)
    np.testing.assert_allclose(rollout(m).weights, 0.5 * np.eye(3) + 0.5 * mean, atol=1e-6)
