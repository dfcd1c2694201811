"""Glass box and causal lab on the shipped fusion model's heads.

The glass-box trace of a joint head is compared with a recomputation written here from the
weights (the blocks run by hand up to the layer, then q, k, softmax and the output
projection): <= 1e-5. Head ablation is compared with a hook written here (a pre-hook on the
layer's output projection that zeros the head's slice of its input), head importance with
single ablations, and the held-out accuracy under ablation with the model card's own
evaluation when no head of consequence is removed."""
import math

import numpy as np
import pytest
import torch

import mminspect as mi
from mminspect.api.fusion import fusion_example, list_fusion_examples
from mminspect.api.fusion_causal import (ablate_fusion_heads, fusion_ablation_accuracy,
                                         fusion_head_importance, image_reading_heads)
from mminspect.api.fusion_trace import fusion_head_block, n_text
from mminspect.fusion import words as W
from mminspect.lab.fusion_eval import masked
from mminspect.miniclip.model import to_pixels
from mminspect.models import load
from mminspect.types import InputError

TOL = 1e-5


@pytest.fixture(scope="module")
def fusion():
    return load("fusion")


@pytest.fixture(scope="module")
def scene():
    ex = fusion_example(list_fusion_examples()[2])
    words = ex.caption.split()
    return ex.image, " ".join(["a", "[MASK]", *words[2:]])     # the first colour blanked


def _by_hand(adapter, image, caption, layer):
    """(attention probabilities [head, T, T], attention output [T, D]) of `layer`, from the
    weights: embeddings, the blocks below run one by one, then this layer's attention."""
    m = adapter.model
    tokens = [W.CLS, *W.tokenize(caption)]
    ids = torch.tensor([W.ids_of(tokens)])
    with torch.no_grad():
        x = m.embed(ids, to_pixels(adapter.image_array(image)[None]))     # [1, T, D]
        for blk in m.blocks[:layer]:
            x = blk(x)[0]
        blk = m.blocks[layer]
        h = blk.ln1(x)[0]                                                  # [T, D]
        T, D = h.shape
        H = blk.attn.heads
        qkv = h @ blk.attn.qkv.weight.T + blk.attn.qkv.bias                # [T, 3D]
        q, k, v = (t.reshape(T, H, D // H).transpose(0, 1) for t in qkv.split(D, dim=1))
        p = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(D // H), dim=-1)   # [H, T, T]
        ctx = (p @ v).transpose(0, 1).reshape(T, D)
        return p.numpy(), (ctx @ blk.attn.proj.weight.T + blk.attn.proj.bias).numpy()


@pytest.mark.parametrize("layer,head", [(0, 1), (2, 3)])
def test_trace_of_a_joint_head_equals_a_recomputation(fusion, scene, layer, head):
    image, caption = scene
    tr = mi.trace_head(fusion, caption, layer=layer, head=head, image=image)
    probs, out = _by_hand(fusion, image, caption, layer)
    assert tr.tower == "joint" and tr.tokens[-1] == "r7c7" and len(tr.tokens) == probs.shape[-1]
    assert np.abs(tr.weights - probs[head]).max() <= TOL
    assert np.abs(tr.residual_after - tr.residual - out).max() <= TOL
    assert tr.max_error <= TOL


def test_text_to_image_block_is_the_word_rows_on_patch_keys(fusion, scene):
    image, caption = scene
    tr = mi.trace_head(fusion, caption, layer=3, head=0, image=image)
    blk = fusion_head_block(tr, "text->image")
    k = len(W.tokenize(caption)) + 1
    assert n_text(tr.tokens) == k and blk.weights.shape == (k, 64)
    assert blk.query_tokens[2] == W.MASK and blk.key_tokens[0] == "r0c0"
    np.testing.assert_allclose(blk.weights, tr.weights[:k, k:])
    other = fusion_head_block(tr, "text->text")
    np.testing.assert_allclose(blk.share + other.share, 1.0, atol=1e-5)   # one softmax per row
    with pytest.raises(InputError, match="choose one of"):
        fusion_head_block(tr, "words->pixels")


def test_embedding_trace_of_the_joint_sequence(fusion, scene):
    emb = mi.trace_embeddings(fusion, scene[1], image=scene[0])
    assert list(emb.parts) == ["content", "position", "modality"]
    assert emb.max_error <= TOL


def test_trace_refuses_a_missing_image(fusion):
    with pytest.raises(InputError, match="image and a caption"):
        mi.trace_head(fusion, "a red star", layer=0, head=0)


def _hooked_answer(adapter, image, caption, heads):
    """P(the intact answer at [MASK]) with `heads` zeroed by a hook written here."""
    tokens = [W.CLS, *W.tokenize(caption)]
    pos = tokens.index(W.MASK)
    ids = torch.tensor([W.ids_of(tokens)])
    pixels = to_pixels(adapter.image_array(image)[None])
    m = adapter.model
    d = m.cfg.width // m.cfg.heads
    with torch.no_grad():
        probs = m(pixels, ids)[1].softmax(-1)[0, pos]
        word = int(probs.argmax())
        handles = []
        for layer in {a for a, _ in heads}:
            cut = [h for a, h in heads if a == layer]

            def zero(module, args, cut=cut):
                x = args[0].clone()
                for h in cut:
                    x[..., h * d:(h + 1) * d] = 0
                return (x,)
            handles.append(m.blocks[layer].attn.proj.register_forward_pre_hook(zero))
        try:
            after = m(pixels, ids)[1].softmax(-1)[0, pos, word]
        finally:
            for h in handles:
                h.remove()
    return float(probs[word]), float(after)


def test_ablation_equals_an_independent_hook(fusion, scene):
    heads = [(3, 3), (2, 2), (0, 1)]
    abl = ablate_fusion_heads(fusion, *scene, heads)
    before, after = _hooked_answer(fusion, *scene, heads)
    assert abl.before == pytest.approx(before, abs=1e-6)
    assert abl.after == pytest.approx(after, abs=1e-6)
    assert abl.after != pytest.approx(abl.before, abs=1e-4)     # these heads do something


def test_importance_is_each_head_ablated_alone(fusion, scene):
    imp = fusion_head_importance(fusion, *scene)
    assert imp.delta.shape == (4, 4)
    for layer, head in [(0, 0), (3, 3), tuple(int(i) for i in np.unravel_index(imp.delta.argmin(), (4, 4)))]:
        before, after = _hooked_answer(fusion, *scene, [(layer, head)])
        assert imp.delta[layer, head] == pytest.approx(after - before, abs=1e-5)


def test_image_reading_heads_rank_by_text_to_image_share(fusion, scene):
    heads = image_reading_heads(fusion, *scene, k=3)
    pos = W.tokenize(scene[1]).index(W.MASK) + 1
    share = {}
    for layer in range(4):
        for head in range(4):
            tr = mi.trace_head(fusion, scene[1], layer=layer, head=head, image=scene[0])
            share[(layer, head)] = fusion_head_block(tr).share[pos]
    assert heads == sorted(share, key=lambda h: -share[h])[:3]


def test_intact_accuracy_matches_the_card_evaluation(fusion):
    """The intact figure beside the ablated one is lab/fusion_eval's masked-colour accuracy on
    the same held-out scenes (the same seed, stream and blanks)."""
    acc = fusion_ablation_accuracy(fusion, [(0, 0)], "colour", n=60)
    assert acc.intact == pytest.approx(masked(fusion.model, 60, ("colour",), stream=2))
    assert acc.chance == pytest.approx(1 / 6) and acc.n == 60


def test_causal_refusals(fusion, scene):
    with pytest.raises(InputError, match="layers 0..3"):
        ablate_fusion_heads(fusion, *scene, [(9, 0)])
    with pytest.raises(InputError, match="'colour' or 'object'"):
        fusion_ablation_accuracy(fusion, [(0, 0)], "size")
    with pytest.raises(InputError, match="not a fusion model"):
        ablate_fusion_heads("miniclip", *scene, [(0, 0)])
