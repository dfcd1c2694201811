"""Hub-style task checkpoints (built here, loaded by path through the picker's code path):
predictions equal a direct call, the logit lens ends at the model's logits, causal attention
is masked above the diagonal."""
import numpy as np
import pytest
import torch

import mminspect as mi
from conftest import direct_logits


@pytest.fixture(scope="module")
def models(task_models):
    return task_models


def test_kinds_are_detected_from_the_config(models):
    kinds = {h: m.kind for h, m in models.items()}
    assert kinds == {"bert-cls": "classifier", "bert-mlm": "masked_lm",
                     "distilbert-mlm": "masked_lm", "gpt2": "causal_lm"}


def test_classifier_probabilities_equal_a_direct_call(models):
    m = models["bert-cls"]
    view = mi.inspect_text(m, "the cat sat on the mat")
    expected = torch.softmax(direct_logits(m, "the cat sat on the mat"), -1).numpy()
    np.testing.assert_allclose(view.prediction.label_probs, expected, atol=1e-6)
    assert view.prediction.labels == ["negative", "neutral", "positive"]


@pytest.mark.parametrize("head", ["bert-mlm", "distilbert-mlm"])
def test_mask_fillers_equal_a_direct_call(models, head):
    m = models[head]
    text = "the [MASK] sat on the [MASK]"
    view = mi.inspect_text(m, text)
    logits = direct_logits(m, text)
    fills = view.prediction.fills
    assert [f.position for f in fills] == [2, 6]
    for f in fills:
        probs = torch.softmax(logits[f.position], -1)
        top = torch.topk(probs, 5)
        assert f.ids.tolist() == top.indices.tolist()
        np.testing.assert_allclose(f.probs, top.values.numpy(), atol=1e-6)


def test_masked_lm_without_a_mask_says_how_to_get_fillers(models):
    view = mi.inspect_text(models["bert-mlm"], "the cat sat")
    assert view.prediction.fills == [] and "[MASK]" in view.notes[0]


def test_next_token_and_greedy_continuation_equal_a_direct_call(models):
    m = models["gpt2"]
    text = "the cat sat on"
    view = mi.inspect_text(m, text)
    logits = direct_logits(m, text)
    nxt = view.prediction.fills[0]
    assert nxt.ids[0] == int(logits[-1].argmax())
    np.testing.assert_allclose(nxt.probs[0], torch.softmax(logits[-1], -1).max().item(), atol=1e-6)
    # greedy by hand: append the argmax token 8 times
    ids = m.tokenizer(text, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        for _ in range(8):
            ids = torch.cat([ids, m.model(ids).logits[:, -1:].argmax(-1)], 1)
    assert view.prediction.continuation == m.tokenizer.decode(ids[0, -8:], skip_special_tokens=True)


def test_gpt2_tokens_are_shown_without_byte_level_markers(models):
    view = mi.inspect_text(models["gpt2"], "the cat sat")
    assert not any("Ġ" in t for t in view.tokens)
    assert "".join(view.tokens) == "the cat sat"


def test_causal_attention_is_zero_above_the_diagonal(models):
    view = mi.inspect_text(models["gpt2"], "the cat sat on the warm mat")
    w = view.attention.weights
    assert view.attention.causal
    upper = np.triu(np.ones(w.shape[-2:], bool), k=1)
    assert np.all(w[..., upper] == 0)
    np.testing.assert_allclose(w.sum(-1), 1.0, atol=1e-5)
    s = mi.explain.head_summary(view.attention)
    np.testing.assert_allclose(s.first, w[..., 0].mean(-1), rtol=1e-6)   # the sink share


@pytest.mark.parametrize("head", ["gpt2", "bert-mlm", "distilbert-mlm"])
def test_logit_lens_last_layer_equals_the_model_output(models, head):
    m = models[head]
    text = "the cat sat on the mat"
    lens = mi.logit_lens(m, text, top_k=3)
    logits = direct_logits(m, text)
    probs = torch.softmax(logits, -1)
    top = torch.topk(probs, 3, dim=-1)
    np.testing.assert_allclose(lens.top_probs[-1], top.values.numpy(), atol=1e-5)
    assert lens.top_probs.shape == (3, len(lens.tokens), 3)      # embeddings + 2 layers
    assert np.all(lens.final_rank[-1] == 0)
    # an earlier layer through the same head is a different prediction, ranked by hand
    enc = m.tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        h0 = m.model(**enc, output_hidden_states=True).hidden_states[0][0]
        l0 = m.lens_logits(h0, 0)
    final = logits.argmax(-1)
    expected_rank = (l0 > l0.gather(-1, final[:, None])).sum(-1).numpy()
    np.testing.assert_array_equal(lens.final_rank[0], expected_rank)


def test_logit_lens_is_refused_for_a_sentence_embedding_model(minilm):
    with pytest.raises(mi.InputError, match="masked or causal language model"):
        mi.logit_lens(minilm, "no head here")


def test_the_cache_evicts_the_least_recently_used_model_beyond_its_budget(models, monkeypatch):
    from mminspect.models import registry
    names = [str(d) for d in sorted({m.name for m in models.values()})]
    monkeypatch.setattr(registry, "_CACHE", registry.OrderedDict())
    one = registry.load(names[0]).memory_bytes()
    monkeypatch.setenv("MMINSPECT_CACHE_MB", str(2.5 * one / 1e6))  # room for two of them
    for n in names[:3]:
        registry.load(n)
    assert list(registry._CACHE) == names[1:3]
    registry.load(names[1])                                          # touch: now most recent
    registry.load(names[0])
    assert list(registry._CACHE) == [names[1], names[0]]


def test_inspect_text_gives_the_logit_lens_from_its_own_forward_pass(models, minilm):
    text = "the cat sat on the mat"
    view = mi.inspect_text(models["gpt2"], text, logit_lens=True)
    alone = mi.logit_lens(models["gpt2"], text)
    np.testing.assert_array_equal(view.lens.top_probs, alone.top_probs)
    np.testing.assert_array_equal(view.lens.final_rank, alone.final_rank)
    assert view.lens.top_tokens == alone.top_tokens
    assert mi.inspect_text(models["gpt2"], text).lens is None          # only when asked
    assert mi.inspect_text(minilm, text, logit_lens=True).lens is None  # no head to read
