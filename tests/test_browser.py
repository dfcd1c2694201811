"""A real browser (Playwright driving Debian's Chromium) opens the app, runs an inspection
and sees plotly heatmaps drawn."""
import os
import shutil

import pytest

CHROMIUM = os.environ.get("MMINSPECT_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def page(app_url):
    if not shutil.which(CHROMIUM):
        # Not a skip: the README's test command installs chromium, so its absence is a failure.
        pytest.fail(f"Chromium not found at {CHROMIUM}: run `apt-get install -y chromium` "
                    "(the README's test command does).")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        pg = browser.new_page(viewport={"width": 1400, "height": 1000})
        pg.goto(app_url)
        yield pg
        browser.close()


def test_inspection_draws_heatmaps_in_the_browser(page, tmp_path):
    page.get_by_role("button", name="Inspect").click()
    # plotly draws each heatmap as an <image> inside a .hm group once the figure is rendered
    page.wait_for_selector(".js-plotly-plot .hm image", timeout=60_000)
    assert page.locator(".js-plotly-plot .hm image").count() >= 6 * 12
    assert "Cosine similarity to the second text" in page.inner_text("body")
    page.get_by_role("tab", name="One head").click()
    page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length >= 2", timeout=30_000)
    page.screenshot(path=str(tmp_path / "text_tab.png"), full_page=True)


def test_attribution_tab_highlights_the_words_in_the_browser(page):
    page.get_by_role("tab", name="Attributions").click()
    page.get_by_role("button", name="Attribute").click()
    page.wait_for_function("document.body.innerText.includes('f(text) =')", timeout=120_000)
    body = page.inner_text("body")
    assert "lowers" in body and "raises" in body               # the colour legend is drawn
    assert page.locator("span[title]").count() >= 5             # one highlighted span per word


def test_image_text_tab_draws_the_prediction_and_the_maps(page, tmp_path):
    page.get_by_role("tab", name="Image–text").click()
    page.get_by_role("button", name="Inspect").last.click()
    page.wait_for_function("document.body.innerText.includes('best match')", timeout=120_000)
    # the step-by-step chart is a plotly bar chart: three sets of bars
    page.wait_for_selector(".js-plotly-plot .barlayer", timeout=30_000)
    page.get_by_role("tab", name="Why this label").click()
    page.wait_for_function("document.querySelectorAll('.grid-wrap img, .gallery img').length >= 5",
                           timeout=30_000)
    page.screenshot(path=str(tmp_path / "image_text_tab.png"), full_page=True)
    # the other panels draw from the same run: a contrast image, the attention image, the PCA
    for tab, selector in (("A rather than B", "img"), ("Attention over patches", "img"),
                          ("Embedding space", ".js-plotly-plot .scatterlayer")):
        page.get_by_role("tab", name=tab).click()
        panel = page.locator("[role=tabpanel]:visible").last
        panel.locator(selector).first.wait_for(state="visible", timeout=30_000)
