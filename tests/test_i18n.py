"""The app in English and Simplified Chinese: every text the built app shows has a
translation, the translation data is well formed, and the page gets what gradio's i18n needs.

What counts as "needs a translation": a shown text with an English word in it, once the
technical names that stay as they are next to the Chinese are taken out (model and method
names, softmax, LayerNorm, [CLS] …). A text of only such names, numbers and symbols is the
same in both languages."""
from __future__ import annotations

import json
import re

import pytest

from mminspect.ui.i18n import LOCALES, SOURCE, catalog, is_marker, key_of, read_catalog
from mminspect.ui.i18n_app import shown_texts, visible_text

# Names that stay as they are in every language (the brief of the Chinese UI: technical names
# next to the Chinese). Model ids, method names, libraries, notation.
TECHNICAL = {
    "softmax", "layernorm", "qkᵀ", "cls", "sep", "pad", "mask", "unk", "mlp", "mlps", "w_o",
    "nats", "logit", "logits", "minilm", "miniclip", "miniclip2", "mini-clip", "bert", "gpt",
    "distilgpt", "clip", "siglip", "vit", "laion", "open_clip", "sst", "distilbert", "json",
    "csv", "html", "png", "jpeg", "gif", "bmp", "webp", "parquet", "lime", "kernelshap",
    "gradientshap", "legrad", "grad-eclip", "maskclip", "sclip", "bertviz", "spearman",
    "all-minilm-l6-v2", "paraphrase-multilingual-minilm-l12-v2", "bert-base-uncased",
    "bert-base-chinese", "multilingual-minilm", "distilbert-sst2", "gpt2", "distilgpt2",
    "embeddings", "mask", "weights", "residual", "q·k", "text2", "label", "text", "base",
    "uncased", "small", "chinese", "openai", "google", "hugging", "face", "ig", "et", "al",
    "chefer", "notebook", "abnar", "zuidema", "vig", "adebayo", "bousselham", "zhao", "vilt",
    "jensen", "shannon", "gauss", "legendre", "api", "english",
}
# Generated measurement tables (a row per model and method, from the measured JSON): their
# words are the methods' names and numbers; their English headers are translated with the
# table's own generator elsewhere, not here.
GENERATED = ("<table style='border-collapse:collapse'", "**Pointing game, mini-CLIP")
WORD = re.compile(r"[A-Za-z][A-Za-z0-9_'’\-]*")


def needs_translation(text: str) -> bool:
    shown = visible_text(text)
    if not shown or shown.startswith(GENERATED) or text.startswith(GENERATED):
        return False
    shown = re.sub(r"`[^`]*`|\[[A-Z]+\]", " ", shown)       # code and [CLS]-style tokens
    words = [w for w in WORD.findall(shown) if len(w) > 1]
    return any(w.lower() not in TECHNICAL and not re.search(r"\d", w) for w in words)


@pytest.fixture(scope="module")
def built():
    from mminspect.ui import build_app
    demo = build_app()
    return demo, demo.mm_i18n


def test_every_shown_text_has_a_translation_in_every_language(built):
    """Fails on a new label, info line, Markdown, button, tab name or choice with no entry in
    assets/i18n/<locale>.json (or, for a lesson, in its file's [<locale>] table)."""
    demo, registry = built
    missing, seen = [], 0
    for block, where, text in shown_texts(demo):
        if is_marker(text):
            seen += 1
            texts = registry.texts[json.loads(text[len("__i18n__"):])["key"]]
            assert set(texts) == set(LOCALES), (texts[SOURCE][:80], sorted(texts))
            continue
        if needs_translation(text):
            missing.append(f"{type(block).__name__}.{where}: {text[:90]!r}")
    assert seen > 300, seen
    assert not missing, f"{len(missing)} shown texts have no translation:\n" + "\n".join(missing)


def test_no_translation_is_kept_for_a_text_the_app_no_longer_shows(built):
    """The other direction: every exact string in the data is shown somewhere (as a component's
    text or a lesson's, or inside one: a template's part), so a Chinese text never outlives its
    English one unnoticed."""
    demo, registry = built
    for loc in LOCALES:
        if loc == SOURCE:
            continue
        data = read_catalog(loc)
        shown = [t[SOURCE] for t in registry.texts.values()]
        stale = [s for s in data.strings if key_of(s) not in registry.texts
                 and not any(s in t for t in shown) and not _said_by_handlers(s)]
        assert not stale, f"{loc}: {len(stale)} translations of texts never shown: {stale[:10]}"


def _said_by_handlers(english: str) -> bool:
    """A text a handler returns (a message, a lesson verdict) or a piece a template fills in:
    looked up in the source, since no page shows it before an event."""
    from pathlib import Path
    src = Path(__file__).resolve().parents[1] / "mminspect"
    probe = english.strip()[:25]          # source strings are cut across lines
    return any(probe in p.read_text(encoding="utf-8") for p in src.rglob("*.py"))


def test_templates_translate_numbers_and_names_and_leave_unknown_text_alone():
    zh = catalog("zh-CN")
    assert zh.lookup("Head 14 does not exist: this model has heads 0-11.") == \
        "头 14 不存在：这个模型的头编号为 0-11。"
    # a place holding a known text is translated too (a lesson choice inside the verdict)
    assert zh.lookup("❌ **Not quite** — the answer is “sharper”.") == "❌ **不太对** —— 答案是“更尖锐”。"
    assert zh.lookup("no such sentence anywhere") is None
    # a template that would change nothing is not a translation
    assert zh.lookup("mini-CLIP 2 · something unknown") is None


def test_every_lesson_has_its_chinese_texts_and_the_same_measured_setup():
    from mminspect import api
    from mminspect.api.languages import lesson_translation
    for lesson in api.list_lessons():
        zh = lesson_translation(lesson, "zh-CN")
        assert zh.get(lesson.title) and zh.get(lesson.question), lesson.key
        assert re.search(r"[\u4e00-\u9fff]", zh[lesson.title]), lesson.key
        if isinstance(lesson.choices, tuple):
            assert all(c in zh for c in lesson.choices), lesson.key


def test_a_wrong_lesson_translation_names_the_file_and_field(tmp_path):
    from mminspect import api
    from mminspect.api.languages import lesson_translation
    lesson = api.list_lessons()[2]                                   # fixed choices
    bad = tmp_path / lesson.path.name
    bad.write_text(lesson.path.read_text(encoding="utf-8").replace(
        'choices = ["更尖锐", "更平坦", "没有变化"]', 'choices = ["更尖锐"]'), encoding="utf-8")
    from dataclasses import replace
    with pytest.raises(ValueError, match=r"02_why_sqrt_d.toml \[zh-CN\]: 'choices'"):
        lesson_translation(replace(lesson, path=bad), "zh-CN")


def test_the_page_language_comes_from_its_cookie_then_the_browser():
    from types import SimpleNamespace
    from mminspect.ui.i18n import locale_of_request
    req = lambda **h: SimpleNamespace(headers=h)                     # noqa: E731
    assert locale_of_request(req(cookie="a=1; mm_lang=zh-CN")) == "zh-CN"
    assert locale_of_request(req(cookie="mm_lang=en", **{"accept-language": "zh-CN"})) == "en"
    assert locale_of_request(req(**{"accept-language": "zh-TW,zh;q=0.9"})) == "zh-CN"
    assert locale_of_request(req(**{"accept-language": "fr-FR,fr;q=0.9"})) == SOURCE
    assert locale_of_request(None) == SOURCE


def test_mini_clip_says_once_that_it_cannot_read_chinese_and_names_chinese_clip():
    import numpy as np
    from mminspect import api
    from mminspect.api.languages import prompt_script_note
    image = np.full((64, 64, 3), 200, np.uint8)
    notes = api.inspect_clip("miniclip2", image, ["一只猫", "一只狗", "a cat"]).notes
    chinese = [n for n in notes if "Chinese" in n]
    assert len(chinese) == 1 and "'chinese-clip-vit-base-patch16'" in chinese[0], notes
    assert "'一只猫'" in chinese[0] and "[UNK]" in chinese[0]
    assert not any("does not know" in n for n in notes), notes     # no second note per prompt
    assert api.inspect_clip("miniclip2", image, ["a cat", "a dog"]).notes == []
    # a tower whose vocabulary reads Chinese gets no note
    reads = type("Tower", (), {"name": "zh", "vocab": lambda self: {chr(0x4e00 + i): i for i in range(3000)}})()
    assert prompt_script_note(reads, ["一只猫"]) is None
    # and the note comes in Chinese on a Chinese page
    assert catalog("zh-CN").lookup(chinese[0]).startswith("miniclip2 读不懂中文")
