"""The shipped mini-CLIP: loads offline, hash-checked, the CLIPAdapter contract, accuracy."""
import json
import os
import shutil

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

import mminspect as mi  # noqa: E402
from mminspect.lab.miniclip_eval import TARGETS, evaluate  # noqa: E402
from mminspect.miniclip.scenes import scene  # noqa: E402
from mminspect.models.bundled import sha256_file  # noqa: E402
from mminspect.models.clip_base import CLIPAdapter, PatchGrid  # noqa: E402
from mminspect.models.miniclip_adapter import (CARD, MINICLIP_DIR, WEIGHTS,  # noqa: E402
                                               MiniCLIPAdapter)


@pytest.fixture(scope="module")
def clip():
    return mi.load("miniclip")


@pytest.fixture(scope="module")
def card():
    return json.loads((MINICLIP_DIR / CARD).read_text())


def test_registry_lists_miniclip_as_an_image_text_model(clip):
    assert "miniclip" in {m["name"] for m in mi.list_models()}
    assert isinstance(clip, CLIPAdapter)
    assert clip.modalities == ("image", "text") and clip.family == "miniclip"
    assert mi.load("miniclip") is clip                      # cached


def test_the_text_tower_is_the_cached_minilm_not_a_second_copy(clip):
    minilm = mi.load("minilm")
    assert clip.text is minilm
    emb = clip.text.model.get_input_embeddings().weight
    assert emb.data_ptr() == minilm.model.get_input_embeddings().weight.data_ptr()
    # mini-CLIP never trains its text tower, but it must not freeze the shared MiniLM either:
    # the Text tab attributes through the same module.
    assert all(p.requires_grad for p in minilm.model.parameters())


def test_shipped_weights_are_small_safetensors_matching_the_card(card):
    path = MINICLIP_DIR / WEIGHTS
    assert path.suffix == ".safetensors"
    assert path.stat().st_size <= 10 * 2**20
    assert card["weights"]["sha256"] == sha256_file(path)
    assert card["weights"]["bytes"] == path.stat().st_size
    for key in ("config", "data_seed", "command", "training_time_s", "metrics"):
        assert key in card


def test_tampered_weights_are_refused_and_an_intact_copy_loads(tmp_path):
    good = tmp_path / "good"
    shutil.copytree(MINICLIP_DIR, good)
    assert MiniCLIPAdapter("copy", str(good), "copy").logit_scale > 1
    bad = tmp_path / "bad"
    shutil.copytree(MINICLIP_DIR, bad)
    data = bytearray((bad / WEIGHTS).read_bytes())
    data[-100] ^= 0x01                                       # one bit in one weight
    (bad / WEIGHTS).write_bytes(bytes(data))
    with pytest.raises(mi.ModelLoadError, match="SHA-256"):
        MiniCLIPAdapter("bad", str(bad), "bad")


def test_missing_card_is_a_load_error_that_says_how_to_fix_it(tmp_path):
    shutil.copy(MINICLIP_DIR / WEIGHTS, tmp_path / WEIGHTS)
    with pytest.raises(mi.ModelLoadError, match="lab.miniclip_train"):
        MiniCLIPAdapter("nocard", str(tmp_path), "nocard")


def test_patch_grid_geometry(clip):
    g = clip.patch_grid
    assert isinstance(g, PatchGrid)
    assert (g.rows, g.cols, g.patch_size, g.image_size, g.has_cls) == (8, 8, 8, (64, 64), True)
    assert g.n_tokens == 65 and g.token_labels()[:2] == ["[CLS]", "r0c0"]


def test_preprocess_accepts_any_size_pil_image_and_arrays(clip):
    img = scene(0, 0).pil()
    x = clip.preprocess([img, img.resize((200, 150)), np.asarray(img)])
    assert x.shape == (3, 3, 64, 64) and x.dtype == torch.float32
    torch.testing.assert_close(x[0], x[2])
    with pytest.raises(mi.InputError):
        clip.preprocess(["not an image"])


def test_similarity_is_logit_scale_times_cosine(clip):
    s = scene(1, 3)
    x = clip.preprocess([s.pil()])
    texts = ["a red circle", "a blue square on the left"]
    logits = clip.similarity(x, texts)                       # [image, text]
    cos = clip.encode_image(x) @ clip.encode_text(texts).T
    torch.testing.assert_close(logits, clip.logit_scale * cos)
    assert 1 < clip.logit_scale <= 100
    torch.testing.assert_close(clip.encode_image(x).norm(dim=-1), torch.ones(1))


def test_image_forward_matches_encode_image_and_keeps_attention_in_the_graph(clip):
    x = clip.preprocess([scene(2, 1).pil()])
    out = clip.image_forward(x, keep_graph=True)
    torch.testing.assert_close(torch.nn.functional.normalize(out.embedding, dim=0),
                               clip.encode_image(x)[0])
    assert out.attentions.shape == (4, 4, 65, 65) and len(out.tokens) == 65
    assert out.patch_features.shape == (64, clip.encode_image(x).shape[1])
    score = out.embedding @ clip.encode_text(["a red circle"])[0]
    grads = torch.autograd.grad(score, out.layer_attentions)
    assert all(g.shape == (1, 4, 65, 65) and g.abs().sum() > 0 for g in grads)
    assert clip.image_forward(x).embedding.grad_fn is None  # default: no graph


def test_batched_image_forward_equals_one_image_at_a_time(clip):
    x = clip.preprocess([scene(2, i).pil() for i in range(3)])
    out = clip.image_forward_batch(x, keep_graph=True)
    assert out.embedding.shape[0] == 3 and out.layer_attentions[0].shape == (3, 4, 65, 65)
    one = clip.image_forward(x[1:2])
    torch.testing.assert_close(out.embedding[1], one.embedding, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(out.layer_attentions[-1][1], one.layer_attentions[-1][0],
                               atol=1e-5, rtol=1e-4)


def test_text_forward_matches_encode_text_and_keeps_attention_in_the_graph(clip):
    enc = clip.tokenize("a small blue square above a green star")
    assert enc.tokens[0] == "[CLS]" and "square" in enc.tokens
    out = clip.text_forward(enc, keep_graph=True)
    torch.testing.assert_close(torch.nn.functional.normalize(out.embedding, dim=0),
                               clip.encode_text(["a small blue square above a green star"])[0],
                               atol=1e-5, rtol=1e-4)
    n = len(enc.tokens)
    assert out.attentions.shape == (6, 12, n, n)
    grads = torch.autograd.grad(out.embedding.sum(), out.layer_attentions)
    assert all(g.abs().sum() > 0 for g in grads)


def test_patch_similarity_is_the_cosine_of_projected_patch_features_with_the_text(clip):
    x = clip.preprocess([scene(77, 0).pil()])
    sim = clip.patch_similarity(x, "a red circle")
    p = torch.nn.functional.normalize(clip.image_forward(x).patch_features, dim=-1)
    expected = (p @ clip.encode_text(["a red circle"])[0]).reshape(8, 8)
    torch.testing.assert_close(sim, expected)
    assert sim.abs().max() <= 1 + 1e-5


def test_shipped_weights_reach_the_accuracy_targets_on_held_out_scenes(clip):
    m = evaluate(clip, seed=5000, n_single=150, n_retrieval=100, n_swap=20, n_pointing=10)
    for key, target in TARGETS.items():
        assert m[key] >= target, (key, m[key], m)
