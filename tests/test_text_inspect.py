"""inspect_text on the bundled MiniLM and a tiny random BERT: captured attention equals a
direct recomputation, embeddings equal sentence-transformers', inputs are handled."""
import numpy as np
import pytest
import torch

import mminspect as mi
from mminspect.models.hf_text import MAX_CHARS


def direct_attention(adapter, text):
    """Recompute every layer's attention from the hidden states and the Q/K weights:
    softmax(Q K^T / sqrt(d_head)) per head, independent of transformers' attention code."""
    enc = adapter.tokenizer(text, return_tensors="pt", truncation=True, max_length=adapter.max_tokens)
    with torch.no_grad():
        out = adapter.model(**enc, output_hidden_states=True)
    cfg = adapter.model.config
    n_heads, d_head = cfg.num_attention_heads, cfg.hidden_size // cfg.num_attention_heads
    maps = []
    for layer, block in enumerate(adapter.model.encoder.layer):
        h = out.hidden_states[layer][0]                                    # [token, d_model]
        sa = block.attention.self
        q = sa.query(h).view(-1, n_heads, d_head).transpose(0, 1)         # [head, token, d_head]
        k = sa.key(h).view(-1, n_heads, d_head).transpose(0, 1)           # [head, token, d_head]
        maps.append(torch.softmax(q @ k.transpose(1, 2) / d_head ** 0.5, -1))  # [head, q, k]
    return torch.stack(maps).detach().numpy()                                  # [layer, head, q, k]


def test_minilm_gives_six_layers_of_twelve_heads_matching_direct_computation(minilm):
    view = mi.inspect_text(minilm, "The cat sat on the mat.")
    w = view.attention.weights
    assert w.shape == (6, 12, 9, 9)
    np.testing.assert_allclose(w.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(w, direct_attention(minilm, "The cat sat on the mat."), atol=1e-5)


def test_captured_attention_equals_the_library_output(minilm):
    text = "Attention rows should sum to one."
    view = mi.inspect_text(minilm, text)
    enc = minilm.tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        lib = torch.stack(minilm.model(**enc, output_attentions=True).attentions)[:, 0].numpy()
    np.testing.assert_array_equal(view.attention.weights, lib)


def test_tiny_random_bert_by_path_matches_direct_computation(tiny_bert):
    text = "the cat sat on the warm rug"
    view = mi.inspect_text(tiny_bert, text)
    assert view.attention.weights.shape == (2, 2, 9, 9)
    np.testing.assert_allclose(view.attention.weights, direct_attention(tiny_bert, text), atol=1e-6)
    assert view.tokens == ["[CLS]", "the", "cat", "sat", "on", "the", "warm", "rug", "[SEP]"]
    assert view.attention.special.tolist() == [True] + [False] * 7 + [True]


def test_embedding_equals_sentence_transformers(minilm):
    from sentence_transformers import SentenceTransformer

    from mminspect.models.bundled import minilm_dir
    st = SentenceTransformer(str(minilm_dir()), device="cpu")
    texts = ["A man is eating food.", "Someone is having a meal."]
    ref = st.encode(texts, normalize_embeddings=True)
    view = mi.inspect_text(minilm, texts[0], compare_to=texts[1])
    assert view.prediction.similarity == pytest.approx(float(ref[0] @ ref[1]), abs=1e-5)
    np.testing.assert_allclose(minilm.embed(texts), ref, atol=1e-5)


def test_zero_shot_probabilities_are_softmax_of_cosines(minilm):
    labels = ["animals", "finance", "weather"]
    view = mi.inspect_text(minilm, "The kitten chased a mouse.", labels=labels, temperature=0.1)
    emb = minilm.embed(["The kitten chased a mouse.", *labels])
    cos = emb[1:] @ emb[0]
    expected = np.exp(cos / 0.1) / np.exp(cos / 0.1).sum()
    np.testing.assert_allclose(view.prediction.label_scores, cos, atol=1e-5)
    np.testing.assert_allclose(view.prediction.label_probs, expected, atol=1e-5)
    assert view.prediction.labels[int(np.argmax(view.prediction.label_probs))] == "animals"


def test_hidden_norms_are_per_layer_per_token(minilm):
    view = mi.inspect_text(minilm, "Norms grow with depth.")
    enc = minilm.tokenizer("Norms grow with depth.", return_tensors="pt")
    with torch.no_grad():
        hs = minilm.model(**enc, output_hidden_states=True).hidden_states
    expected = torch.stack(hs)[:, 0].norm(dim=-1).numpy()
    np.testing.assert_allclose(view.hidden_norms, expected, rtol=1e-5)


@pytest.mark.parametrize("text", ["", "   ", "\n\t  "])
def test_empty_or_whitespace_text_is_refused_clearly(minilm, text):
    with pytest.raises(mi.InputError, match="empty"):
        mi.inspect_text(minilm, text)


def test_only_control_characters_are_refused_clearly(minilm):
    with pytest.raises(mi.InputError, match="control or invisible"):
        mi.inspect_text(minilm, "\x00\x07\x1b")


def test_emoji_and_cjk_show_what_the_vocabulary_could_not_represent(minilm):
    view = mi.inspect_text(minilm, "I love 🍕 and 寿司")
    assert any(t.startswith("[UNK]") and "🍕" in t for t in view.tokens)
    assert view.attention.weights.shape[-1] == len(view.tokens)


def test_control_characters_inside_text_are_dropped_not_fatal(minilm):
    view = mi.inspect_text(minilm, "cat\x07 sat")
    assert view.tokens == ["[CLS]", "cat", "sat", "[SEP]"]


def test_long_text_is_truncated_and_the_drop_is_reported(minilm):
    text = " ".join(f"word{i}" for i in range(400))        # ~1200 word pieces
    full = len(minilm.tokenizer(text)["input_ids"])
    view = mi.inspect_text(minilm, text)
    assert len(view.tokens) == 512 and view.n_dropped == full - 512 > 0
    assert f"{full - 512} tokens" in view.notes[0]


def test_text_over_the_character_limit_is_refused(minilm):
    with pytest.raises(mi.InputError, match="limit is 20,000"):
        mi.inspect_text(minilm, "a" * (MAX_CHARS + 1))


def test_offsets_point_back_into_the_text(minilm):
    text = "Héllo, wörld!"
    view = mi.inspect_text(minilm, text)
    pieces = [text[a:b].lower() for a, b in view.offsets[1:-1]]
    assert pieces == ["héllo", ",", "wörld", "!"]


def test_labels_are_validated(minilm):
    with pytest.raises(mi.InputError, match="list of strings"):
        mi.inspect_text(minilm, "x y", labels="sports")
    with pytest.raises(mi.InputError, match="limit is 50"):
        mi.inspect_text(minilm, "x y", labels=[f"l{i}" for i in range(51)])
    view = mi.inspect_text(minilm, "x y", labels=[" a ", "a", "", "b"])
    assert view.prediction.labels == ["a", "b"]


def test_model_is_loaded_once_per_process(minilm):
    assert mi.load("minilm") is minilm


def test_a_name_that_is_no_model_names_the_alternatives():
    with pytest.raises(mi.ModelLoadError, match="Known models: minilm"):
        mi.load("no such model!")


def test_an_uncached_hub_id_offline_fails_at_once_naming_the_bundled_models():
    with pytest.raises(mi.ModelLoadError, match="not in the local cache and the hub is offline.*minilm"):
        mi.load("someone/not-cached-model")


def test_texts_of_very_different_lengths_embed_in_small_batches_with_the_same_result(minilm,
                                                                                   monkeypatch):
    """One long second text beside 40 short labels: each batch is padded only to its own
    longest text (one batch of all was 41 x 512 tokens), and every embedding equals the
    text's embedding alone."""
    long = "The old fisherman pulled his boat onto the beach at dawn. " * 60     # > 512 tokens
    texts = [f"label {i} about boats" for i in range(40)] + [long, "a"]
    alone = np.stack([minilm._embed_batch([t])[0] for t in texts])
    sizes = []
    real = minilm._embed_batch
    monkeypatch.setattr(minilm, "_embed_batch",
                        lambda batch: sizes.append(len(batch)) or real(batch))
    together = minilm.embed(texts)
    np.testing.assert_allclose(together, alone, atol=1e-5)
    assert sum(sizes) == len(texts)
    assert 1 in sizes and max(sizes) >= 20          # the long text alone, the labels together
