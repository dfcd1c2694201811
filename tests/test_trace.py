"""trace_head on text models: every intermediate of one head recomputed from the layer's real
input and weights, compared with what the model itself computes (its attention probabilities,
its attention output, its hidden states), on the bundled MiniLM and tiny BERT / DistilBERT /
GPT-2 builds."""
import numpy as np
import pytest
import torch

import mminspect as mi
from mminspect.api.trace import trace_head
from mminspect.capture.layer_io import hook_count
from mminspect.types import InputError

TEXT = "The cat sat on the mat."
TOL = 1e-5


def _hidden(adapter, text):
    enc = adapter.encode(text)
    with torch.no_grad():
        out = adapter.model(**enc.inputs, output_hidden_states=True, output_attentions=True)
    return enc, [h[0].numpy() for h in out.hidden_states], [a[0].numpy() for a in out.attentions]


@pytest.mark.parametrize("layer,head", [(0, 0), (2, 5), (5, 11)])
def test_minilm_trace_is_the_models_own_computation(minilm, layer, head):
    tr = mi.trace_head(minilm, TEXT, layer=layer, head=head)
    assert tr.max_error <= TOL, (tr.weights_error, tr.output_error)
    enc, hidden, atts = _hidden(minilm, TEXT)
    assert tr.tokens == tuple(enc.tokens)
    # post-LN: the attention reads the residual stream itself, which is the layer's input
    assert tr.norm == "post" and not tr.causal and tr.mask.all()
    np.testing.assert_allclose(tr.x, hidden[layer], atol=1e-6)
    np.testing.assert_allclose(tr.weights, atts[layer][head], atol=TOL)
    # the pieces fit together as the formula says
    d = tr.d_head
    assert tr.scale == pytest.approx(d ** -0.5)
    np.testing.assert_allclose(tr.scores, tr.q @ tr.k.T, atol=1e-4)
    np.testing.assert_allclose(tr.context, tr.weights @ tr.v, atol=1e-5)
    np.testing.assert_allclose(tr.weights.sum(-1), 1.0, atol=1e-5)
    # q is the model's own query projection of x, this head's columns
    sa = minilm.model.base_model.encoder.layer[layer].attention.self
    with torch.no_grad():
        q = sa.query(torch.from_numpy(tr.x)).numpy()[:, head * d:(head + 1) * d]
    np.testing.assert_allclose(tr.q, q, atol=1e-5)
    # post-LN BERT: LayerNorm(residual_after) is the attention block's output
    ln = minilm.model.base_model.encoder.layer[layer].attention.output.LayerNorm
    with torch.no_grad():
        block_out = ln(torch.from_numpy(tr.residual_after)).numpy()
        ref = minilm.model.base_model.encoder.layer[layer].attention(
            torch.from_numpy(hidden[layer])[None])[0][0].numpy()
    np.testing.assert_allclose(block_out, ref, atol=1e-4)


def test_trace_errors_can_fail(minilm):
    """The errors measure something: a trace of one head against another head's weights is
    far off."""
    a = mi.trace_head(minilm, TEXT, layer=1, head=0)
    b = mi.trace_head(minilm, TEXT, layer=1, head=1)
    assert np.abs(a.weights - b.weights).max() > 0.05


def test_trace_leaves_no_hooks(minilm):
    before = hook_count(minilm.model)      # transformers keeps its own output-capture hooks
    trace_head(minilm, TEXT, 3, 2)
    assert hook_count(minilm.model) == before


def test_tiny_bert_and_distilbert(tiny_bert, task_models):
    for adapter in (tiny_bert, task_models["bert-cls"], task_models["distilbert-mlm"]):
        for layer in range(2):
            for head in range(2):
                tr = mi.trace_head(adapter, "the cat sat on the mat", layer=layer, head=head)
                assert tr.max_error <= TOL, (adapter.name, layer, head, tr.weights_error, tr.output_error)


def test_gpt2_is_causal_and_pre_norm(task_models):
    gpt2 = task_models["gpt2"]
    text = "the cat sat on the mat"
    enc, hidden, atts = _hidden(gpt2, text)
    for layer in range(2):
        for head in range(2):
            tr = mi.trace_head(gpt2, text, layer=layer, head=head)
            assert tr.max_error <= TOL, (layer, head, tr.weights_error, tr.output_error)
            assert tr.causal and tr.norm == "pre"
            t = len(tr.tokens)
            np.testing.assert_array_equal(tr.mask, np.tril(np.ones((t, t), bool)))
            assert np.all(tr.weights[~tr.mask] == 0)            # no look-ahead
            np.testing.assert_allclose(tr.residual, hidden[layer], atol=1e-6)
            np.testing.assert_allclose(tr.weights, atts[layer][head], atol=TOL)
            # pre-LN: x is ln_1 of the residual stream, not the stream itself
            block = gpt2.model.base_model.h[layer]
            with torch.no_grad():
                x = block.ln_1(torch.from_numpy(tr.residual)).numpy()
            np.testing.assert_allclose(tr.x, x, atol=1e-6)
            assert np.abs(tr.x - tr.residual).max() > 0.1


def test_gpt2_residual_after_attention(task_models):
    """GPT-2 adds the attention output to the stream: the block's output minus its MLP's
    contribution is residual_after."""
    gpt2 = task_models["gpt2"]
    text = "a dog is warm"
    _, hidden, _ = _hidden(gpt2, text)
    for layer in range(2):
        tr = mi.trace_head(gpt2, text, layer=layer, head=0)
        block = gpt2.model.base_model.h[layer]
        with torch.no_grad():
            r = torch.from_numpy(tr.residual_after)                   # [token, d_model]
            after_block = (r + block.mlp(block.ln_2(r))).numpy()      # the MLP adds its part
        if layer == 1:       # the last hidden state has GPT-2's final LayerNorm applied
            after_block = gpt2.model.base_model.ln_f(torch.from_numpy(after_block)).detach().numpy()
        np.testing.assert_allclose(after_block, hidden[layer + 1], atol=1e-5)


def test_trace_head_inputs_are_checked(minilm):
    with pytest.raises(InputError, match="layers 0..5"):
        trace_head(minilm, TEXT, layer=6)
    with pytest.raises(InputError, match="heads 0..11"):
        trace_head(minilm, TEXT, layer=0, head=12)
    with pytest.raises(InputError, match="text"):
        trace_head(minilm)
    with pytest.raises(InputError, match="CLIP-style"):
        trace_head(minilm, TEXT, image=np.zeros((8, 8, 3), np.uint8))
    assert trace_head("minilm", TEXT).model_name == "minilm"


def test_embeddings_are_added_and_match_layer0_input(minilm, task_models):
    for adapter, text in ((minilm, TEXT), (task_models["gpt2"], "the cat sat on"),
                          (task_models["distilbert-mlm"], "the cat sat"),
                          (task_models["bert-cls"], "the cat sat")):
        e = mi.trace_embeddings(adapter, text)
        enc, hidden, _ = _hidden(adapter, text)
        assert e.max_error <= TOL, (adapter.name, e.max_error)
        np.testing.assert_allclose(e.after_norm, hidden[0], atol=TOL)      # the model's own
        ids = enc.inputs["input_ids"][0]
        word = adapter.model.get_input_embeddings().weight[ids].detach().numpy()
        np.testing.assert_allclose(e.parts["word"], word, atol=0)
        np.testing.assert_allclose(e.total, sum(e.parts.values()), atol=1e-6)
        d = hidden[0].shape[-1]
        assert e.total.shape == (len(enc.tokens), d)                       # added, not concatenated
        assert np.abs(e.total - e.parts["word"]).max() > 0.01              # the positions matter
    m = mi.trace_embeddings(minilm, TEXT)
    assert list(m.parts) == ["word", "position", "segment"]
    assert list(mi.trace_embeddings(task_models["gpt2"], "the cat").parts) == ["word", "position"]
    norms = m.norms()
    assert set(norms) == {"word", "position", "segment", "total"} and norms["total"].shape == (9,)
    # LayerNorm centres and scales each token: mean 0, variance ~1 before its gain and bias
    ln = minilm.model.base_model.embeddings.LayerNorm
    z = (m.after_norm - ln.bias.detach().numpy()) / ln.weight.detach().numpy()
    np.testing.assert_allclose(z.mean(-1), 0, atol=1e-4)
    np.testing.assert_allclose(z.std(-1), 1, atol=1e-3)
