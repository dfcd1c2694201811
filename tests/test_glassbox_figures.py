"""The glass-box figures on a HeadTrace built by hand (no model): each step draws, shows the
trace's own numbers, escapes the user's text, and stays small for long inputs."""
from __future__ import annotations

import json

import numpy as np
import pytest

from mminspect.figures import glassbox as gb
from mminspect.figures import glassbox_parts as gp
from mminspect.types import EmbeddingTrace, HeadTrace


def hand_trace(tokens=("[CLS]", "the", "<b>cat</b>", "sat", "[SEP]"), d_model=8, n_heads=2,
               head=1, causal=False, seed=0) -> HeadTrace:
    """A HeadTrace computed by the formulas its docstring gives, on random numbers."""
    rng = np.random.default_rng(seed)
    t, d = len(tokens), d_model // n_heads
    x = rng.normal(size=(t, d_model))                                  # [token, d_model]
    wq, wk, wv = (rng.normal(size=(d_model, d)) for _ in range(3))
    wo = rng.normal(size=(d, d_model))
    q, k, v = x @ wq, x @ wk, x @ wv                                   # [token, d_head]
    scores = q @ k.T                                                   # [query, key]
    mask = np.tril(np.ones((t, t), bool)) if causal else np.ones((t, t), bool)
    z = np.where(mask, scores / np.sqrt(d), -np.inf)
    w = np.exp(z - z.max(1, keepdims=True))
    w /= w.sum(1, keepdims=True)                                       # [query, key]
    context = w @ v                                                    # [query, d_head]
    output = context @ wo                                              # [query, d_model]
    bias = rng.normal(size=d_model) * 0.1
    return HeadTrace(tokens=tokens, layer=0, head=head, n_heads=n_heads, tower="text",
                     residual=x, x=x, q=q, k=k, v=v, scores=scores, scale=1 / np.sqrt(d),
                     mask=mask, weights=w, context=context, output=output, out_bias=bias,
                     residual_after=x + 2 * output + bias, weights_error=3e-7,
                     output_error=1e-7, causal=causal)


def hand_embeddings(tokens=("[CLS]", "the", "cat", "[SEP]"), d=8) -> EmbeddingTrace:
    rng = np.random.default_rng(1)
    parts = {name: rng.normal(size=(len(tokens), d)) for name in ("word", "position", "segment")}
    total = sum(parts.values())
    after = (total - total.mean(1, keepdims=True)) / total.std(1, keepdims=True)
    return EmbeddingTrace(tokens=tokens, tower="text", parts=parts, total=total,
                          after_norm=after, max_error=1e-7)


@pytest.mark.parametrize("step", sorted(gb.STEP_FIGURES))
def test_every_step_draws_with_escaped_tokens(step):
    tr = hand_trace()
    fig = gb.STEP_FIGURES[step](tr, 2)
    text = json.dumps(fig.to_plotly_json(), default=str)
    assert "<b>cat" not in text                       # the user's text never becomes HTML
    assert "&lt;b&gt;cat" in text or step in ("output",)
    assert fig.layout.title.text


def test_softmax_bars_are_the_traces_weights_and_name_the_top_key():
    tr = hand_trace()
    fig = gb.softmax_figure(tr, 3)
    np.testing.assert_allclose(fig.data[0].y, tr.weights[3], rtol=1e-6)
    top = int(np.argmax(tr.weights[3]))
    assert gb.token_labels(tr.tokens)[top] in fig.layout.title.text


def test_scale_step_reports_both_entropies_recomputed_by_hand():
    tr = hand_trace()
    fig = gb.scale_figure(tr, 1)
    p = tr.weights[1].astype(np.float64)
    assert f"{-(p * np.log(p)).sum():.3f} nats with the scale" in fig.layout.title.text
    raw = np.exp(tr.scores[1] - tr.scores[1].max())
    raw /= raw.sum()
    assert f"{-(raw * np.log(raw)).sum():.3f} without" in fig.layout.title.text


def test_context_rows_sum_to_the_context_vector():
    tr = hand_trace()
    fig = gb.context_figure(tr, 2)
    z = np.asarray(fig.data[0].z)
    np.testing.assert_allclose(z[:-1].sum(0), tr.context[2], atol=1e-5)


def test_causal_mask_is_drawn_lower_triangular():
    tr = hand_trace(causal=True)
    fig = gb.mask_figure(tr, 0)
    assert "decoder" in fig.layout.title.text
    assert np.asarray(fig.data[0].z)[0, 1:].sum() == 0


def test_long_inputs_show_a_window_around_the_query():
    tokens = tuple(f"w{i}" for i in range(200))
    tr = hand_trace(tokens=tokens)
    for fig in (gb.x_figure(tr, 150), gb.qkv_figure(tr, 150), gb.context_figure(tr, 150)):
        rows = len(fig.data[0].y)
        assert rows <= gb.WINDOW + 1
        assert any("w150" in y for y in fig.data[0].y)


def test_embeddings_are_drawn_as_a_sum_with_every_part():
    emb = hand_embeddings()
    fig = gp.embeddings_figure(emb)
    names = [d.name for d in fig.data]
    assert names == ["word", "position", "segment", "sum", "after LayerNorm"]
    assert "added into one vector of 8 (not 3 × 8)" in fig.layout.title.text
    np.testing.assert_allclose(fig.data[3].y, np.linalg.norm(emb.total, axis=1), rtol=1e-6)


def test_broken_figure_shows_real_and_broken_side_by_side_or_says_why_not():
    tr = hand_trace()
    fig = gp.broken_figure(tr.tokens, tr.weights, tr.weights[::-1], "no <i>scale</i>")
    assert len(fig.data) == 2 and "&lt;i&gt;" in fig.layout.title.text
    assert len(gp.broken_figure(tr.tokens, tr.weights, None, "x").data) == 1


def test_compare_bars_keep_the_real_numbers_on_hover():
    fig = gp.compare_bars_figure(["a", "b"], {"attention": [0.2, 0.4], "attribution": [-1.0, 3.0]}, "t")
    np.testing.assert_allclose(fig.data[1].customdata, [-1.0, 3.0])
    np.testing.assert_allclose(fig.data[1].y, [-1 / 3, 1.0])
