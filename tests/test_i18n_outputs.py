"""What the handlers show, in Chinese: every tab's outputs rendered for a page in zh-CN (the
app's own events run through gradio's process_api with the page's cookie, tests/i18n_walk.py)
and every text a person reads in them collected — Markdown and messages, figure titles,
axes, legends, notes and hover tooltips, method names on ticks, table headers and the app's
words in table cells. A text with an
English word left (technical names, the user's own words and the models' words aside) fails.

The figures and tables themselves stay English in figures/ and api/: the translation happens
at the output boundary (ui/i18n_outputs.py), so an English page gets them untouched."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from i18n_walk import hover_words, shown_strings, walk
from mminspect.ui.i18n import catalog, is_marker
from test_i18n import WORD, needs_translation

HAN = re.compile("[\u4e00-\u9fff]")
ROOT = Path(__file__).resolve().parents[1]


def data_words(values) -> set[str]:
    """Words that are the user's or a model's, not the app's: the page's inputs (example
    texts, labels, prompts), the bundled dataset sample, and the vocabulary of the bundled
    fusion models (their captions, their object names)."""
    from mminspect.ui import dataset_tab
    texts = [v for v in values if isinstance(v, str)]
    texts += [str(x) for col in dataset_tab.SAMPLE.columns for x in dataset_tab.SAMPLE[col]]
    for card in ("fusion/card.json", "fusion/caption_card.json"):
        texts += json.loads((ROOT / "assets" / card).read_text(encoding="utf-8")).get("vocabulary", [])
    return {w.lower() for t in texts for w in WORD.findall(t)}


def english_left(text: str, data: set[str]) -> bool:
    """A line with an English word of the app's (not a technical name, not data) and no
    Chinese: one line at a time, so one translated paragraph cannot cover an English one."""
    for line in re.split(r"\n|<br>", text):
        if HAN.search(line):
            continue
        kept = " ".join(w for w in WORD.findall(line) if w.lower() not in data)
        if needs_translation(kept):
            return True
    return False


@pytest.fixture(scope="module")
def chinese_outputs():
    from mminspect.ui import build_app
    from i18n_walk import initial_values
    demo = build_app()
    shown = []
    for event, block, value in walk(demo, "zh-CN"):
        for where, text in shown_strings(block, value):
            shown.append((event, where, text))
    return shown, data_words(initial_values(demo).values())


@pytest.mark.slow                       # every tab's events run, ~1 min on 2 cores
def test_every_output_a_chinese_page_reads_is_in_chinese(chinese_outputs):
    """Fails on a figure title, an axis, a legend, a table header, a verdict in a cell or a
    run summary with no entry in assets/i18n/zh-CN*.json."""
    shown, data = chinese_outputs
    errors = [text for _, where, text in shown if where == "error"]
    assert not errors, errors                       # every event ran (a handled error is a message)
    missing = sorted({f"{where} ({event}): {text[:160]!r}" for event, where, text in shown
                      if not is_marker(text) and english_left(text, data)})
    assert not missing, f"{len(missing)} output texts have no Chinese:\n" + "\n".join(missing)


@pytest.mark.slow
def test_the_walk_saw_figures_and_tables_of_every_kind(chinese_outputs):
    """The check above is only as good as the outputs it saw: figure titles, axes and legends,
    table headers and Markdown summaries, in Chinese, from many events."""
    shown, _ = chinese_outputs
    han = [(event, where) for event, where, text in shown if HAN.search(text)]
    kinds = {where.split(".")[-2] if where.startswith("figure") else where for _, where in han}
    assert {"title", "table header", "table cell", "Markdown", "HTML"} <= kinds, kinds
    assert sum(w.startswith("figure") for _, w in han) > 80, len(han)
    assert sum(w == "table header" for _, w in han) > 25
    events = {e for e, _ in han}
    assert {"on_run", "on_attribute", "on_inspect", "on_answer", "on_scan"} <= events, events


@pytest.mark.slow
def test_every_lessons_measured_answer_and_picture_have_chinese():
    """The verdict of every measure (the sentence with the measured numbers) and its
    picture's title and series, for each lesson."""
    from mminspect import api
    from mminspect.ui import lessons_tab
    from mminspect.ui.i18n_outputs import figure_texts, localize_figure
    zh = catalog("zh-CN")
    for lesson in api.list_lessons():
        m = api.run_lesson(lesson)
        found = zh.lookup(m.text)
        assert found is not None and HAN.search(found), (lesson.measure, m.text)
        assert not english_left(found, set()), (lesson.measure, found)
        fig = localize_figure(lessons_tab.panel_figure(lesson.state.panel, m, lesson.title), "zh-CN")
        for path, text in figure_texts(json.loads(getattr(fig, "plot", None) or fig.to_json())):
            assert not english_left(hover_words(text), {t.lower() for t in _tokens(m)}), \
                (lesson.measure, path, text)


def _tokens(measured) -> list[str]:
    return [w for t in measured.evidence.get("tokens", ()) for w in WORD.findall(str(t))]


def test_a_figure_is_translated_on_a_copy_and_left_alone_in_english(minilm):
    """A handler may keep a figure and show it again to an English page: never changed in
    place; the tokens (tick labels) stay as they are."""
    import mminspect as mi
    from mminspect.figures import head_heatmap
    from mminspect.ui.i18n_outputs import localize_figure
    maps = mi.inspect_text(minilm, "head after the layer").attention
    fig = head_heatmap(maps, 2, 3)
    before = fig.to_json()
    zh = json.loads(localize_figure(fig, "zh-CN").plot)
    assert fig.to_json() == before
    assert zh["layout"]["title"]["text"] == "第 2 层，头 3"
    assert zh["layout"]["xaxis"]["title"]["text"] == "键（被关注）"
    assert zh["data"][0]["x"] == json.loads(before)["data"][0]["x"]          # tokens untouched
    assert localize_figure(fig, "en") is fig
    assert {"head", "layer"} <= set(zh["data"][0]["x"])    # words the app translates elsewhere


def test_a_coloured_table_keeps_its_colours_with_chinese_headers():
    import gradio as gr
    from mminspect.figures.causal import importance_table
    from mminspect.ui.i18n_outputs import localize_table
    block = gr.Dataframe()
    styled = importance_table(np.array([[0.5, -0.25]], np.float32))
    out = localize_table(block, styled, "zh-CN")
    assert out["headers"] == ["层", "H0", "H1"] and out["data"][0][0] == "L0"
    assert out["metadata"]["styling"][0][1].startswith("background-color")
    assert localize_table(block, styled, "en") is styled
    assert localize_table(block, pd.DataFrame({"token": ["yes"]}), "zh-CN")["data"] == [["是"]]


def test_a_template_does_not_pass_an_english_tail_as_translated():
    """'Layer {layer}, head {head}' must not take '2, averaged over …' as a head's name: an
    untranslated place that is not free text holds a short value (a number, a name)."""
    zh = catalog("zh-CN")
    assert zh.lookup("Layer 2, head 7") == "第 2 层，头 7"
    assert zh.lookup("Layer 2, head 7, looked at by nobody in this sentence") is None
    # a wordless template ("{a} — {b}") translates only when a part of it is known
    assert zh.lookup("foo bar — baz qux") is None


def test_html_is_translated_text_by_text_and_a_one_word_token_stays():
    from mminspect.ui.i18n_outputs import localize_markup
    page = ("<table><tr><th>method</th><th>time</th></tr><tr><td><span>time</span></td></tr>"
            "</table><span>−0.2 lowers</span><span>+0.2 raises the target</span>")
    out = localize_markup(page, "zh-CN")
    assert "<th>方法</th><th>用时</th>" in out and "<span>time</span>" in out
    assert "−0.2 拉低" in out and "+0.2 推高目标" in out


def test_a_hover_tooltip_is_translated_and_keeps_its_places(minilm):
    """Each piece of words between plotly's places is translated; the places (%{z:.3f}), the
    <extra> tag and the tokens the tooltip shows stay as they are."""
    import mminspect as mi
    from mminspect.figures import head_heatmap
    from mminspect.figures.dataset import head_heatmap as dataset_heads
    from mminspect.ui.i18n_outputs import localize_figure
    places = re.compile(r"%\{[^}]*\}|<[^>]*>")
    fig = head_heatmap(mi.inspect_text(minilm, "head after the layer").attention, 2, 3)
    english = json.loads(fig.to_json())["data"][0]["hovertemplate"]
    zh = json.loads(localize_figure(fig, "zh-CN").plot)["data"][0]["hovertemplate"]
    assert zh == "查询 %{y}<br>键 %{x}<br>权重 %{z:.3f}<extra></extra>"
    assert places.findall(zh) == places.findall(english)
    scan = dataset_heads(np.ones((2, 2)), np.zeros((2, 2)), 5)
    text = json.loads(localize_figure(scan, "zh-CN").plot)["data"][0]["text"]
    assert text[1][0] == "第 1 层，头 0<br>平均变化 +1.000<br>离散程度（标准差）0.000"


def test_method_names_on_ticks_are_translated_and_tokens_stay():
    from mminspect.figures.trust import agreement_figure
    from mminspect.types.trust import MethodAgreement
    from mminspect.ui.i18n_hover import localize_extras
    from mminspect.ui.i18n_outputs import localize_figure
    m = np.eye(2, dtype=np.float32)
    agreement = MethodAgreement(methods=["integrated_gradients", "saliency"], matrix=m,
                                matrix_abs=m, n_features=4)
    labels = {"integrated_gradients": "Integrated Gradients", "saliency": "Saliency"}
    zh = json.loads(localize_figure(agreement_figure(agreement, labels), "zh-CN").plot)
    assert zh["data"][0]["y"] == ["积分梯度（Integrated Gradients） (1)", "显著性（Saliency） (2)"]
    assert zh["data"][0]["customdata"][0] == ["积分梯度（Integrated Gradients）", "显著性（Saliency）"]
    tokens = {"data": [{"type": "bar", "x": ["Saliency", "is", "a", "word"], "y": [1, 2, 3, 4]}]}
    assert not localize_extras(tokens, "zh-CN")
    assert tokens["data"][0]["x"] == ["Saliency", "is", "a", "word"]


def test_a_tables_headers_before_its_first_run_follow_the_page():
    """Tables are built once for every page with English headers: on load, a Chinese page
    gets them again in Chinese; an English page gets nothing (no change)."""
    from i18n_walk import Page
    from mminspect.ui import build_app
    demo = build_app()
    load = next(f for f in demo.fns.values() if f.name == "first_table_values")
    zh, en = Page(demo, "zh-CN"), Page(demo, "en")
    try:
        tables = [v for _, v in zh.run(load)]
        headers = [v["headers"] for v in tables]
        english = [v for _, v in en.run(load)]
    finally:
        zh.close(), en.close()
    assert ["层", "头"] in headers and ["图块", "权重"] in headers, headers
    shown = [h for hs in headers for h in hs] + [c for v in tables for row in v["data"]
                                                   for c in row if isinstance(c, str)]
    assert not any(english_left(t, set()) for t in shown), shown
    assert all(v.get("__type__") == "update" and "value" not in v for v in english), english
