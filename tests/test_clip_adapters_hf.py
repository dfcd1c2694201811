"""Hugging Face CLIPModel adapter on a tiny random checkpoint saved locally and opened by path."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from clip_tiny import tiny_hf_clip_dir  # noqa: E402
from PIL import Image  # noqa: E402

from mminspect.models import load, registry  # noqa: E402
from mminspect.models.clip_base import CLIPAdapter  # noqa: E402
from mminspect.models.hf_clip import HFCLIPAdapter  # noqa: E402
from mminspect.types import InputError  # noqa: E402

F = torch.nn.functional


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tiny_hf_clip_dir(tmp_path_factory)


@pytest.fixture(scope="module")
def clip(folder):
    return load(str(folder))


@pytest.fixture(scope="module")
def pixels(clip):
    rng = np.random.default_rng(0)
    return clip.preprocess([Image.fromarray(rng.integers(0, 256, (45, 60, 3), dtype=np.uint8))])


def test_a_saved_clip_folder_loads_by_path_as_hf_clip(clip, folder):
    assert isinstance(clip, HFCLIPAdapter) and isinstance(clip, CLIPAdapter)
    assert clip.family == "hf_clip" and clip.modalities == ("image", "text")
    assert load(str(folder)) is clip                                  # cached
    assert clip.model.config._attn_implementation == "eager"
    assert next(clip.model.parameters()).dtype == torch.float32


def test_hub_ids_route_known_clip_checkpoints_to_hf_clip_and_others_to_hf_text(tmp_path):
    assert registry._entry("openai/clip-vit-base-patch32")[0] == "hf_clip"
    assert registry._entry("clip-vit-base-patch32")[0] == "hf_clip"
    assert registry._entry("someone/some-bert")[0] == "hf_text"
    rows = {r["name"]: r for r in registry.list_models()}
    assert rows["clip-vit-base-patch32"]["family"] == "hf_clip"
    assert "downloads on first use" in rows["clip-vit-base-patch32"]["label"]
    (tmp_path / "config.json").write_text('{"architectures": ["CLIPModel"]}')
    assert registry._entry(str(tmp_path))[0] == "hf_clip"
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    assert registry._entry(str(tmp_path))[0] == "hf_text"


def test_patch_grid_matches_the_image_size(clip, pixels):
    g = clip.patch_grid
    assert (g.rows, g.cols, g.patch_size, g.image_size, g.has_cls) == (4, 4, 8, (32, 32), True)
    assert pixels.shape == (1, 3, 32, 32) and pixels.dtype == torch.float32


def test_tokens_are_clean_clip_bpe_pieces_with_spans(clip):
    text = "A photo of the cat"
    enc = clip.tokenize(text)
    assert enc.tokens == ["<|startoftext|>", "a", "photo", "of", "the", "cat", "<|endoftext|>"]
    assert enc.special.tolist() == [True] + [False] * 5 + [True]
    assert [text[a:b] for a, b in enc.offsets[1:-1]] == ["A", "photo", "of", "the", "cat"]
    assert enc.inputs["input_ids"].shape == (1, 7) and enc.n_dropped == 0
    with pytest.raises(InputError):
        clip.tokenize("   ")


def test_image_forward_equals_get_image_features_and_projects_every_patch(clip, pixels):
    out = clip.image_forward(pixels)
    lib = clip.model.get_image_features(pixel_values=pixels).pooler_output[0]
    torch.testing.assert_close(out.embedding, lib)
    torch.testing.assert_close(F.normalize(out.embedding, dim=0), clip.encode_image(pixels)[0])
    hidden = clip.model.vision_model(pixel_values=pixels).last_hidden_state[0]   # [token, width]
    direct = clip.model.visual_projection(clip.model.vision_model.post_layernorm(hidden[1:]))
    torch.testing.assert_close(out.patch_features, direct)
    assert out.attentions.shape == (2, 4, 17, 17) and len(out.tokens) == 17


def test_attention_rows_sum_to_one_and_equal_a_direct_recomputation(clip, pixels):
    out = clip.image_forward(pixels)
    torch.testing.assert_close(out.attentions.sum(-1), torch.ones(2, 4, 17))
    vm = clip.model.vision_model
    hs = vm(pixel_values=pixels, output_hidden_states=True).hidden_states       # [layer + 1] x [1, token, width]
    for layer, block in enumerate(vm.encoder.layers):
        x = block.layer_norm1(hs[layer])                                         # [1, token, width]
        a = block.self_attn
        q = a.q_proj(x).view(1, 17, 4, 8).transpose(1, 2)                        # [1, head, token, hd]
        k = a.k_proj(x).view(1, 17, 4, 8).transpose(1, 2)
        direct = (q @ k.transpose(-1, -2) * a.scale).softmax(-1)                 # [1, head, q, k]
        torch.testing.assert_close(out.layer_attentions[layer], direct, atol=1e-6, rtol=1e-5)


def test_text_forward_equals_get_text_features_and_is_causal(clip):
    enc = clip.tokenize("a red square on the left")
    out = clip.text_forward(enc)
    lib = clip.model.get_text_features(**enc.inputs).pooler_output[0]
    torch.testing.assert_close(out.embedding, lib)
    torch.testing.assert_close(F.normalize(out.embedding, dim=0),
                               clip.encode_text(["a red square on the left"])[0])
    n = len(enc.tokens)
    assert out.attentions.shape == (2, 4, n, n)
    torch.testing.assert_close(out.attentions.sum(-1), torch.ones(2, 4, n))
    assert out.attentions.triu(diagonal=1).abs().max() == 0                  # no look-ahead


def test_logits_are_logit_scale_times_cosine_as_the_model_computes_them(clip, pixels):
    texts = ["a photo of a cat", "a blue circle"]
    logits = clip.similarity(pixels, texts)                                  # [image, text]
    enc = clip.tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        lib = clip.model(pixel_values=pixels, **enc).logits_per_image
    torch.testing.assert_close(logits, lib)
    cos = clip.encode_image(pixels) @ clip.encode_text(texts).T
    torch.testing.assert_close(logits, clip.logit_scale * cos)
