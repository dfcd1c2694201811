"""Vision–language models of the LLaVA family: image-token attention captured per layer and
head, checked against transformers' own `output_attentions` and against a recomputation
from the weights; image tokens mapped back to the patch grid; the logit lens at image and
text positions. On a tiny random LLaVA built here (CLIP vision tower + Llama with grouped
key/value heads; nothing downloaded)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import mminspect as mi
from mminspect.api.vlm import inspect_vlm
from mminspect.models import arch, registry
from mminspect.models.hf_vlm import HFLlavaAdapter
from mminspect.types import InputError
from mminspect.types.vlm import VLMView

WORDS = ["<unk>", "<s>", "</s>", "<pad>", "<image>", "a", "red", "blue", "star", "cat", "dog",
         "left", "of", "the", "what", "is", "in", "picture", "?", "and", "green", "square"]
IMAGE_TOKEN = WORDS.index("<image>")
PROMPT = "what is in the picture ?"


CHAT = ("{% for m in messages %}{{ m['role'] }} {% for c in m['content'] %}{% if c['type'] == "
        "'image' %}<image> {% else %}{{ c['text'] }}{% endif %}{% endfor %} {% endfor %}"
        "{% if add_generation_prompt %}assistant{% endif %}")


def build_tiny_llava(folder, seed: int = 0, chat_template: str | None = None):
    """A random LlavaForConditionalGeneration and its processor saved to `folder` (what a hub
    checkpoint looks like): a 32 px CLIP vision tower with 8 px patches (a 4 x 4 grid, its
    [CLS] dropped: 16 image tokens), a 2-layer Llama with 4 query and 2 key/value heads, and a
    word-level tokenizer. Weights are drawn wide (initializer_range) so attention is not flat.
    chat_template: a Jinja chat template for the processor (hub checkpoints ship one)."""
    import transformers as tf
    from tokenizers import Tokenizer, models, pre_tokenizers
    folder.mkdir(parents=True, exist_ok=True)
    words = Tokenizer(models.WordLevel(vocab={w: i for i, w in enumerate(WORDS)}, unk_token="<unk>"))
    words.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = tf.PreTrainedTokenizerFast(tokenizer_object=words, bos_token="<s>", eos_token="</s>",
                                     unk_token="<unk>", pad_token="<pad>",
                                     extra_special_tokens={"image_token": "<image>"})
    images = tf.CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    tf.LlavaProcessor(image_processor=images, tokenizer=tok, patch_size=8,
                      vision_feature_select_strategy="default",
                      num_additional_image_tokens=1, chat_template=chat_template).save_pretrained(folder)
    vision = tf.CLIPVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                                 num_attention_heads=2, image_size=32, patch_size=8)
    text = tf.LlamaConfig(vocab_size=len(WORDS), hidden_size=16, intermediate_size=32,
                          num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                          max_position_embeddings=128, bos_token_id=1, eos_token_id=2,
                          pad_token_id=3, initializer_range=0.5)
    cfg = tf.LlavaConfig(vision_config=vision, text_config=text, image_token_index=IMAGE_TOKEN,
                         image_seq_length=16, vision_feature_layer=-1, initializer_range=0.5)
    torch.manual_seed(seed)
    tf.LlavaForConditionalGeneration(cfg).eval().save_pretrained(folder)
    return folder


def picture(seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (40, 52, 3), dtype=np.uint8))


@pytest.fixture(scope="module")
def llava(tmp_path_factory):
    """The tiny build, opened by its folder as a user's checkpoint is."""
    return registry.load(str(build_tiny_llava(tmp_path_factory.mktemp("tiny_llava"))))


@pytest.fixture(scope="module")
def view(llava):
    return inspect_vlm(llava, picture(), PROMPT, max_new_tokens=5, logit_lens=True)


def test_a_saved_llava_folder_opens_as_the_llava_family(llava):
    assert isinstance(llava, HFLlavaAdapter) and llava.family == "hf_llava"
    assert llava.modalities == ("vlm",) and llava.memory_bytes() > 0
    assert llava.model.config._attn_implementation == "eager"
    assert llava.sizes() == {"layers": 2, "heads": 4, "d_model": 16, "vision_layers": 2,
                             "rows": 4, "cols": 4}


def test_the_curated_checkpoint_is_a_hub_entry_that_downloads_on_first_use():
    row = {r["name"]: r for r in registry.list_models()}["llava-interleave-qwen-0.5b"]
    assert row["family"] == "hf_llava" and not row["bundled"] and row["modality"] == "vlm"
    assert "downloads on first use" in row["label"]
    assert registry._hub_family("llava-hf/llava-interleave-qwen-0.5b-hf") == "hf_llava"


def test_the_family_spec_names_the_modules_the_adapter_reads(llava):
    """The spec's paths (models/arch.py) resolve on a real build: the language model's
    blocks, their output projections and head count, and the vision tower's blocks."""
    from operator import attrgetter
    spec = arch.ARCHS["hf_llava"]
    assert spec.modality == "vlm" and registry.list_models()
    text, image = spec.towers["text"], spec.towers["image"]
    blocks = attrgetter(f"{text['root']}.{text['blocks']}")(llava)
    assert list(blocks) == llava.blocks and len(blocks) == 2
    assert attrgetter(f"{text['heads']}")(blocks[0]) == 4
    assert isinstance(attrgetter(text["out"][1])(blocks[0]), torch.nn.Linear)
    vision_blocks = attrgetter(f"{image['root']}.{image['blocks']}")(llava)
    assert len(vision_blocks) == 2 and hasattr(vision_blocks[0], "self_attn")
    assert arch.HEAD_SITE_TABLES["text"]["hf_llava"]["attention_out"] == "layers.{layer}.self_attn.o_proj"


def test_a_checkpoint_with_a_chat_template_reads_the_prompt_through_it(tmp_path):
    """Hub checkpoints ship a chat template (the turn markers they were tuned on): the
    prompt goes through it, the picture first, and the image tokens still map to the grid."""
    chat = registry.load(str(build_tiny_llava(tmp_path / "chat", chat_template=CHAT)))
    assert chat.format_prompt("what ?") == "user <image> what ? assistant"
    v = inspect_vlm(chat, picture(), PROMPT, max_new_tokens=2)
    assert v.tokens[0] == "<unk>" and v.image_positions == list(range(1, 17))   # "user" is unknown
    assert v.tokens[1] == "<img r0c0>" and v.tokens[17:23] == PROMPT.split()


def test_image_tokens_sit_in_the_prompt_and_map_row_by_row_to_the_patch_grid(view):
    assert (view.rows, view.cols, view.extra_image_tokens) == (4, 4, 0)
    assert len(view.image_positions) == 16 and view.image_positions == list(range(16))
    assert view.tokens[:5] == ["<img r0c0>", "<img r0c1>", "<img r0c2>", "<img r0c3>", "<img r1c0>"]
    assert view.tokens[15] == "<img r3c3>" and view.tokens[16] == "what"
    np.testing.assert_array_equal(view.grid_positions.reshape(4, 4)[2], [8, 9, 10, 11])
    assert view.image.shape == (32, 32, 3)              # the picture as the tower saw it


def test_patch_map_is_the_attention_on_each_patchs_image_token(view):
    t, layer, head = 1, 1, 2
    m = view.patch_map(t, layer, head)                                     # [rows, cols]
    r, c = 2, 3
    assert m[r, c] == view.attention[layer, head, t, view.image_positions[r * 4 + c]]
    np.testing.assert_allclose(view.patch_map(t, layer), view.attention[layer, :, t, :16].mean(0).reshape(4, 4))
    np.testing.assert_allclose(view.image_share[layer, head, t], m.sum(), rtol=1e-6)


def own_output(llava, view, image=None):
    """transformers' own output_attentions and logits on the same sequence."""
    inputs = llava.prepare(image or picture(), PROMPT)
    ids = torch.tensor([inputs["input_ids"][0].tolist() + view.target_ids[:-1]])
    return llava.model(input_ids=ids, pixel_values=inputs["pixel_values"],
                       attention_mask=torch.ones_like(ids), output_attentions=True)


def test_captured_rows_equal_transformers_own_output_attentions(llava, view):
    out = own_output(llava, view)
    writers = [view.writer(t) for t in range(len(view.target_ids))]
    theirs = torch.stack(out.attentions)[:, 0][:, :, writers].detach().numpy()   # [layer, head, T, N]
    np.testing.assert_allclose(view.attention, theirs, atol=1e-6)
    assert view.attention.shape == (2, 4, len(view.target_ids), len(view.tokens))


def _rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


def test_attention_equals_a_recomputation_from_the_weights(llava, view):
    """softmax(q kᵀ / √d + causal mask), q and k from each layer's own projections with the
    rotary angles applied by hand and the key/value heads shared by their query groups, fed
    by the inputs a hook recorded: an independent route to the same numbers."""
    seen = []

    def record(module, args, kwargs):
        seen.append((module, kwargs["hidden_states"], kwargs["position_embeddings"]))

    hooks = [b.self_attn.register_forward_pre_hook(record, with_kwargs=True) for b in llava.blocks]
    try:
        again = inspect_vlm(llava, picture(), PROMPT, target_text=" ".join(view.target_tokens))
    finally:
        for h in hooks:
            h.remove()
    assert len(seen) == 2
    n_heads, n_kv = 4, 2
    for layer, (attn, hidden, (cos, sin)) in enumerate(seen):
        d = attn.head_dim
        q = attn.q_proj(hidden)[0].view(-1, n_heads, d).transpose(0, 1)       # [head, N, d]
        k = attn.k_proj(hidden)[0].view(-1, n_kv, d).transpose(0, 1)          # [kv, N, d]
        q = q * cos[0] + _rotate_half(q) * sin[0]
        k = k * cos[0] + _rotate_half(k) * sin[0]
        k = k.repeat_interleave(n_heads // n_kv, dim=0)                      # [head, N, d]
        scores = q @ k.transpose(1, 2) / d ** 0.5                             # [head, N, N]
        n = scores.shape[-1]
        scores = scores.masked_fill(torch.ones(n, n).triu(1).bool(), float("-inf"))
        expected = torch.softmax(scores, -1).detach().numpy()
        writers = [again.writer(t) for t in range(len(again.target_ids))]
        np.testing.assert_allclose(again.attention[layer], expected[:, writers], atol=1e-5)
    assert not np.allclose(again.attention[0, 0], again.attention[0, 1], atol=1e-3)   # heads differ


def test_written_and_given_answers_give_the_same_numbers_and_the_tokens_generate_writes(llava, view):
    assert view.generated and view.stopped in ("end", "max_new_tokens") and len(view.target_ids) >= 2
    inputs = llava.prepare(picture(), PROMPT)
    out = llava.model.generate(**inputs, max_new_tokens=5, do_sample=False,
                               suppress_tokens=[IMAGE_TOKEN])
    assert view.target_ids == out[0, inputs["input_ids"].shape[1]:].tolist()
    forced = inspect_vlm(llava, picture(), PROMPT, target_text=" ".join(view.target_tokens),
                         max_new_tokens=5)
    assert forced.target_ids == view.target_ids and forced.stopped == "given"
    np.testing.assert_allclose(forced.attention, view.attention, atol=1e-6)


def test_rows_sum_to_one_and_nothing_reads_a_later_position(view):
    np.testing.assert_allclose(view.attention.sum(-1), 1.0, atol=1e-5)
    for t in range(len(view.target_ids)):
        assert np.all(view.attention[:, :, t, view.writer(t) + 1:] == 0)
    assert 0 < view.image_share.min() and view.image_share.max() < 1


def test_the_lens_last_layer_is_the_models_own_output_at_image_and_text_positions(llava, view):
    probs = own_output(llava, view).logits[0].softmax(-1).detach().numpy()   # [N, vocab]
    lens = view.lens
    n = len(view.tokens)
    assert lens.top_ids.shape == (2, n, 5) and lens.target_probs.shape == (2, len(view.target_ids))
    np.testing.assert_array_equal(lens.top_ids[-1, :, 0], probs.argmax(-1))   # image positions too
    np.testing.assert_allclose(lens.top_probs[-1, :, 0], probs.max(-1), atol=1e-5)
    writers = [view.writer(t) for t in range(len(view.target_ids))]
    np.testing.assert_allclose(lens.target_probs[-1], probs[writers, view.target_ids], atol=1e-5)
    # greedy decoding wrote the top token of the last layer at each writing position
    assert lens.top_ids[-1, writers, 0].tolist()[:-1] == view.target_ids[:-1]
    assert lens.top_tokens[0][0][0] == llava.tokens([int(lens.top_ids[0, 0, 0])])[0]
    assert not np.allclose(lens.top_probs[0], lens.top_probs[-1])            # a layer of its own


def test_a_view_saves_and_loads_back_equal(view, tmp_path):
    from mminspect.types.serialize import results_equal
    back = mi.load_result(mi.save_result(view, tmp_path / "vlm.json"))
    assert type(back) is VLMView and results_equal(view, back)


def test_the_adapter_stores_nothing_about_the_last_request(llava):
    before = set(vars(llava))
    inspect_vlm(llava, picture(1), "a red star", max_new_tokens=2, logit_lens=True)
    assert set(vars(llava)) == before


@pytest.mark.parametrize("kwargs, words", [
    ({"prompt": ""}, "prompt is empty"),
    ({"prompt": "   "}, "prompt is empty"),
    ({"prompt": None}, "prompt is empty"),
    ({"prompt": "<image> what"}, "marker for the picture"),
    ({"prompt": PROMPT, "target_text": ""}, "answer to read is empty"),
    ({"prompt": PROMPT, "max_new_tokens": 0}, "at least 1"),
    ({"prompt": PROMPT, "max_new_tokens": 10_000}, "the limit is"),
    ({"prompt": PROMPT, "target_text": "a red star " * 5, "max_new_tokens": 4}, "at most 4 are read"),
    ({"prompt": PROMPT, "image": "picture.png"}, "Paths are not read"),
    ({"prompt": PROMPT, "image": b"not an image"}, "image"),
])
def test_bad_inputs_are_refused_with_a_clear_message(llava, kwargs, words):
    kwargs = {"image": picture(), **kwargs}
    with pytest.raises(InputError, match=words):
        inspect_vlm(llava, **kwargs)


def test_a_model_without_image_tokens_is_refused(tiny_bert):
    with pytest.raises(InputError, match="no image tokens"):
        inspect_vlm(tiny_bert, picture(), PROMPT)


def test_the_view_refuses_rows_that_read_ahead_or_do_not_sum_to_one(view):
    import dataclasses
    a = view.attention.copy()
    a[0, 0, 0, -1] += 0.5                                              # a later position
    a[0, 0, 0] /= a[0, 0, 0].sum()
    with pytest.raises(ValueError, match="causal"):
        dataclasses.replace(view, attention=a, lens=None)
    with pytest.raises(ValueError, match="sum to 1"):
        dataclasses.replace(view, attention=view.attention * 2, lens=None)
    with pytest.raises(ValueError, match="grid"):
        dataclasses.replace(view, rows=3, lens=None)


def test_the_figures_draw_the_kept_view_where_its_numbers_are(view):
    """The drawings read the view, not the model: the lens grid writes each patch's top token
    in that patch's cell, the share table is image_share, the map has the picture's size."""
    from mminspect.figures import seq2seq as figs
    grid = figs.image_lens_figure(view, 1).data[0]
    tops = [view.lens.top_tokens[1][p][0] for p in view.grid_positions]      # row by row
    assert np.shape(grid.z) == (4, 4) and sum(grid.text, []) == tops
    np.testing.assert_allclose(grid.z, view.lens.top_probs[1, view.grid_positions, 0].reshape(4, 4))
    share = figs.image_share_figure(view, 1).data[0]
    np.testing.assert_allclose(share.z, view.image_share[:, :, 1])
    heads = figs.head_gallery(view, 1, 0)
    assert [c.split(" · ")[0] for _, c in heads] == ["head 0", "head 1", "head 2", "head 3"]
    assert figs.patch_map_image(view, 1, 0, None).shape[1] >= 256      # enlarged to be seen
    text = figs.vlm_text_lens_figure(view).data[0]
    assert len(text.x) == len(view.tokens) - 16                       # every non-image position
