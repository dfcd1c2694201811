"""Causal lab, text models: head ablation equals an independent recomputation,
the batched scan equals one-at-a-time ablation, patching's endpoints, hooks leave nothing
behind, and the scan's top heads matter more than random ones."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import mminspect as mi
from mminspect.api import causal
from mminspect.explain.attribution import make_target
from mminspect.types.causal import HeadImportance

PAIR = ("The cat sat on the mat.", "A kitten rests on a rug.")
TINY_TEXT = {"bert-cls": "the cat sat on the mat", "bert-mlm": "the cat sat on the [MASK] .",
             "distilbert-mlm": "the dog is [MASK] on a rug", "gpt2": "the cat sat on the"}


# --- an independent recomputation: edit a copy's weights instead of hooking the activations

def _out_proj(model, layer: int):
    spec = mi.models.families.HEAD_SITES[model.config.model_type]
    return model.base_model.get_submodule(spec["attention_out"].format(layer=layer))


def _head_columns(proj, head: int, d_head: int):
    """The projection's weight block that multiplies head `head`'s context, as a view."""
    cols = slice(head * d_head, (head + 1) * d_head)
    # nn.Linear stores [out, in]; GPT-2's Conv1D stores [in, out].
    return proj.weight[:, cols] if isinstance(proj, torch.nn.Linear) else proj.weight[cols, :]


# The value vectors of layer `layer` from its input hidden states, per family (for the mean).
VALUES = {
    "bert": lambda base, layer, h: base.encoder.layer[layer].attention.self.value(h),
    "distilbert": lambda base, layer, h: base.transformer.layer[layer].attention.v_lin(h),
    "gpt2": lambda base, layer, h: base.h[layer].attn.c_attn(base.h[layer].ln_1(h)).chunk(3, -1)[2],
}


@torch.no_grad()
def _mean_context(adapter, text: str, layer: int, head: int, n_heads: int) -> torch.Tensor:
    """Head `head`'s context averaged over positions, as attention @ values from the model's
    own returned attentions and hidden states (no hook): [d_head]."""
    enc = adapter.tokenizer(text, return_tensors="pt")
    out = adapter.model(**enc, output_attentions=True, output_hidden_states=True)
    v = VALUES[adapter.model_type](adapter.model.base_model, layer, out.hidden_states[layer])[0]
    d_head = v.shape[-1] // n_heads
    v_h = v[:, head * d_head:(head + 1) * d_head]                  # [token, d_head]
    a_h = out.attentions[layer][0, head]                           # [query, key]
    return (a_h @ v_h).mean(0)                                     # [d_head]


@torch.no_grad()
def _recomputed(adapter, text: str, heads, mode: str, **target) -> float:
    """The target with `heads` removed, computed on a deep copy whose output projection's
    weights for those heads are zeroed (and, for the mean, the mean moved into the bias)."""
    n_heads = causal.head_sites(adapter).n_heads
    edited = copy.copy(adapter)
    edited.model = copy.deepcopy(adapter.model)
    for layer, head in heads:
        proj = _out_proj(edited.model, layer)
        width = proj.weight.shape[1] if isinstance(proj, torch.nn.Linear) else proj.weight.shape[0]
        d_head = width // n_heads
        block = _head_columns(proj, head, d_head)
        if mode == "mean":
            mean = _mean_context(adapter, text, layer, head, n_heads)   # [d_head]
            w = block if isinstance(proj, torch.nn.Linear) else block.T  # [out, d_head]
            proj.bias += w @ mean
        block.zero_()
    tgt = make_target(kind=adapter.kind, **target)
    enc = adapter.encode(text)
    bound = tgt.prepare(adapter).bind(adapter, enc)
    outputs = edited.model(**enc.inputs)
    return float(bound.score(adapter, outputs, enc.inputs["attention_mask"])[0])


def _target_kwargs(head: str) -> dict:
    return {} if head != "embedding" else {"compare_to": PAIR[1]}


@pytest.mark.parametrize("mode", ["zero", "mean"])
@pytest.mark.parametrize("head", ["bert-cls", "bert-mlm", "distilbert-mlm", "gpt2"])
def test_ablation_equals_weight_edit_on_tiny_models(task_models, head, mode):
    adapter, text = task_models[head], TINY_TEXT[head]
    for heads in ([(0, 1)], [(1, 0)], [(0, 0), (1, 1)]):
        got = mi.ablate_heads(adapter, text, heads=heads, mode=mode)
        want = _recomputed(adapter, text, heads, mode)
        assert abs(got.after - want) < 1e-5, (head, heads, got, want)
        assert abs(got.after - got.before) > 1e-7 or mode == "mean"   # the edit did something
        assert got.mean_over == ("the input's positions" if mode == "mean" else "")


def test_ablation_equals_weight_edit_on_tiny_bert_embedding(tiny_bert):
    for mode in ("zero", "mean"):
        got = mi.ablate_heads(tiny_bert, "the cat sat on the mat", heads=[(1, 1)], mode=mode,
                              compare_to="a dog is warm")
        want = _recomputed(tiny_bert, "the cat sat on the mat", [(1, 1)], mode,
                           compare_to="a dog is warm")
        assert abs(got.after - want) < 1e-5


@pytest.mark.parametrize("mode", ["zero", "mean"])
def test_ablation_equals_weight_edit_on_minilm(minilm, mode):
    heads = [(0, 3), (5, 11)]
    got = mi.ablate_heads(minilm, PAIR[0], heads=heads, mode=mode, compare_to=PAIR[1])
    want = _recomputed(minilm, PAIR[0], heads, mode, compare_to=PAIR[1])
    assert abs(got.after - want) < 1e-5
    assert got.delta == pytest.approx(got.after - got.before)


def test_before_equals_attribute_text_target_value(minilm, task_models):
    got = mi.ablate_heads(minilm, PAIR[0], heads=[(0, 0)], compare_to=PAIR[1])
    attr = mi.attribute_text(minilm, PAIR[0], method="saliency", compare_to=PAIR[1],
                             faithfulness=False, both_sides=False)
    assert abs(got.before - attr.target_value) < 1e-5
    assert got.target == attr.target
    gpt = task_models["gpt2"]
    got = mi.ablate_heads(gpt, TINY_TEXT["gpt2"], heads=[(0, 0)])
    attr = mi.attribute_text(gpt, TINY_TEXT["gpt2"], method="saliency", faithfulness=False)
    assert abs(got.before - attr.target_value) < 1e-5 and got.target == attr.target


# --- the batched scan

@pytest.mark.parametrize("mode", ["zero", "mean"])
@pytest.mark.parametrize("head", ["bert-cls", "distilbert-mlm", "gpt2"])
def test_scan_equals_one_at_a_time_on_tiny_models(task_models, head, mode, monkeypatch):
    adapter, text = task_models[head], TINY_TEXT[head]
    for batch in (None, 1):      # one head per forward as well as a layer's heads together
        if batch:
            monkeypatch.setattr(causal, "batch_for_memory", lambda *a: batch)
        imp = mi.head_importance(adapter, text, mode=mode)
        assert imp.batch_size == (batch or 2)
        one = np.array([[mi.ablate_heads(adapter, text, heads=[(layer, h)], mode=mode).delta
                         for h in range(imp.delta.shape[1])] for layer in range(imp.delta.shape[0])])
        np.testing.assert_allclose(imp.delta, one, atol=1e-5)


def test_scan_equals_one_at_a_time_on_minilm(minilm):
    for mode in ("zero", "mean"):
        imp = mi.head_importance(minilm, PAIR[0], mode=mode, compare_to=PAIR[1])
        assert imp.delta.shape == (6, 12) and imp.delta.dtype == np.float32
        for layer, head in [(0, 0), (2, 7), (5, 3), (5, 11)]:
            one = mi.ablate_heads(minilm, PAIR[0], heads=[(layer, head)], mode=mode,
                                  compare_to=PAIR[1])
            assert abs(imp.delta[layer, head] - one.delta) < 1e-5
            assert abs(imp.before - one.before) < 1e-6


def test_top_k_heads_lower_the_target_more_than_random_heads(minilm):
    """On MiniLM similarity pairs, the scan's top-k heads removed together
    lower the target more than k random heads (mean of 5 draws, fixed seed)."""
    rng = np.random.default_rng(0)
    pairs = [PAIR, ("A man is playing a guitar.", "Someone plays music."),
             ("The weather is cold today.", "It is freezing outside.")]
    k = 3
    for text, other in pairs:
        imp = mi.head_importance(minilm, text, compare_to=other)
        top = mi.ablate_heads(minilm, text, heads=imp.top(k), compare_to=other)
        rand = [mi.ablate_heads(minilm, text, compare_to=other,
                                heads=[divmod(int(i), 12) for i in rng.choice(72, k, replace=False)]).delta
                for _ in range(5)]
        assert top.delta < np.mean(rand), (text, top.delta, rand)


# --- patching

def test_patching_endpoints_residual(task_models, minilm):
    for adapter, clean, corrupted, target in [
            (task_models["gpt2"], "the cat sat on the", "the dog sat on the", {}),
            (minilm, "The cat sat on the mat.", "The dog sat on the mat.", {"compare_to": PAIR[1]})]:
        sites = causal.head_sites(adapter)
        enc, bound = causal._bound_target(adapter, clean, None, target.get("compare_to"), None,
                                          None, 0.05, None, 0, None)
        bad = adapter.encode(corrupted)
        clean_value, heads, resid = causal._clean_run(adapter, sites, enc, bound)
        corrupted_value = float(causal._scores(adapter, bad, bound, 1)[0])
        last = sites.n_layers - 1
        n = len(enc.tokens)
        every = {last: torch.ones(1, n, dtype=torch.bool)}
        nothing = {layer: torch.zeros(1, n, dtype=torch.bool) for layer in range(sites.n_layers)}
        full = float(causal.patched_scores(adapter, sites, bad, bound, "residual", every, resid)[0])
        none = float(causal.patched_scores(adapter, sites, bad, bound, "residual", nothing, resid)[0])
        gap = clean_value - corrupted_value
        assert abs((full - corrupted_value) / gap - 1) < 1e-4       # 100 % restored
        assert abs((none - corrupted_value) / gap) < 1e-4           # 0 %
        no_heads = {layer: torch.zeros(1, sites.n_heads, dtype=torch.bool)
                    for layer in range(sites.n_layers)}
        none = float(causal.patched_scores(adapter, sites, bad, bound, "heads", no_heads, heads)[0])
        assert abs((none - corrupted_value) / gap) < 1e-4


def test_patching_sweep_residual_last_layer_of_a_decoder(task_models):
    """GPT-2's next token reads only the last position after the last block: patching that
    position there restores everything, any other position nothing."""
    res = mi.patch_activations(task_models["gpt2"], "the cat sat on the", "the dog sat on the",
                               site="residual")
    assert res.restored.shape == (2, len(res.tokens)) and res.restored.dtype == np.float32
    assert abs(res.restored[-1, -1] - 1) < 1e-4
    np.testing.assert_allclose(res.restored[-1, :-1], 0, atol=1e-4)
    # before the changed token ("cat" -> "dog", position 1) nothing differs, so nothing restores
    np.testing.assert_allclose(res.restored[:, 0], 0, atol=1e-4)


def test_patching_sweep_heads_on_minilm(minilm):
    res = mi.patch_activations(minilm, "The cat sat on the mat.", "The dog sat on the mat.",
                               site="heads", compare_to=PAIR[1])
    assert res.restored.shape == (6, 12)
    assert res.clean_value > res.corrupted_value
    assert np.isfinite(res.restored).all() and res.seconds > 0


def test_patching_refuses_texts_of_different_token_counts(minilm):
    with pytest.raises(mi.InputError, match=r"same number of tokens.*9.*11|same number of tokens"):
        mi.patch_activations(minilm, "The cat sat on the mat.", "The big grey dog sat on the mat.",
                             compare_to=PAIR[1])


# --- hooks leave nothing behind

def _hooks(model) -> int:
    return sum(len(m._forward_pre_hooks) + len(m._forward_hooks) for m in model.modules())


@torch.no_grad()
def test_hooks_removed_and_outputs_unchanged(task_models):
    adapter = task_models["gpt2"]
    enc = adapter.tokenizer(TINY_TEXT["gpt2"], return_tensors="pt")
    before, n_hooks = adapter.model(**enc).logits.clone(), _hooks(adapter.model)
    mi.ablate_heads(adapter, TINY_TEXT["gpt2"], heads=[(0, 0), (1, 1)], mode="mean")
    mi.head_importance(adapter, TINY_TEXT["gpt2"])
    mi.patch_activations(adapter, "the cat sat on the", "the dog sat on the", site="heads")
    mi.patch_activations(adapter, "the cat sat on the", "the dog sat on the", site="residual")
    # and when the forward inside the hooks fails
    sites = causal.head_sites(adapter)
    two = adapter.tokenizer([TINY_TEXT["gpt2"]] * 2, return_tensors="pt")
    with pytest.raises(RuntimeError, match="batch of 3"):
        with causal.edit_heads(sites.attention_out, sites.n_heads,
                               {0: torch.ones(3, sites.n_heads, dtype=torch.bool)},
                               {0: torch.zeros(())}):
            adapter.model(**two)
    assert _hooks(adapter.model) == n_hooks
    assert torch.equal(adapter.model(**enc).logits, before)


def test_input_errors_say_what_to_do(task_models, minilm):
    gpt = task_models["gpt2"]
    with pytest.raises(mi.InputError, match="layers 0..1"):
        mi.ablate_heads(gpt, "the cat", heads=[(2, 0)])
    with pytest.raises(mi.InputError, match="at least one head"):
        mi.ablate_heads(gpt, "the cat", heads=[])
    with pytest.raises(mi.InputError, match="mode"):
        mi.ablate_heads(gpt, "the cat", heads=[(0, 0)], mode="resample")
    with pytest.raises(mi.InputError, match="site"):
        mi.patch_activations(gpt, "the cat", "the dog", site="mlp")
    with pytest.raises(mi.InputError, match="no gap"):
        mi.patch_activations(gpt, "the cat", "the cat")


def test_result_types_check_shapes():
    with pytest.raises(ValueError, match=r"\[layer, head\]"):
        HeadImportance(delta=np.zeros(3), before=0.0, mode="zero", target="t", seconds=0.0,
                       batch_size=1)
    imp = HeadImportance(delta=np.array([[0.1, -0.5], [-0.2, 0.0]]), before=0.0, mode="zero",
                         target="t", seconds=0.0, batch_size=4)
    assert imp.top(2) == [(0, 1), (1, 0)]
