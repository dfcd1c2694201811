"""Every tab's link, copied from a page a visitor worked on ("Copy link to this view") and
opened in a new, separate browser context, in Chromium: the same layer, head, query, step,
sub-panel and picture come back."""
from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest

from browser_helpers import BUSY_JS, MODEL_MS, SHOTS, shared_browser
from test_browser_links import DONE, QUERY, closed_app, page, shot  # noqa: F401 - fixtures

# ---- every tab's link, copied from a page a visitor worked on, opened in a new context ------

@pytest.fixture
def fresh(request, closed_app):
    """A second, separate browser context (no shared storage): where a copied link is opened."""
    context = shared_browser(request.config).new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.base = closed_app
    yield pg
    context.close()


def copy_link(pg, tab: str) -> str:
    pg.get_by_role("button", name="Copy link to this view").filter(visible=True).click()
    return pg.wait_for_function(
        "t => [...document.querySelectorAll('textarea, input')].map(e => e.value)"
        ".find(v => v && v.includes('tab=' + t))", arg=tab, timeout=10_000).json_value()


def visible_panel(pg):
    return pg.locator("[role=tabpanel]:visible").first


def selected_subtabs(pg) -> list[str]:
    return [t.strip() for t in visible_panel(pg).locator("[role=tab][aria-selected=true]")
            .all_inner_texts()]


def plot_shot(pg, title_start: str, name: str):
    """The screenshot of the visible plotly figure whose title starts with `title_start`
    (waits for it), as a PIL image; saved as links-<name>.png for a person to compare."""
    from PIL import Image
    js = ("t => [...document.querySelectorAll('.js-plotly-plot')].find(gd => gd.offsetParent "
          "!== null && gd.layout && String((gd.layout.title && (gd.layout.title.text || "
          "gd.layout.title)) || '').startsWith(t))")
    pg.wait_for_function(js, arg=title_start, timeout=MODEL_MS)
    pg.mouse.move(0, 0)                          # no hover toolbar in the picture
    pg.wait_for_timeout(800)                                  # plotly's transitions end
    handle = pg.evaluate_handle(js, title_start).as_element()
    path = SHOTS / f"links-{name}.png"
    SHOTS.mkdir(parents=True, exist_ok=True)
    handle.screenshot(path=str(path))
    return Image.open(path).convert("RGB")


def same_picture(a, b) -> float:
    """Mean absolute pixel difference (0-255) of two screenshots of the same size. The same
    figure drawn twice differs by about 1 (a pixel row of layout); another head by far more."""
    assert a.size == b.size, (a.size, b.size)
    return float(np.abs(np.asarray(a, np.int16) - np.asarray(b, np.int16)).mean())


def test_a_text_link_copied_after_work_restores_layer_head_and_panel(page, fresh):
    pg = page
    pg.goto(pg.base)
    pg.wait_for_function("() => document.body.innerText.includes('The example was inspected')",
                         timeout=MODEL_MS)
    # the first view's own settling (its values are not the visitor's and write no link)
    pg.wait_for_function("() => !window.mmQuiet", timeout=10_000)
    panel = visible_panel(pg)
    for label, value in (("Layer", 4), ("Head", 6)):
        box = panel.get_by_label(f"number input for {label}")
        box.fill(str(value))
        box.press("Enter")
    panel.get_by_role("tab", name="One head", exact=True).click()
    before = plot_shot(pg, "Layer 4, head 6", "text-worked-on")
    link = copy_link(pg, "text")
    query = parse_qs(urlparse(link).query)
    assert query["layer"] == ["4"] and query["head"] == ["6"] and query["panel"] == ["onehead"]

    fresh.goto(link)
    after = plot_shot(fresh, "Layer 4, head 6", "text-reopened")
    assert "One head" in selected_subtabs(fresh)
    other = visible_panel(fresh)
    assert other.get_by_label("number input for Layer").input_value() == "4"
    assert other.get_by_label("number input for Head").input_value() == "6"
    assert same_picture(before, after) < 3.0
    shot(fresh, "text-reopened-page")


def test_an_attention_link_copied_after_work_restores_query_step_and_head(page, fresh):
    pg = page
    pg.goto(pg.base)
    pg.get_by_role("tab", name="How attention works").click()
    panel = visible_panel(pg)
    pg.wait_for_function("() => document.body.innerText.includes('layer 4, head 3 of 12')",
                         timeout=MODEL_MS)
    box = panel.get_by_label("number input for Head")
    box.fill("5")
    box.press("Enter")                                        # a new trace of head 5
    pg.wait_for_function("() => document.body.innerText.includes('layer 4, head 5 of 12')",
                         timeout=MODEL_MS)
    panel.get_by_label("Query token").click()
    pg.get_by_role("option").filter(has_text="cat (2)").first.click()
    panel.get_by_label("4 · q·k", exact=True).check()
    before = plot_shot(pg, "q·k for query “cat”", "attention-worked-on")
    link = copy_link(pg, "attention")
    query = parse_qs(urlparse(link).query)
    assert query["query"] == ["2"] and query["step"] == ["scores"] and query["head"] == ["5"]

    fresh.goto(link)
    after = plot_shot(fresh, "q·k for query “cat”", "attention-reopened")
    other = visible_panel(fresh)
    assert other.get_by_label("Query token").input_value() == "cat (2)"
    assert other.get_by_label("number input for Head").input_value() == "5"
    assert other.get_by_label("4 · q·k", exact=True).is_checked()
    assert same_picture(before, after) < 3.0
    shot(fresh, "attention-reopened-page")


def test_an_attributions_link_copied_after_work_restores_its_sub_panel(page, fresh):
    pg = page
    pg.goto(pg.base + QUERY["attributions"])
    pg.wait_for_function(f"() => document.body.innerText.includes({DONE['attributions']!r})",
                         timeout=MODEL_MS)
    visible_panel(pg).get_by_role("tab", name="Top words", exact=True).click()
    pg.wait_for_function("() => location.search.includes('panel=bar')", timeout=10_000)
    before = plot_shot(pg, "", "attributions-worked-on")
    link = copy_link(pg, "attributions")
    assert parse_qs(urlparse(link).query)["panel"] == ["bar"]

    fresh.goto(link)
    fresh.wait_for_function(f"() => document.body.innerText.includes({DONE['attributions']!r})",
                            timeout=MODEL_MS)
    assert selected_subtabs(fresh) == ["Top words"], selected_subtabs(fresh)
    after = plot_shot(fresh, "", "attributions-reopened")
    assert same_picture(before, after) < 3.0
    shot(fresh, "attributions-reopened-page")
    # back on the Map, the link forgets the sub-panel (the default is not written)
    visible_panel(fresh).get_by_role("tab", name="Map", exact=True).click()
    fresh.wait_for_function("() => !location.search.includes('panel=')", timeout=10_000)


def test_an_image_link_copied_after_work_restores_example_prompts_and_view(page, fresh):
    pg = page
    pg.goto(pg.base)
    pg.get_by_role("tab", name="Image–text").click()
    pg.wait_for_function("() => document.body.innerText.includes('best match:')", timeout=MODEL_MS)
    pg.wait_for_function(f"() => !({BUSY_JS})()", timeout=MODEL_MS)
    panel = visible_panel(pg)
    example = panel.get_by_label("Example", exact=True).input_value()
    prompts = panel.get_by_label("Prompts, one per line").input_value()
    tabs = [t.strip() for t in panel.get_by_role("tab").all_inner_texts()]
    second = tabs[1]
    panel.get_by_role("tab", name=second, exact=True).click()
    pg.wait_for_timeout(500)
    link = copy_link(pg, "image-text")
    shot(pg, "image-worked-on")

    fresh.goto(link)
    fresh.wait_for_function("() => document.body.innerText.includes('best match:')",
                            timeout=MODEL_MS)
    fresh.wait_for_function(f"() => !({BUSY_JS})()", timeout=MODEL_MS)
    other = visible_panel(fresh)
    assert other.get_by_label("Example", exact=True).input_value() == example
    assert other.get_by_label("Prompts, one per line").input_value() == prompts
    assert second in selected_subtabs(fresh), selected_subtabs(fresh)
    shot(fresh, "image-reopened-page")


def test_a_method_comparison_link_reopens_the_comparison(page, fresh):
    """"Compare all methods" switches to its sub-panel by itself (no click on the tab): the
    link still records it, and opening the link runs the comparison, not one method."""
    pg = page
    pg.goto(pg.base + QUERY["attributions"])
    pg.wait_for_function(f"() => document.body.innerText.includes({DONE['attributions']!r})",
                         timeout=MODEL_MS)
    pg.get_by_role("button", name="Compare all methods").click()
    pg.wait_for_function("() => location.search.includes('panel=compare')", timeout=10_000)
    table = "() => [...document.querySelectorAll('table')].some(t => t.offsetParent !== null && t.innerText.includes('Saliency'))"
    pg.wait_for_function(table, timeout=MODEL_MS)
    link = copy_link(pg, "attributions")
    shot(pg, "comparison-worked-on")

    fresh.goto(link)
    fresh.wait_for_function(table, timeout=MODEL_MS)
    assert selected_subtabs(fresh) == ["Method comparison"], selected_subtabs(fresh)
    shot(fresh, "comparison-reopened-page")
