"""Attention written right and wrong on purpose (explain/attention_variants.py), break_attention
and check_attention: the reference reproduces every family's real attention output; each
mistake is measurably different on MiniLM; the every-layer replacement leaves the model as it
was; check_attention recognises each mistake as itself."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import mminspect as mi
from mminspect.api.glassbox import _everywhere
from mminspect.api.trace import resolve_tower, run_layer
from mminspect.capture.layer_io import hook_count
from mminspect.explain.attention_variants import (ATTENTION_VARIANTS, EMBEDDING_VARIANTS,
                                                  correct_attention, variants_for)
from mminspect.types import InputError

from clip_tiny import CLIP_FAMILIES, OPEN_CLIP_SIGLIP_FAMILIES, SIGLIP_FAMILIES, tiny_clip_of

TEXT = "The cat sat on the mat."
BROKEN = [n for n in ATTENTION_VARIANTS if n != "correct_attention"]


def _args(run):
    return (run.x, *run.weights.as_args(), run.n_heads, run.mask)


def _embedding(adapter, text=TEXT):
    return torch.from_numpy(adapter.embed([text])[0])


def test_correct_attention_reproduces_text_models(minilm, task_models):
    for adapter, text in ((minilm, TEXT), (task_models["bert-cls"], "the cat sat"),
                          (task_models["distilbert-mlm"], "the cat sat"),
                          (task_models["gpt2"], "the cat sat on the mat")):
        t = resolve_tower(adapter, text)
        for layer in range(len(t.blocks)):
            run = run_layer(t, layer)
            out = correct_attention(*_args(run))
            assert (out - run.attn_out).abs().max() <= 1e-5, (adapter.name, layer)


@pytest.mark.parametrize("family", CLIP_FAMILIES + SIGLIP_FAMILIES + OPEN_CLIP_SIGLIP_FAMILIES)
def test_correct_attention_reproduces_clip_towers(family, tmp_path_factory):
    clip = tiny_clip_of(family, tmp_path_factory)
    image = np.random.default_rng(1).integers(0, 256, (36, 36, 3), dtype=np.uint8)
    for tower, kwargs in (("image", {"image": image}), ("text", {"text": "a photo of a cat"})):
        t = resolve_tower(clip, tower=tower, **kwargs)
        for layer in range(len(t.blocks)):
            run = run_layer(t, layer)
            assert (correct_attention(*_args(run)) - run.attn_out).abs().max() <= 1e-5


def test_each_mistake_changes_minilm_layer_output(minilm):
    run = run_layer(resolve_tower(minilm, TEXT), 0)
    for name, (fn, _, _) in variants_for(causal=False, attention_only=True).items():
        diff = float((fn(*_args(run)) - run.attn_out).abs().max())
        assert (diff > 0.1) == (name != "correct_attention"), (name, diff)


@pytest.mark.parametrize("variant", [v for v in variants_for(False) if v != "correct_attention"])
def test_break_attention_on_minilm(minilm, variant):
    b = mi.break_attention(minilm, TEXT, variant, layer=1, head=3, compare_to="A kitten on a rug.")
    assert b.output_error > 0.1
    assert b.prediction_change > 0.01, b          # 1 - cosine of the sentence embeddings
    assert "similarity to the second text" in b.prediction_real
    assert b.weights_real.shape == b.weights_broken.shape == (len(b.tokens),) * 2
    np.testing.assert_allclose(b.weights_real, mi.trace_head(minilm, TEXT, 1, 3).weights, atol=1e-5)
    if variant == "heads_not_split":
        assert math.isnan(b.weights_error)
    elif variant == "no_output_projection":
        assert b.weights_error < 1e-5                # the weights are right, the output is not
    else:
        assert b.weights_error > 0.05
        assert np.abs(b.weights_broken - b.weights_real).max() == pytest.approx(b.weights_error, abs=1e-6)


def test_break_attention_reference_changes_nothing(minilm):
    b = mi.break_attention(minilm, TEXT, "correct_attention", layer=2, head=0)
    assert b.weights_error < 1e-5 and b.output_error < 1e-5 and abs(b.prediction_change) < 1e-5


def test_every_layer_replacement_restores_the_model(minilm):
    t = resolve_tower(minilm, TEXT)
    before, hooks = _embedding(minilm), hook_count(minilm.model)
    with _everywhere(t, correct_attention):          # the reference everywhere: same model
        same = _embedding(minilm)
    with _everywhere(t, ATTENTION_VARIANTS["no_scale"][0]):
        broken = _embedding(minilm)
    after = _embedding(minilm)
    assert (same - before).abs().max() < 1e-5
    assert (broken - before).abs().max() > 0.01
    assert torch.equal(after, before) and hook_count(minilm.model) == hooks


def test_positions_left_out_is_restored(minilm):
    before = _embedding(minilm)
    b = mi.break_attention(minilm, TEXT, "no_position_embeddings", layer=0, head=0)
    assert b.weights_error > 0.05 and b.prediction_change > 0.01
    assert torch.equal(_embedding(minilm), before)


def test_decoder_variants_and_next_token(task_models):
    gpt2 = task_models["gpt2"]
    names = mi.list_attention_variants(gpt2)
    assert "no_causal_mask" in names and "causal_mask_added" not in names
    assert "causal_mask_added" in mi.list_attention_variants("minilm")
    b = mi.break_attention(gpt2, "the cat sat on the", "no_causal_mask", layer=0, head=1)
    assert b.weights_error > 0.01                       # the future gets weight now
    assert np.all(b.weights_real[np.triu_indices(len(b.tokens), 1)] == 0)
    assert "next token" in b.prediction_real and "probability" in b.prediction_measure
    with torch.no_grad():
        enc = gpt2.encode("the cat sat on the")
        p = gpt2.model(**enc.inputs).logits[0, -1].softmax(-1)
    top = gpt2.tokenizer.decode([int(p.argmax())])
    assert repr(top) in b.prediction_real
    ref = mi.break_attention(gpt2, "the cat sat on the", "correct_attention")
    assert abs(ref.prediction_change) < 1e-5
    with pytest.raises(InputError, match="other kind"):
        mi.break_attention(gpt2, "the cat", "causal_mask_added")


def test_check_attention_passes_the_reference(minilm):
    c = mi.check_attention(correct_attention, minilm, layer=2)
    assert c.passed and c.matches == "correct_attention" and c.max_error < 1e-5
    assert len(c.head_errors) == 12 and max(c.head_errors) < 1e-5
    assert "PASSED" in str(c)


@pytest.mark.parametrize("variant", [v for v in variants_for(False, attention_only=True)
                                     if v != "correct_attention"])
def test_check_attention_names_each_mistake(minilm, variant):
    c = mi.check_attention(ATTENTION_VARIANTS[variant][0], minilm, layer=0)
    assert not c.passed and c.max_error > 0.1
    assert c.matches == variant and c.match_error < 1e-6
    assert variant in c.hint and "FAILED" in str(c)


@pytest.fixture(scope="module")
def strong_gpt2(tmp_path_factory):
    """A tiny GPT-2 with larger random weights (std 0.3): with the default 0.02 the scores are
    so small that dropping the 1/sqrt(d) moves the output by only 6e-5, inside the tolerance."""
    import transformers as tf
    from conftest import _save_bpe_tokenizer
    folder = tmp_path_factory.mktemp("strong_gpt2")
    vocab = _save_bpe_tokenizer(folder)
    torch.manual_seed(0)
    cfg = tf.GPT2Config(vocab_size=vocab, n_positions=64, n_embd=16, n_layer=2, n_head=2,
                        bos_token_id=0, eos_token_id=0, initializer_range=0.3)
    tf.GPT2LMHeadModel(cfg).eval().save_pretrained(folder)
    return mi.load(str(folder))


def test_check_attention_on_a_decoder(strong_gpt2):
    gpt2 = strong_gpt2
    text = "the cat sat on the mat"
    assert mi.check_attention(correct_attention, gpt2, 1, text).passed
    for name, (fn, _, _) in variants_for(causal=True, attention_only=True).items():
        if name == "correct_attention":
            continue
        c = mi.check_attention(fn, gpt2, 1, text)
        assert c.matches == name and not c.passed, (name, c)


def test_a_non_standard_scale_is_refused(task_models):
    gpt2 = task_models["gpt2"]
    attn = gpt2.model.base_model.h[0].attn
    old = attn.scaling
    attn.scaling = old / 2            # what scale_attn_by_inverse_layer_idx does to layer 1
    try:
        assert mi.trace_head(gpt2, "the cat sat", 0, 0).max_error <= 1e-5   # the trace follows it
        with pytest.raises(InputError, match="1/sqrt"):
            mi.check_attention(correct_attention, gpt2, 0, "the cat sat")
    finally:
        attn.scaling = old


def test_check_attention_per_head_errors_point_at_the_head(minilm):
    """A function that gets only head 4 wrong (its values doubled) has one bad head."""
    def head4_wrong(x, W_q, b_q, W_k, b_k, W_v, b_v, W_o, b_o, n_heads, mask):
        d = W_v.shape[1] // n_heads
        W_v, b_v = W_v.clone(), b_v.clone()
        W_v[:, 4 * d:5 * d] *= 2
        b_v[4 * d:5 * d] *= 2
        return correct_attention(x, W_q, b_q, W_k, b_k, W_v, b_v, W_o, b_o, n_heads, mask)
    c = mi.check_attention(head4_wrong, minilm)
    bad = [h for h, e in enumerate(c.head_errors) if e > 1e-4]
    assert bad == [4] and not c.passed


def test_check_attention_reports_the_users_exception(minilm):
    def broken(x, *args):
        return x @ undefined_name  # noqa: F821
    with pytest.raises(InputError, match="broken raised NameError: .*undefined_name"):
        mi.check_attention(broken, minilm)
    with pytest.raises(InputError, match=r"shape \(9, 32\)"):
        mi.check_attention(lambda x, *a: x[:, :32], minilm)
    with pytest.raises(InputError, match="needs a function"):
        mi.check_attention("not a function", minilm)


def test_check_attention_takes_numpy_and_cannot_harm_the_model(minilm):
    before = _embedding(minilm)

    def numpy_and_in_place(x, W_q, b_q, W_k, b_k, W_v, b_v, W_o, b_o, n_heads, mask):
        out = correct_attention(x, W_q, b_q, W_k, b_k, W_v, b_v, W_o, b_o, n_heads, mask)
        W_q.mul_(0), W_o.mul_(0), x.mul_(0)            # vandalism stays in the copies
        return out.numpy()
    assert mi.check_attention(numpy_and_in_place, minilm).passed
    assert torch.equal(_embedding(minilm), before)


def test_registry_is_complete_data():
    for name, (fn, description, applies) in ATTENTION_VARIANTS.items():
        assert fn.__name__ == name and description.endswith(".") and applies in ("any", "encoder", "decoder")
    assert set(EMBEDDING_VARIANTS) <= set(ATTENTION_VARIANTS)


def test_break_attention_similarity_numbers(minilm):
    b = mi.break_attention(minilm, TEXT, "no_scale", compare_to="A kitten on a rug.")
    emb = torch.from_numpy(minilm.embed([TEXT, "A kitten on a rug."]))
    assert b.similarity_real == pytest.approx(float(emb[0] @ emb[1]), abs=1e-5)
    assert abs(b.similarity_broken - b.similarity_real) > 1e-3
    assert f"{b.similarity_broken:.3f}" in b.prediction_broken
    assert math.isnan(mi.break_attention(minilm, TEXT, "no_scale").similarity_real)


def test_glassbox_results_round_trip_through_json(minilm, tmp_path):
    b = mi.break_attention(minilm, TEXT, "heads_not_split")            # nan weights_error
    c = mi.check_attention(correct_attention, minilm)
    tr = mi.trace_head(minilm, TEXT, 1, 2)
    for obj in (b, c, tr, mi.trace_embeddings(minilm, TEXT)):
        mi.save_result(obj, tmp_path / "r.json")
        back = mi.load_result(tmp_path / "r.json")
        assert type(back) is type(obj)
    mi.save_result(b, tmp_path / "b.json")
    assert math.isnan(mi.load_result(tmp_path / "b.json").weights_error)
    mi.save_result(tr, tmp_path / "t.json")
    np.testing.assert_array_equal(mi.load_result(tmp_path / "t.json").weights, tr.weights)
