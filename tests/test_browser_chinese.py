"""The app in the Chinese locale (a browser whose language is zh-CN): every tab walked and
photographed, no English left but technical names, no cut CJK labels; the language picker
switches without losing the results on screen and is kept in the link; a handled error's
message comes in Chinese."""
from __future__ import annotations

import os
import re

import pytest

from browser_helpers import MODEL_MS, SHOTS, shared_browser
from test_i18n import needs_translation

pytestmark = [pytest.mark.browser, pytest.mark.slow]
HAN = re.compile("[\u4e00-\u9fff]")
# The zero-shot labels and prompts in a prediction are the user's own words (English here).
USER_WORDS = re.compile(r"^[a-z ]+\n\d+%$")
ENGLISH_TABS = ["Text", "Attributions", "Image–text", "Fusion", "T5 & VLM", "Dataset",
                "How attention works", "Lessons"]
TABS = ["文本", "归因", "图文", "融合", "T5 与视觉语言模型", "数据集", "注意力如何工作", "课程"]
# Labels, buttons, tab names and Markdown text as shown (inputs' own values are the user's).
SHOWN_JS = """() => [...document.querySelectorAll(
    '[role=tabpanel]:not([hidden]) :is(label span, button, .prose, [data-testid=block-info], .info)')]
  .filter(e => e.offsetParent !== null && !e.closest('.js-plotly-plot'))
  .map(e => e.innerText.trim()).filter(t => t)"""
# A CJK label cut by its box: its text is wider than the box that clips it.
CUT_JS = """() => [...document.querySelectorAll('[role=tab], label span, button')]
  .filter(e => e.offsetParent !== null && /[\\u4e00-\\u9fff]/.test(e.innerText))
  .filter(e => getComputedStyle(e).overflow !== 'visible' && e.scrollWidth > e.clientWidth + 1)
  .map(e => e.innerText.trim())"""


@pytest.fixture
def zh_page(request):
    browser = shared_browser(request.config)
    url = os.environ.get("MMINSPECT_APP_URL") or request.getfixturevalue("app_url")
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
    page = context.new_page()
    page.goto(url)
    page.get_by_role("tab", name="文本", exact=True).wait_for(timeout=60_000)
    yield page, url
    context.close()


def tab_names(page) -> list[str]:
    return page.evaluate("() => [...document.querySelectorAll('[role=tab]')]"
                         ".filter(b => b.offsetParent !== null).map(b => b.innerText.trim())")


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(300)
    page.screenshot(path=str(SHOTS / f"chinese-{name}.png"), full_page=True)


def test_every_tab_in_chinese_has_no_english_left_and_no_cut_labels(zh_page):
    page, _ = zh_page
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    assert page.locator("#mm-language input:checked").get_attribute("value") == "zh-CN"
    english, cut = {}, {}
    for i, name in enumerate(TABS, 1):
        page.get_by_role("tab", name=name, exact=True).click()
        page.wait_for_timeout(800)
        shot(page, f"{i:02d}-{re.sub(r'[^a-z0-9]+', '-', name.encode('ascii', 'ignore').decode().lower()) or 'tab'}")
        # English left: a shown text with no Chinese in it that is not only technical names
        # (a Chinese text keeps its technical names in brackets, e.g. 积分梯度（Integrated Gradients）)
        left = [t for t in page.evaluate(SHOWN_JS) if needs_translation(t) and not HAN.search(t)
                and not USER_WORDS.search(t)]
        if left:
            english[name] = left[:8]
        if page.evaluate(CUT_JS):
            cut[name] = page.evaluate(CUT_JS)
    assert not english, f"English left on the Chinese page: {english}"
    assert not cut, f"CJK labels cut by their box: {cut}"


def test_the_switch_keeps_the_results_and_goes_into_the_link(zh_page):
    page, url = zh_page
    page.get_by_role("button", name="查看", exact=True).click()
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot .main-svg').length > 0",
                           timeout=MODEL_MS)
    page.wait_for_timeout(1000)
    plots = page.evaluate("() => document.querySelectorAll('.js-plotly-plot').length")
    shot(page, "20-text-inspected")
    page.locator("#mm-language label", has_text="English").click()
    page.get_by_role("tab", name="Text", exact=True).wait_for(timeout=10_000)
    assert page.evaluate("() => document.querySelectorAll('.js-plotly-plot').length") == plots
    assert "lang=en" in page.url
    page.wait_for_timeout(500)
    assert tab_names(page)[:len(ENGLISH_TABS)] == ENGLISH_TABS      # the tabs not open too
    shot(page, "21-switched-to-english-results-kept")
    page.locator("#mm-language label", has_text="中文").click()
    page.get_by_role("tab", name="文本", exact=True).wait_for(timeout=10_000)
    assert "lang=zh-CN" in page.url
    page.wait_for_timeout(500)
    assert tab_names(page)[:len(TABS)] == TABS
    # a link copied now opens in Chinese even in an English browser
    copied = page.url
    other = page.context.browser.new_context(locale="en-US")
    p2 = other.new_page()
    p2.goto(copied)
    p2.get_by_role("tab", name="文本", exact=True).wait_for(timeout=60_000)
    other.close()


def test_a_handled_error_says_its_message_in_chinese(zh_page):
    page, _ = zh_page
    page.get_by_role("tab", name="课程", exact=True).click()
    page.get_by_role("button", name="检查我的答案", exact=True).click()
    page.wait_for_function("() => [...document.querySelectorAll('.mm-message')].some("
                           "e => e.innerText.includes('请先选一节课'))", timeout=30_000)
    shot(page, "30-lessons-handled-error")
    assert page.locator('[data-testid="status-tracker"] .error').count() == 0


def test_chinese_prompts_on_mini_clip_get_one_line_naming_chinese_clip(zh_page):
    page, _ = zh_page
    page.get_by_role("tab", name="图文", exact=True).click()
    box = page.get_by_label("提示词，每行一个", exact=True)
    box.fill("一只猫\n一只狗")
    page.get_by_role("button", name="查看", exact=True).click()
    page.wait_for_function("() => document.body.innerText.includes('读不懂中文')", timeout=MODEL_MS)
    text = page.locator("[role=tabpanel]:visible").first.inner_text()
    assert text.count("读不懂中文") == 1 and "chinese-clip-vit-base-patch16" in text
    assert page.locator('[data-testid="status-tracker"] .error').count() == 0
    shot(page, "40-image-text-chinese-prompts")
