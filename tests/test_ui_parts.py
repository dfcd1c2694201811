"""UI pieces tested without a browser: the picker's policy, prediction display per kind."""
import numpy as np
import pytest

import mminspect as mi
from mminspect import api
from mminspect.types import AttentionMaps, TextPrediction, TextView, TokenChoices
from mminspect.ui.context import default_context
from mminspect.ui.model_picker import picker_choices, resolve_model
from mminspect.ui.prediction_view import label_dict, notes_markdown, summary_markdown


def view_with(pred, notes=()):
    n = 3
    maps = AttentionMaps(weights=np.full((1, 1, n, n), 1 / n), tokens=["a", "b", "c"],
                         special=np.zeros(n, bool))
    return TextView(text="a b c", model_name="m", attention=maps, hidden_norms=np.zeros((2, n)),
                    offsets=np.zeros((n, 2)), prediction=pred, notes=list(notes))


def test_custom_models_can_be_turned_off_for_public_hosting(monkeypatch, tiny_bert_dir):
    monkeypatch.setenv("MMINSPECT_ALLOW_CUSTOM_MODELS", "0")
    ctx = default_context()
    assert not ctx.allow_custom_models
    with pytest.raises(mi.InputError, match="only offers the models in the list"):
        resolve_model(ctx, "minilm", str(tiny_bert_dir))
    assert resolve_model(ctx, "minilm", "").name == "minilm"


def test_custom_models_are_on_by_default_and_win_over_the_dropdown(monkeypatch, tiny_bert_dir):
    monkeypatch.delenv("MMINSPECT_ALLOW_CUSTOM_MODELS", raising=False)
    ctx = default_context()
    assert resolve_model(ctx, "minilm", f"  {tiny_bert_dir}  ").name == str(tiny_bert_dir)


def test_picker_lists_bundled_models_first_then_the_curated_hub_ones():
    names = [name for _, name in picker_choices(default_context(), "text")]
    assert names[0] == "minilm" and {"gpt2", "bert-base-uncased", "distilbert-sst2"} <= set(names)


def test_offline_the_picker_marks_hub_models_that_are_not_cached(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")       # the tests' own setting, said explicitly
    api.hub_reachable.cache_clear()
    ctx = default_context()
    labels = dict((name, label) for label, name in picker_choices(ctx, "text"))
    assert "not available offline" not in labels["minilm"]
    assert all("not available offline" in labels[n] for n in ("gpt2", "bert-base-uncased"))
    with pytest.raises(mi.InputError, match="not available offline.*all-MiniLM-L6-v2"):
        resolve_model(ctx, "gpt2", "")


def test_online_hub_models_are_listed_as_downloads(monkeypatch):
    monkeypatch.setattr(api.availability, "hub_reachable", lambda: True)
    assert api.availability.unavailable_models() == set()


def test_a_cached_hub_model_counts_as_available_offline(monkeypatch, tmp_path):
    """A hub model already in the local cache opens offline: it is not marked."""
    repo = tmp_path / "models--openai-community--gpt2" / "snapshots" / "abc"
    repo.mkdir(parents=True)
    (repo / "config.json").write_text("{}")
    (tmp_path / "models--openai-community--gpt2" / "refs").mkdir()
    (tmp_path / "models--openai-community--gpt2" / "refs" / "main").write_text("abc")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    import huggingface_hub.constants as c
    monkeypatch.setattr(c, "HF_HUB_CACHE", str(tmp_path))
    assert api.availability.in_local_cache("openai-community/gpt2")
    assert not api.availability.in_local_cache("distilbert/distilgpt2")


def test_classifier_summary_names_the_best_class():
    pred = TextPrediction(kind="classifier", labels=["neg", "pos"], label_scores=[0.0, 1.0],
                          label_probs=[0.2689, 0.7311], temperature=1.0)
    md = summary_markdown(view_with(pred), "cpu")
    assert "Predicted class: **pos**" in md and "on cpu" in md
    assert label_dict(view_with(pred)) == pytest.approx({"neg": 0.2689, "pos": 0.7311})


def test_next_token_display_escapes_user_text_and_keeps_lookalike_tokens_apart():
    fill = TokenChoices(position=2, tokens=["<b>", " the", "the"], ids=[1, 2, 3], probs=[0.5, 0.3, 0.2])
    pred = TextPrediction(kind="causal_lm", fills=[fill], continuation="**bold** <i>")
    md = summary_markdown(view_with(pred, notes=["<script>x</script>"]), "cpu")
    assert "<b>" not in md and "<i>" not in md and "\\*\\*bold" in md
    assert "<script>" not in notes_markdown(view_with(pred, notes=["<script>x</script>"]))
    assert list(label_dict(view_with(pred))) == ["'<b>'", "' the'", "'the'"]


def test_user_text_in_plotly_figures_is_escaped(minilm):
    """plotly.js renders <a href> and <b> inside labels: every figure escapes user text."""
    from mminspect import figures
    from mminspect.figures import clip as cfig
    evil = '<a href="http://x">link</a> <b>bold</b>'
    view = mi.inspect_text(minilm, evil)
    for fig in (figures.model_view(view.attention), figures.head_heatmap(view.attention, 0, 0),
                figures.head_view(view.attention, 0), figures.hidden_norms_figure(view)):
        text = fig.to_json()
        assert "<a " not in text and "<b>" not in text and "&lt;" in text
    clip = mi.inspect_clip("miniclip", mi.load_example(mi.list_examples()[0]).image,
                           [evil, "a red star"])
    for fig in (cfig.prediction_steps_figure(clip), cfig.similarity_matrix_figure(clip),
                cfig.embedding_figure(clip)):
        text = fig.to_json()
        assert "<a " not in text and "<b>" not in text and "&lt;a href" in text
