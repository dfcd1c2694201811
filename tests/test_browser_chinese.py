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


# The words of every figure on the open tab, read from plotly's own layout (what it draws):
# titles, axis titles, colour-bar and legend titles, notes, legend names.
FIGURE_TEXTS_JS = """() => [...document.querySelectorAll('[role=tabpanel]:not([hidden]) .js-plotly-plot')]
  .filter(g => g.offsetParent !== null && g.layout)
  .flatMap(g => {
    const L = g.layout, out = [], t = (o) => o && o.title && (o.title.text || o.title);
    if (t(L)) out.push(['title', t(L)]);
    for (const k of Object.keys(L)) {
      if (/^[xy]axis\\d*$/.test(k) && t(L[k])) out.push(['axis', t(L[k])]);
      if (/^coloraxis\\d*$/.test(k) && L[k].colorbar && t(L[k].colorbar)) out.push(['colour bar', t(L[k].colorbar)]);
    }
    for (const a of L.annotations || []) if (a.text) out.push(['note', a.text]);
    for (const d of g.data || []) {
      if (d.name && d.showlegend !== false) out.push(['legend', d.name]);
      if (d.colorbar && t(d.colorbar)) out.push(['colour bar', t(d.colorbar)]);
    }
    return out.filter(([, s]) => typeof s === 'string');
  })"""
# A table's column names on the open tab (gradio's Dataframe and the app's HTML tables).
HEADERS_JS = """() => [...document.querySelectorAll('[role=tabpanel]:not([hidden]) table th')]
  .filter(e => e.offsetParent !== null).map(e => e.innerText.trim()).filter(t => t)"""


def zh(english: str) -> str:
    """A control's name as the Chinese page shows it (the app's own dictionary)."""
    from mminspect.ui.i18n import catalog
    return catalog("zh-CN").lookup(english) or english


def run_and_wait(page, button: str, done: str, timeout: int = MODEL_MS) -> None:
    page.locator("[role=tabpanel]:visible").first.get_by_role("button", name=button, exact=True).first.click()
    page.wait_for_function("t => [...document.querySelectorAll('[role=tabpanel]')].some("
                           "p => p.offsetParent !== null && p.innerText.includes(t))",
                           arg=done, timeout=timeout)
    page.wait_for_function("() => !document.querySelector('.progress-text, .eta-bar')", timeout=timeout)
    page.wait_for_timeout(800)


def chinese_figures_and_headers(page, where: str) -> tuple[list, list]:
    """(figure texts, table headers) shown now that are Chinese; fails on one with English left
    (not technical names, not the example's words)."""
    figs, heads = page.evaluate(FIGURE_TEXTS_JS), page.evaluate(HEADERS_JS)
    data = {"cat", "mat", "warm", "kitten", "rug", "light", "bulb", "lemon", "snail", "bicycle"}
    left = [f"{kind}: {text}" for kind, text in figs + [["header", h] for h in heads]
            if not HAN.search(text) and needs_translation(
                " ".join(w for w in re.findall(r"[A-Za-z]+", re.sub(r"<[^>]+>", " ", text))
                         if w.lower() not in data))]
    assert not left, f"{where}: English left in figures or tables: {left[:10]}"
    return [t for _, t in figs if HAN.search(t)], [h for h in heads if HAN.search(h)]


def test_figures_and_tables_in_chinese_on_text_attributions_image_text_and_dataset(zh_page):
    """Each tab run once in Chinese: its figures' titles, axes and legends and a table's
    header are Chinese (the outputs are translated on the server for the page's language)."""
    page, _ = zh_page
    # Text: the first view is drawn for you; the causal lab's scan fills its table
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot .main-svg').length > 0",
                           timeout=MODEL_MS)
    page.wait_for_timeout(1000)
    titles, _ = chinese_figures_and_headers(page, "Text")
    assert titles, "no Chinese figure text on the Text tab"
    shot(page, "50-text-figures")
    page.get_by_role("tab", name=zh("Causal lab"), exact=True).click()
    run_and_wait(page, zh("Scan every head"), "逐个移除")
    _, headers = chinese_figures_and_headers(page, "Text · causal lab")
    assert "层" in headers, headers
    shot(page, "51-text-causal-lab-table")
    # Attributions: one method's figures, then every method's table
    page.get_by_role("tab", name="归因", exact=True).click()
    run_and_wait(page, zh("Attribute"), "忠实度")
    page.get_by_role("tab", name=zh("Top words"), exact=True).click()
    page.wait_for_timeout(800)
    titles, _ = chinese_figures_and_headers(page, "Attributions · top words")
    assert any(t.startswith("按 |分数| 排前") for t in titles), titles
    shot(page, "52-attributions-top-words")
    page.get_by_role("tab", name=zh("Method comparison"), exact=True).click()
    run_and_wait(page, zh("Compare all methods"), "全部 8 种方法")
    _, headers = chinese_figures_and_headers(page, "Attributions · method comparison")
    assert {"方法", "用时"} <= set(headers), headers
    shot(page, "53-attributions-methods-table")
    # Image–text: the prediction's three steps, then the heads' table
    page.get_by_role("tab", name="图文", exact=True).click()
    run_and_wait(page, "查看", "最佳匹配")
    titles, _ = chinese_figures_and_headers(page, "Image–text")
    assert any("余弦" in t for t in titles), titles          # "1. 余弦(图像, 提示词)": a step's title
    shot(page, "54-image-text-prediction")
    page.get_by_role("tab", name=zh("Remove heads"), exact=True).click()
    page.wait_for_timeout(800)
    _, headers = chinese_figures_and_headers(page, "Image–text · remove heads")
    assert headers, "no Chinese table header on the Image–text tab"
    shot(page, "55-image-text-heads-table")
    # Dataset: the sample set run, its accuracy table and its faithfulness figure
    page.get_by_role("tab", name="数据集", exact=True).click()
    run_and_wait(page, zh("Run on every row"), "行中解释了", timeout=3 * MODEL_MS)
    _, headers = chinese_figures_and_headers(page, "Dataset · accuracy")
    assert {"切片", "准确率"} <= set(headers), headers
    shot(page, "56-dataset-accuracy-table")
    page.get_by_role("tab", name=zh("Faithfulness"), exact=True).click()
    page.wait_for_timeout(1200)
    titles, headers = chinese_figures_and_headers(page, "Dataset · faithfulness")
    assert titles and headers, (titles, headers)
    shot(page, "57-dataset-faithfulness")


# The drag layer of the first heatmap whose hover template the page received in Chinese.
HOVER_BOX_JS = """() => {
  const gd = [...document.querySelectorAll('.js-plotly-plot')].find(g => g.offsetParent !== null
    && (g.data || []).some(t => t.type === 'heatmap' && String(t.hovertemplate || '').startsWith('查询')));
  if (!gd) return null;
  gd.scrollIntoView({block: 'center'});
  const r = gd.querySelector('.nsewdrag').getBoundingClientRect();
  return {x: r.x + r.width / 2, y: r.y + r.height / 2};
}"""


def test_a_hover_tooltip_and_a_tables_headers_before_its_run_are_chinese(zh_page):
    """The head's heatmap shows its tooltip in Chinese when the mouse is over a cell (the
    tokens stay); the causal lab's table has Chinese headers before any scan."""
    page, _ = zh_page
    page.wait_for_function(f"() => ({HOVER_BOX_JS})() !== null", timeout=MODEL_MS)
    page.wait_for_timeout(800)
    box = page.evaluate(HOVER_BOX_JS)
    page.mouse.move(box["x"] - 5, box["y"] - 5)
    page.mouse.move(box["x"], box["y"], steps=4)
    page.wait_for_selector(".hoverlayer .hovertext", timeout=5_000)
    tip = page.locator(".hoverlayer .hovertext").first.text_content()
    assert "查询" in tip and "键" in tip and "权重" in tip, tip
    shot(page, "58-hover-tooltip")
    page.get_by_role("tab", name=zh("Causal lab"), exact=True).click()
    page.wait_for_timeout(800)
    _, headers = chinese_figures_and_headers(page, "Text · causal lab before a scan")
    assert "层" in headers, headers
    shot(page, "59-text-causal-lab-table-before-a-scan")
