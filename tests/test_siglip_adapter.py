"""The SigLIP adapter against transformers' own SiglipModel (a tiny random build, saved and
loaded back through the registry as a local folder): logits with bias, the [POOL] placeholder
layout of the image attentions, the pooling head recomputed exactly, the text pooling."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from clip_tiny import tiny_hf_siglip_dir  # noqa: E402
from transformers import SiglipModel  # noqa: E402

from mminspect.models import load  # noqa: E402
from mminspect.models.registry import _entry  # noqa: E402

F = torch.nn.functional
PROMPTS = ["a photo of a cat", "a blue square", "the red circle on the left"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tiny_hf_siglip_dir(tmp_path_factory)


@pytest.fixture(scope="module")
def siglip(folder):
    return load(str(folder))


@pytest.fixture(scope="module")
def reference(folder):
    """The library's model, loaded independently with plain eager attention."""
    return SiglipModel.from_pretrained(folder, attn_implementation="eager", dtype=torch.float32).eval()


@pytest.fixture(scope="module")
def pixels(siglip):
    rng = np.random.default_rng(0)
    return siglip.preprocess([rng.integers(0, 256, (48, 40, 3), dtype=np.uint8)])


def test_a_saved_siglip_folder_opens_as_the_siglip_family(folder, siglip):
    assert _entry(str(folder))[0] == "hf_siglip"
    assert siglip.family == "hf_siglip" and siglip.link == "sigmoid"
    assert siglip.patch_grid.token_labels()[:2] == ["[POOL]", "r0c0"]


def test_logits_equal_the_models_own_sigmoid_logits(siglip, reference, pixels):
    ids = siglip.tokenizer(PROMPTS, padding="max_length", max_length=siglip.max_tokens,
                           return_tensors="pt")["input_ids"]
    with torch.no_grad():
        ref = reference(input_ids=ids, pixel_values=pixels).logits_per_image   # [1, prompt]
    ours = siglip.similarity(pixels, PROMPTS)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)
    assert siglip.logit_bias == pytest.approx(-3.0) and siglip.logit_scale == pytest.approx(10.0)


def test_encoder_attentions_are_the_library_ones_behind_a_pool_placeholder(siglip, reference, pixels):
    with torch.no_grad():
        ref = reference.vision_model(pixel_values=pixels, output_attentions=True).attentions
    out = siglip.image_forward(pixels)
    assert len(out.layer_attentions) == len(ref) + 1                  # + the pooling head
    for ours, theirs in zip(out.layer_attentions, ref):
        torch.testing.assert_close(ours[:, :, 1:, 1:], theirs)        # patches: untouched
        assert (ours[:, :, 0, 0] == 1).all() and (ours[:, :, 1:, 0] == 0).all()


def test_the_pooling_layer_is_the_probes_attention_and_identity_elsewhere(siglip, reference, pixels):
    head = reference.vision_model.head
    with torch.no_grad():
        hidden = reference.vision_model(pixel_values=pixels).last_hidden_state
        _, w = head.attention(head.probe, hidden, hidden, average_attn_weights=False)  # [1, h, 1, N]
    pool = siglip.image_forward(pixels).layer_attentions[-1]          # [1, h, 1+N, 1+N]
    torch.testing.assert_close(pool[:, :, :1, 1:], w, atol=1e-6, rtol=1e-5)
    n = pool.shape[-1]
    torch.testing.assert_close(pool[0, :, 1:, :], torch.eye(n)[1:].expand(pool.shape[1], -1, -1))
    assert (pool[:, :, 0, 0] == 0).all()


def test_image_embedding_and_patch_features_follow_the_pooling_head(siglip, reference, pixels):
    head = reference.vision_model.head
    with torch.no_grad():
        hidden = reference.vision_model(pixel_values=pixels).last_hidden_state  # [1, N, D]
        emb = reference.get_image_features(pixel_values=pixels).pooler_output[0]
        # one patch alone: the head with its attention forced onto that patch
        k = 5
        z = head.attention.out_proj(F.linear(hidden[:, k:k + 1], head.attention.in_proj_weight.chunk(3)[2],
                                             head.attention.in_proj_bias.chunk(3)[2]))
        alone = (z + head.mlp(head.layernorm(z)))[0, 0]
    out = siglip.image_forward(pixels)
    torch.testing.assert_close(out.embedding, emb, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out.patch_features[k], alone, atol=1e-5, rtol=1e-5)


def test_text_is_padded_to_max_length_and_pools_its_last_position(siglip, reference):
    enc = siglip.tokenize("a photo of a cat")
    assert len(enc.tokens) == siglip.max_tokens and enc.tokens[:2] == [" a", " photo"]
    assert enc.special[5:].all() and not enc.special[:5].any()       # </s> then pads
    w = siglip.text_pool_weights(enc)
    assert w[-1] == 1 and w.sum() == 1
    with torch.no_grad():
        ref = reference.get_text_features(input_ids=enc.inputs["input_ids"]).pooler_output[0]
    torch.testing.assert_close(siglip.text_forward(enc).embedding, ref)


def test_the_batched_text_forward_equals_one_at_a_time(siglip):
    encs = [siglip.tokenize(p) for p in PROMPTS]
    batch = siglip.text_forward_batch(encs)
    for i, e in enumerate(encs):
        one = siglip.text_forward(e)
        torch.testing.assert_close(batch.embedding[i], one.embedding, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(batch.layer_attentions[0][i], one.layer_attentions[0][0])


def test_the_text_tower_keeps_eager_attention(siglip):
    """Only the vision config carries the placeholder attention; the text tower is plain."""
    assert siglip.model.text_model.config._attn_implementation == "eager"
    assert siglip.model.vision_model.config._attn_implementation == "mminspect_pool_token"


def test_a_python_sentencepiece_tokenizer_gets_offsets_by_reading_the_text(siglip, monkeypatch):
    """Hub SigLIP's tokenizer is SentencePiece in Python: no offset mapping. The spans are
    then found in the text; on this text they equal the fast tokenizer's own offsets."""
    text = "a photo of the red cat"
    fast = siglip.tokenize(text)
    monkeypatch.setattr(type(siglip.tokenizer), "is_fast", property(lambda self: False))
    slow = siglip.tokenize(text)
    assert slow.tokens == fast.tokens and (slow.special == fast.special).all()
    words = ~fast.special
    # the fast tokenizer's spans include the piece's leading space ("▁"); the text search not
    np.testing.assert_array_equal(slow.offsets[words, 1], fast.offsets[words, 1])
    assert [text[a:b] for a, b in slow.offsets[words]] == text.split()


def test_a_siglip2_folder_gets_a_clear_message(tmp_path):
    from mminspect.types import ModelLoadError
    (tmp_path / "config.json").write_text('{"model_type": "siglip2", "architectures": ["Siglip2Model"]}')
    with pytest.raises(ModelLoadError, match="NaFlex"):
        load(str(tmp_path))
