"""The newer image explainers (LeGrad, Grad-ECLIP with its word map, MaskCLIP's value path,
SCLIP-style self-self attention, last-layer relevance) on every tiny CLIP family, each
against the paper's recipe written apart in plain torch on the model's weights
(tests/image_explainer_refs.py), plus hand-built cases and the energy-in-mask rule."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import clip_tiny  # noqa: E402
from clip_tiny import CLIP_FAMILIES, tiny_clip_of  # noqa: E402
from image_explainer_refs import (TOWERS, dense_ref, grad_eclip_ref, legrad_ref,  # noqa: E402
                                  relevance_last_ref, run)

import mminspect as mi  # noqa: E402
from mminspect.capture.layer_io import hook_count  # noqa: E402
from mminspect.explain.image_methods import IMAGE_METHODS, compute, text_embeddings  # noqa: E402
from mminspect.explain.pointing import energy_in_mask  # noqa: E402
from mminspect.explain.relevance import propagate  # noqa: E402

F = torch.nn.functional
NEW = ["relevance_last", "legrad", "grad_eclip", "maskclip", "sclip"]
# SigLIP joins every family-wide test once its adapter is in the tree (models/hf_siglip.py).
FAMILIES = (CLIP_FAMILIES + list(getattr(clip_tiny, "SIGLIP_FAMILIES", []))
            + list(getattr(clip_tiny, "OPEN_CLIP_SIGLIP_FAMILIES", [])))


@pytest.fixture(scope="module", params=FAMILIES)
def clip(request, tmp_path_factory):
    return tiny_clip_of(request.param, tmp_path_factory)


@pytest.fixture(scope="module", params=CLIP_FAMILIES)
def plain_clip(request, tmp_path_factory):
    """The families the plain-torch references re-implement (CLS-pooled ViTs)."""
    return tiny_clip_of(request.param, tmp_path_factory)


@pytest.fixture(scope="module")
def image():
    return np.random.default_rng(7).integers(0, 256, (48, 48, 3), dtype=np.uint8)


def _inputs(clip, image, prompts=("a red circle",)):
    px = clip.preprocess([image])
    encs = [clip.tokenize(p) for p in prompts]
    return px, encs, text_embeddings(clip, encs)


@pytest.mark.parametrize("method", NEW)
def test_every_new_method_runs_on_every_family_and_leaves_no_hook(clip, image, method):
    px, encs, _ = _inputs(clip, image, ("a red circle", "a blue square"))
    g = clip.patch_grid
    model = clip.model
    compute(clip, px, encs[:1], "similarity")   # transformers adds its own capture hooks once
    before = hook_count(model)
    for k in (1, 2):                                          # why A; why A rather than B
        out = compute(clip, px, encs[:k], method)
        assert out.patch_scores.shape == (g.rows, g.cols)
        assert out.pixel_scores.shape == g.image_size
        assert np.isfinite(out.patch_scores).all() and np.isfinite(out.target_value)
    assert hook_count(model) == before
    m = IMAGE_METHODS[method]
    assert m.label and m.description


def test_the_manual_towers_reproduce_each_adapters_embedding(plain_clip, image):
    """The references' own forward must be the model's, or comparing with it proves nothing."""
    px, _, _ = _inputs(plain_clip, image)
    tower = TOWERS[plain_clip.family](plain_clip)
    with torch.no_grad():
        r = run(tower, px)
        mine = tower.proj(tower.norm(r["tokens"][0]))
        theirs = plain_clip.image_forward(px).embedding
    torch.testing.assert_close(mine, theirs, rtol=1e-4, atol=1e-5)


def test_legrad_equals_the_paper_recipe(plain_clip, image):
    px, encs, t = _inputs(plain_clip, image)
    g = plain_clip.patch_grid
    for layers in (1, 2):
        ref = legrad_ref(TOWERS[plain_clip.family](plain_clip), px, t[0], layers)[1:]
        ref = (ref - ref.min()) / (ref.max() - ref.min())
        out = compute(plain_clip, px, encs, "legrad", {"layers": layers})
        np.testing.assert_allclose(out.patch_scores, g.to_image(ref.numpy()), atol=2e-4)
        assert out.patch_scores.min() == 0.0 and out.patch_scores.max() == pytest.approx(1.0)


def test_grad_eclip_image_map_equals_the_paper_recipe(plain_clip, image):
    px, encs, t = _inputs(plain_clip, image)
    ref = grad_eclip_ref(TOWERS[plain_clip.family](plain_clip), px, t[0])[1:]
    out = compute(plain_clip, px, encs, "grad_eclip")
    assert ref.max() > 0, "a degenerate case (all zero) would not test anything"
    scale = float(ref.abs().max())
    np.testing.assert_allclose(out.patch_scores / scale,
                               plain_clip.patch_grid.to_image(ref.numpy()) / scale, atol=1e-4)


@pytest.mark.parametrize("method,kind", [("maskclip", "identity"), ("sclip", "self_self")])
def test_dense_maps_equal_the_papers_last_layer(plain_clip, image, method, kind):
    px, encs, t = _inputs(plain_clip, image)
    ref = dense_ref(TOWERS[plain_clip.family](plain_clip), px, t[0], kind)
    out = compute(plain_clip, px, encs, method)
    np.testing.assert_allclose(out.patch_scores, plain_clip.patch_grid.to_image(ref.numpy()),
                               atol=1e-4)
    # and they are not the plain similarity map (the last layer really changed)
    plain = compute(plain_clip, px, encs, "similarity").patch_scores
    assert np.abs(out.patch_scores - plain).max() > 1e-3


def test_last_layer_relevance_equals_the_notebook_rule(plain_clip, image):
    px, encs, t = _inputs(plain_clip, image)
    ref = relevance_last_ref(TOWERS[plain_clip.family](plain_clip), px, t[0],
                             plain_clip.logit_scale)[1:]
    out = compute(plain_clip, px, encs, "relevance_last")
    np.testing.assert_allclose(out.patch_scores, plain_clip.patch_grid.to_image(ref.numpy()),
                               rtol=1e-3, atol=1e-6)
    every = compute(plain_clip, px, encs, "relevance")
    assert not np.allclose(out.patch_scores, every.patch_scores)   # a different variant


def test_propagate_from_the_last_layer_by_hand():
    a = [torch.full((1, 1, 2, 2), 0.5), torch.tensor([[[[0.9, 0.1], [0.2, 0.8]]]])]
    g = [torch.ones(1, 1, 2, 2), torch.tensor([[[[1.0, -1.0], [2.0, 1.0]]]])]
    r = propagate(a, g, start=-1)[0]
    torch.testing.assert_close(r, torch.tensor([[1.9, 0.0], [0.4, 1.8]]))
    r_all = propagate(a, g)[0]                           # both layers: (I + A2)(I + A1)
    torch.testing.assert_close(r_all, torch.tensor([[1.9, 0.0], [0.4, 1.8]])
                               @ torch.tensor([[1.5, 0.5], [0.5, 1.5]]))


def test_grad_eclip_word_map_is_normalised_over_real_words(clip, image):
    px, encs, _ = _inputs(clip, image, ("a red circle on the left",))
    out = compute(clip, px, encs, "grad_eclip")
    assert out.text is not None, out.notes
    special = np.asarray(encs[0].special, bool)
    assert out.text.shape == (len(encs[0].tokens),) and (out.text >= 0).all()
    assert (out.text[special] == 0).all()
    assert out.text.sum() == pytest.approx(1.0) or out.text.sum() == 0.0
    view = mi.attribute_image(clip, image, "a red circle on the left", method="grad_eclip")
    assert view.words and len(view.words) == len(view.word_scores)   # shown like relevance's


def test_grad_eclip_word_map_equals_the_recipe_on_hf_clip(tmp_path_factory, image):
    """The text tower by hand (causal attention, EOT pooled), every layer of the tiny tower
    (2 of 2 = the default two thirds, rounded up)."""
    clip = tiny_clip_of("hf_clip", tmp_path_factory)
    enc = clip.tokenize("a red circle on the left")
    tm = clip.model.text_model
    ids = enc.inputs["input_ids"]
    n = ids.shape[1]
    img = F.normalize(clip.image_forward(clip.preprocess([image])).embedding.detach(), dim=-1)
    x = tm.embeddings(input_ids=ids)[0]                                     # [T, D]
    mask = torch.full((n, n), float("-inf")).triu(1)
    ctxs, qkvs = [], []
    for lay in tm.encoder.layers:
        a = lay.self_attn
        h = lay.layer_norm1(x)
        q, k, v = a.q_proj(h), a.k_proj(h), a.v_proj(h)
        hd = q.shape[1] // a.num_heads
        sp = lambda y: y.reshape(n, a.num_heads, hd).transpose(0, 1)     # noqa: E731
        p = (sp(q) @ sp(k).transpose(1, 2) * hd ** -0.5 + mask).softmax(-1)
        ctx = (p @ sp(v)).transpose(0, 1).reshape(n, -1)
        ctxs.append(ctx)
        qkvs.append((q.detach(), k.detach(), v.detach(), a.out_proj))
        x = x + a.out_proj(ctx)
        x = x + lay.mlp(lay.layer_norm2(x))
    eot = int(np.argmax(clip.text_pool_weights(enc)))
    e = F.normalize(clip.model.text_projection(tm.final_layer_norm(x)[eot]), dim=-1)
    grads = torch.autograd.grad(e @ img, ctxs)
    total = 0
    for gz, (q, k, v, out) in zip(grads, qkvs):
        cos = F.normalize(out(k), dim=-1) @ F.normalize(out(q)[eot], dim=-1)
        lam = (cos - cos.min()) / (cos.max() - cos.min())
        total = total + (gz[eot] * v).sum(-1) * lam
    ref = total.clamp(min=0).detach().numpy().astype(float)
    ref[np.asarray(enc.special, bool)] = 0
    assert ref.sum() > 0
    out = compute(clip, clip.preprocess([image]), [enc], "grad_eclip")
    np.testing.assert_allclose(out.text, ref / ref.sum(), atol=1e-5)


def test_energy_in_mask_by_hand():
    from mminspect.models.clip_base import PatchGrid
    g = PatchGrid(rows=2, cols=2, patch_size=4, image_size=(8, 8))
    mask = np.zeros((8, 8), bool)
    mask[0:4, 0:4] = True                            # all of patch (0, 0), nothing else
    scores = np.array([[3.0, -5.0], [1.0, 0.0]])     # positive mass 4, of which 3 inside
    assert energy_in_mask(scores, mask, g) == pytest.approx(0.75)
    assert energy_in_mask(-np.abs(scores), mask, g) == 0.0      # no positive mass at all
    assert energy_in_mask(np.ones((2, 2)), mask, g) == pytest.approx(0.25)   # uniform = area
    half = np.zeros((8, 8), bool)
    half[0:2, 0:4] = True                            # half of patch (0, 0)
    assert energy_in_mask(scores, half, g) == pytest.approx(3 * 0.5 / 4)


@pytest.fixture(scope="module")
def siglip(tmp_path_factory):
    if "hf_siglip" not in FAMILIES:
        pytest.skip("no SigLIP adapter in this tree")
    return tiny_clip_of("hf_siglip", tmp_path_factory)


def _siglip_parts(siglip, image):
    px, encs, t = _inputs(siglip, image)
    vm = siglip.model.vision_model
    return px, encs, t[0], vm, vm.head


def test_siglip_legrad_equals_the_recipe_on_the_libraries_own_outputs(siglip, image):
    """Each layer's hidden states through post_layernorm and the attention-pooling head, the
    gradient w.r.t. that layer's attention as transformers returns it."""
    px, encs, t, vm, head = _siglip_parts(siglip, image)
    out = vm(pixel_values=px.clone().requires_grad_(True), output_attentions=True,
             output_hidden_states=True)
    total = 0
    n = len(vm.encoder.layers)
    for i in (n - 2, n - 1):
        e = F.normalize(head(vm.post_layernorm(out.hidden_states[i + 1]))[0], dim=-1)
        g, = torch.autograd.grad(t @ e, out.attentions[i], retain_graph=True)
        total = total + g[0].clamp(min=0).mean(0).mean(0)
    ref = total[1:].detach()                               # the [POOL] placeholder dropped
    ref = (ref - ref.min()) / (ref.max() - ref.min())
    mine = compute(siglip, px, encs, "legrad").patch_scores
    np.testing.assert_allclose(mine, siglip.patch_grid.to_image(ref.numpy()), atol=2e-4)


def test_siglip_grad_eclip_reads_the_pooling_heads_attention(siglip, image):
    px, encs, t, vm, head = _siglip_parts(siglip, image)
    mha = head.attention
    with torch.no_grad():
        x = vm(pixel_values=px).last_hidden_state[0]                       # [patch, D]
    wq, wk, wv = mha.in_proj_weight.chunk(3)
    bq, bk, bv = mha.in_proj_bias.chunk(3)
    q, k, v = F.linear(head.probe[0], wq, bq), F.linear(x, wk, bk), F.linear(x, wv, bv)
    hd = q.shape[-1] // mha.num_heads
    sp = lambda y: y.reshape(-1, mha.num_heads, hd).transpose(0, 1)       # noqa: E731
    a = (sp(q) @ sp(k).transpose(1, 2) * hd ** -0.5).softmax(-1)           # [head, 1, patch]
    ctx = (a @ sp(v)).transpose(0, 1).reshape(1, -1)                       # [1, D]
    z = mha.out_proj(ctx)
    z = z + head.mlp(head.layernorm(z))
    gz, = torch.autograd.grad(t @ F.normalize(z[0], dim=-1), ctx)
    cos = F.normalize(mha.out_proj(k), dim=-1) @ F.normalize(mha.out_proj(q)[0], dim=-1)
    lam = (cos - cos.min()) / (cos.max() - cos.min())
    ref = ((gz[0] * v).sum(-1) * lam).clamp(min=0).detach()
    assert ref.max() > 0
    mine = compute(siglip, px, encs, "grad_eclip").patch_scores
    np.testing.assert_allclose(mine / float(ref.max()),
                               siglip.patch_grid.to_image(ref.numpy()) / float(ref.max()), atol=1e-4)


def test_siglip_maskclip_changes_the_last_encoder_layer_only(siglip, image):
    """The last encoder layer with each token attending to itself, then the adapter's patch
    features (post_layernorm, the head's value path) by hand."""
    px, encs, t, vm, head = _siglip_parts(siglip, image)
    with torch.no_grad():
        hs = vm(pixel_values=px, output_hidden_states=True).hidden_states
        x = hs[-2][0]                                                     # last layer's input
        lay = vm.encoder.layers[-1]
        a = lay.self_attn
        x = x + a.out_proj(a.v_proj(lay.layer_norm1(x)))
        x = vm.post_layernorm(x + lay.mlp(lay.layer_norm2(x)))
        mha = head.attention
        z = mha.out_proj(F.linear(x, mha.in_proj_weight.chunk(3)[2], mha.in_proj_bias.chunk(3)[2]))
        p = F.normalize(z + head.mlp(head.layernorm(z)), dim=-1)
        ref = p @ F.normalize(t, dim=-1)
    mine = compute(siglip, px, encs, "maskclip").patch_scores
    np.testing.assert_allclose(mine, siglip.patch_grid.to_image(ref.numpy()), atol=1e-4)


def test_attribute_image_reports_energy_in_the_given_mask():
    """On a 64 px mini-CLIP scene (the model's own size: no resize), the API's energy is the
    rule's, applied to the map it returns; the object's complement takes the rest."""
    from mminspect.lab.pointing import pointing_scenes
    clip = mi.load("miniclip")
    image, prompt, mask = pointing_scenes(1)[0]
    res = mi.attribute_image(clip, image, prompt, method="legrad", mask=mask)
    assert res.energy_in_mask == pytest.approx(
        energy_in_mask(res.patch_scores, mask, clip.patch_grid))
    rest = mi.attribute_image(clip, image, prompt, method="legrad", mask=~mask).energy_in_mask
    assert res.energy_in_mask + rest == pytest.approx(1.0)
    assert mi.attribute_image(clip, image, prompt, method="legrad").energy_in_mask is None


def test_open_clip_siglip_grad_eclip_reads_timms_latent_attention_pool(tmp_path_factory, image):
    if "open_clip_siglip" not in FAMILIES:
        pytest.skip("no open_clip SigLIP adapter in this tree")
    clip = tiny_clip_of("open_clip_siglip", tmp_path_factory)
    px, encs, t = _inputs(clip, image)
    trunk = clip.model.visual.trunk
    ap = trunk.attn_pool
    with torch.no_grad():
        x = trunk.forward_features(px)[0]                                  # [patch, D]
    n, d = x.shape
    q = ap.q(ap.latent[0])                                                 # [1, D]
    k, v = ap.kv(x).reshape(n, 2, d).unbind(1)
    hd = d // ap.num_heads
    sp = lambda y: y.reshape(-1, ap.num_heads, hd).transpose(0, 1)        # noqa: E731
    a = (sp(q) @ sp(k).transpose(1, 2) * hd ** -0.5).softmax(-1)
    ctx = (a @ sp(v)).transpose(0, 1).reshape(1, d)
    z = ap.proj(ctx)
    z = z + ap.mlp(ap.norm(z))
    gz, = torch.autograd.grad(t[0] @ F.normalize(z[0], dim=-1), ctx)
    cos = F.normalize(ap.proj(k), dim=-1) @ F.normalize(ap.proj(q)[0], dim=-1)
    lam = (cos - cos.min()) / (cos.max() - cos.min())
    ref = ((gz[0] * v).sum(-1) * lam).clamp(min=0).detach()
    assert ref.max() > 0
    mine = compute(clip, px, encs, "grad_eclip").patch_scores
    np.testing.assert_allclose(mine / float(ref.max()),
                               clip.patch_grid.to_image(ref.numpy()) / float(ref.max()), atol=1e-4)


def test_last_layer_relevance_from_one_pass_equals_one_prompt_at_a_time(clip, image):
    """explain_prompts shares one pass (one batched backward) for every prompt; each map must
    be the one attribute_image computes alone."""
    prompts = ["a red circle", "a blue square", "the dog on the left"]
    expl = mi.explain_prompts(clip, image, prompts, method="relevance_last", similarity=False)
    for p, m in zip(prompts, expl.maps):
        alone = mi.attribute_image(clip, image, p, method="relevance_last")
        np.testing.assert_allclose(m.patch_scores, alone.patch_scores, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(m.word_scores, alone.word_scores, rtol=1e-4, atol=1e-6)
