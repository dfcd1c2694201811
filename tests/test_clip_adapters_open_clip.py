"""open_clip adapter on tiny random architectures registered in open_clip's config registry:
the temporary attention patch (parity with the library, always restored), trimming at the
end-of-text token, local safetensors weights, and the refusals."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from clip_tiny import register_tiny_open_clip, tiny_open_clip_arch  # noqa: E402
from PIL import Image  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from torch import nn  # noqa: E402

from mminspect.capture.open_clip_attention import (AttentionNotAvailable,  # noqa: E402
                                                   capture_attention, is_patched)
from mminspect.models import load  # noqa: E402
from mminspect.models.open_clip_adapter import OpenCLIPAdapter  # noqa: E402
from mminspect.types import InputError, ModelLoadError  # noqa: E402

F = torch.nn.functional
NOT_AVAILABLE = "(?i)attention not available for this architecture"


@pytest.fixture(scope="module")
def arch(tmp_path_factory):
    return tiny_open_clip_arch(tmp_path_factory)


@pytest.fixture(scope="module")
def clip(arch):
    torch.manual_seed(0)
    return load(f"open_clip:{arch}/random")


@pytest.fixture(scope="module")
def pixels(clip):
    rng = np.random.default_rng(1)
    return clip.preprocess([Image.fromarray(rng.integers(0, 256, (40, 52, 3), dtype=np.uint8))])


def test_an_open_clip_name_loads_random_weights_with_the_eval_transform(clip, arch, pixels):
    assert isinstance(clip, OpenCLIPAdapter) and clip.family == "open_clip"
    assert load(f"open_clip:{arch}/random") is clip
    g = clip.patch_grid
    assert (g.rows, g.cols, g.patch_size, g.image_size, g.has_cls) == (4, 4, 8, (32, 32), True)
    assert pixels.shape == (1, 3, 32, 32) and not clip.model.training


@pytest.mark.parametrize("name, match", [
    ("open_clip:No-Such-Arch/random", "no architecture"),
    ("open_clip:{arch}/no_such_tag", "no weights"),
    ("open_clip:{arch}//nowhere/weights.safetensors", "not a weights file"),
    ("open_clip:{arch}//etc/passwd", "not a weights file"),
    ("open_clip:{arch}", "no weights ''"),
])
def test_bad_open_clip_names_are_load_errors_that_say_how_to_fix_them(arch, name, match):
    with pytest.raises(ModelLoadError, match=match) as e:
        load(name.format(arch=arch))
    assert "random" in str(e.value) or "Known ones" in str(e.value)


def test_local_safetensors_weights_load_and_give_the_same_model(clip, arch, pixels, tmp_path):
    path = tmp_path / "tiny.safetensors"
    save_file({k: v.contiguous() for k, v in clip.model.state_dict().items()}, str(path))
    copy = load(f"open_clip:{arch}/{path}")
    assert copy is not clip
    torch.testing.assert_close(copy.encode_image(pixels), clip.encode_image(pixels))
    torch.testing.assert_close(copy.encode_text(["a cat"]), clip.encode_text(["a cat"]))


@pytest.mark.parametrize("mask_kind", ["none", "causal_float", "causal_bool"])
def test_captured_attention_equals_the_library_weights_and_output(clip, mask_kind):
    torch.manual_seed(2)
    block = clip.model.transformer.resblocks[1]
    x = torch.randn(2, 9, 32)                                               # [batch, token, width]
    causal = torch.ones(9, 9, dtype=torch.bool).triu(1)                     # True: may not attend
    mask = {"none": None, "causal_bool": causal,
            "causal_float": torch.zeros(9, 9).masked_fill(causal, float("-inf"))}[mask_kind]
    with torch.no_grad():
        lib_out, lib_w = block.attn(x, x, x, need_weights=True, attn_mask=mask,
                                    average_attn_weights=False)               # [batch, head, q, k]
        with capture_attention(clip.model.transformer) as maps:
            our_out, our_w = block.attn(x, x, x, need_weights=True, attn_mask=mask,
                                        average_attn_weights=False)
    torch.testing.assert_close(our_out, lib_out, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(our_w, lib_w, atol=1e-6, rtol=1e-5)
    assert len(maps) == 1 and maps[0] is our_w


def test_image_forward_equals_encode_image_and_rows_sum_to_one(clip, pixels):
    out = clip.image_forward(pixels)
    torch.testing.assert_close(out.embedding, clip.model.encode_image(pixels)[0])
    torch.testing.assert_close(F.normalize(out.embedding, dim=0), clip.encode_image(pixels)[0])
    assert out.attentions.shape == (2, 4, 17, 17) and out.patch_features.shape == (16, 16)
    torch.testing.assert_close(out.attentions.sum(-1), torch.ones(2, 4, 17))
    v = clip.model.visual
    with torch.no_grad():
        tokens = v.transformer(v._embeds(pixels))                            # [1, token, width]
    torch.testing.assert_close(out.patch_features, v.ln_post(tokens[0, 1:]) @ v.proj)


def test_text_is_trimmed_at_end_of_text_and_equals_encode_text(clip):
    enc = clip.tokenize("A photo of the CAT!")
    assert enc.tokens == ["<start_of_text>", "a", "photo", "of", "the", "cat", "!", "<end_of_text>"]
    assert enc.special.tolist() == [True] + [False] * 6 + [True]
    assert enc.inputs["input_ids"].shape == (1, 8) and enc.n_dropped == 0
    assert [tuple(s) for s in enc.offsets[1:3]] == [(0, 1), (2, 7)]
    out = clip.text_forward(enc)
    torch.testing.assert_close(F.normalize(out.embedding, dim=0),
                               clip.encode_text(["A photo of the CAT!"])[0], atol=1e-6, rtol=1e-5)
    assert out.attentions.shape == (2, 4, 8, 8)
    assert out.attentions.triu(diagonal=1).abs().max() == 0                 # causal
    long = clip.tokenize("cat " * 100)
    assert len(long.tokens) == 77 and long.n_dropped == 102 - 77


def test_the_patch_is_removed_after_use_even_after_an_exception(clip, pixels):
    towers = [clip.model.visual.transformer, clip.model.transformer]
    clip.image_forward(pixels)
    clip.text_forward(clip.tokenize("a cat"))
    with pytest.raises(RuntimeError, match="boom"):
        with capture_attention(towers[0]):
            assert is_patched(towers[0])
            raise RuntimeError("boom")
    for t in towers:
        assert not is_patched(t)
        for block in t.resblocks:
            assert block.attn.forward.__func__ is nn.MultiheadAttention.forward


def test_logits_are_logit_scale_times_cosine_as_open_clip_computes_them(clip, pixels):
    texts = ["a photo of a cat", "a blue circle"]
    with torch.no_grad():
        lib, _ = clip.model.get_logits(pixels, clip.tokenizer(texts))        # [image, text]
    torch.testing.assert_close(clip.similarity(pixels, texts), lib)
    assert clip.logit_scale == pytest.approx(1 / 0.07, rel=1e-5)


def test_custom_attention_loads_for_similarity_but_says_attention_not_available(tmp_path, pixels):
    arch = register_tiny_open_clip(tmp_path, "mminspect-tiny-qknorm", qk_norm=True)
    clip = load(f"open_clip:{arch}/random")
    assert clip.encode_image(pixels).shape == (1, 16)
    with pytest.raises(AttentionNotAvailable, match=NOT_AVAILABLE) as e:
        clip.image_forward(pixels)
    assert isinstance(e.value, InputError) and "qk-norm" in str(e.value)
    assert not is_patched(clip.model.visual.transformer)


def test_a_resnet_image_tower_is_refused_at_load_with_a_clear_message(tmp_path):
    arch = register_tiny_open_clip(tmp_path, "mminspect-tiny-rn", layers=[1, 1, 1, 1], width=8,
                                   head_width=8)
    with pytest.raises(ModelLoadError, match=NOT_AVAILABLE):
        load(f"open_clip:{arch}/random")


def _register(folder, name: str, text: dict, vision: dict) -> str:
    """A tiny open_clip architecture with its own text / vision pooling."""
    import json

    import open_clip
    from clip_tiny import TINY_OPEN_CLIP
    cfg = json.loads(json.dumps(TINY_OPEN_CLIP))
    cfg["text_cfg"].update(text)
    cfg["vision_cfg"].update(vision)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(cfg))
    open_clip.add_model_config(folder / f"{name}.json")
    return name


POOLINGS = {   # name: (text_cfg, vision_cfg) overrides
    "text-first": ({"pool_type": "first"}, {}),
    "text-last": ({"pool_type": "last"}, {}),
    "text-eos": ({"pool_type": "eos", "eos_id": 49407}, {}),
    "image-avg": ({}, {"pool_type": "avg"}),
}


@pytest.mark.parametrize("kind", list(POOLINGS))
def test_pooling_variants_are_answered_by_the_adapter_and_relevance_follows(kind, tmp_path, pixels):
    """Each pooling rule the adapter reports is the one the tower runs (the pooled rows are
    the only ones the embedding depends on), and batched relevance still equals the recipe."""
    from mminspect.explain.relevance import relevance_batched, relevance_per_prompt
    text_cfg, vision_cfg = POOLINGS[kind]
    torch.manual_seed(0)
    clip = load(f"open_clip:{_register(tmp_path, f'mminspect-tiny-{kind}', text_cfg, vision_cfg)}/random")
    direction = torch.randn(16, generator=torch.Generator().manual_seed(0))
    encs = [clip.tokenize(t) for t in ("a photo of the cat", "a dog")]     # different lengths
    for e in encs:
        out = clip.text_forward(e, keep_graph=True)
        g, = torch.autograd.grad(out.embedding @ direction, out.layer_attentions[-1])
        np.testing.assert_array_equal(clip.text_pool_weights(e) > 0, g[0].abs().sum((0, 2)) > 0)
    out = clip.image_forward(pixels, keep_graph=True)
    g, = torch.autograd.grad(out.embedding @ direction, out.layer_attentions[-1])
    w = clip.image_pool_weights()
    np.testing.assert_array_equal(w > 0, g[0].abs().sum((0, 2)) > 0)
    assert w.sum() == pytest.approx(1.0)
    ours, ref = relevance_batched(clip, pixels, encs), relevance_per_prompt(clip, pixels, encs)
    np.testing.assert_allclose(ours.image, ref.image, rtol=1e-5, atol=1e-6)
    for a, b in zip(ours.text, ref.text):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
