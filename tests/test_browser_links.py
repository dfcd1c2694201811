"""Links, exports and reports as a visitor uses them, in Chromium: a link opened in a fresh
page draws the same view; working on a tab writes the link into the address bar, and "Copy
link" gives it; a tampered link opens the app with a clear message and runs nothing; "Save
numbers" gives a JSON file that reads back as the result; "Save report" an offline page."""
from __future__ import annotations

import dataclasses
import json
from urllib.parse import parse_qs, urlencode, urlparse

import numpy as np
import pytest

import mminspect as mi
from mminspect.ui.attribution_tab import LINK as ATTRIBUTIONS_LINK
from browser_helpers import BUSY_JS, MODEL_MS, SHOTS, shared_browser
from conftest import free_port

QUERY = {"attributions": "?tab=attributions&model=minilm&text=The+dog+barked+loudly.&target=similarity"
                         "&compare=A+cat+meowed.&method=saliency&baseline=mask&level=token"}
DONE = {"attributions": "f(text) ="}


@pytest.fixture(scope="module")
def closed_app():
    """The app as a public host runs it: custom models off."""
    from mminspect.ui import build_app, launch_kwargs
    from mminspect.ui.context import default_context
    demo = build_app(dataclasses.replace(default_context(), allow_custom_models=False))
    port = free_port()
    demo.launch(**launch_kwargs(port), prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    demo.close()


@pytest.fixture
def page(request, closed_app):
    context = shared_browser(request.config).new_context(viewport={"width": 1400, "height": 1000},
                                                        accept_downloads=True)
    pg = context.new_page()
    pg.base = closed_app
    yield pg
    context.close()


def shot(pg, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(SHOTS / f"links-{name}.png"), full_page=True)


def messages(pg) -> str:
    return " ".join(t.strip() for t in pg.locator(".mm-message").all_inner_texts())


def no_error_pill(pg):
    assert pg.locator('[data-testid="status-tracker"] .error').count() == 0


def watch_queue_events(pg) -> list:
    """Every event this page asks the server's queue to run, as it is sent (gradio POSTs each
    one to /gradio_api/queue/join with its fn_index): the public endpoint's name (the model
    events: attribute_text, inspect_text, ...) or None for the app's private ones (a link's
    own load events)."""
    deps = pg.request.get(pg.base + "config").json()["dependencies"]
    public = {d["id"]: d["api_name"] for d in deps if d.get("api_visibility") == "public"}
    assert "attribute_text" in public.values()              # the map below is the real one
    seen = []

    def on_request(req):
        if req.method == "POST" and urlparse(req.url).path.endswith("/queue/join"):
            seen.append(public.get((req.post_data_json or {}).get("fn_index")))
    pg.on("request", on_request)
    return seen


def test_an_attributions_link_draws_the_same_view_and_copy_link_gives_it_back(page):
    pg = page
    pg.goto(pg.base + QUERY["attributions"])
    pg.wait_for_function(f"() => document.body.innerText.includes({DONE['attributions']!r})",
                         timeout=MODEL_MS)
    panel = pg.locator("[role=tabpanel]:visible").first
    assert panel.get_by_label("token", exact=True).is_checked()          # level from the link
    assert panel.get_by_label("[MASK] tokens", exact=True).is_checked()  # baseline
    text = panel.inner_text()
    assert panel.get_by_label("Second text (similarity)").input_value() == "A cat meowed."
    assert "meowed" in text and "[MASK] tokens" in text                  # the summary says so
    assert panel.locator("span[title]").count() >= 7                       # the token map
    no_error_pill(pg)
    shot(pg, "attributions-opened")
    # the same numbers as the library gives for the same call
    attr = mi.attribute_text(mi.load("minilm"), "The dog barked loudly.", method="saliency",
                             compare_to="A cat meowed.", baseline="mask")
    assert f"{attr.target_value:.4f}" in text

    # working on the tab rewrites the address; Copy link hands it over
    panel.get_by_label("word", exact=True).check()
    pg.wait_for_function("() => location.search.includes('level=word')", timeout=10_000)
    pg.get_by_role("button", name="Copy link to this view").click()
    link = pg.wait_for_function("() => [...document.querySelectorAll('textarea, input')]"
                                ".map(e => e.value).find(v => v && v.includes('tab=attributions'))",
                                timeout=10_000).json_value()
    assert link.startswith(pg.base) and link == pg.url
    query = parse_qs(urlparse(link).query)
    assert query["method"] == ["saliency"] and query["level"] == ["word"]
    assert query["text"] == ["The dog barked loudly."]
    assert not any("." in k for k in query)           # method parameters at their defaults

    # a method parameter changed by hand goes into the link, and a link sets it
    pg.goto(pg.base + QUERY["attributions"].replace("saliency", "occlusion") + "&occlusion.window=2")
    pg.wait_for_function(f"() => document.body.innerText.includes({DONE['attributions']!r})",
                         timeout=MODEL_MS)
    panel = pg.locator("[role=tabpanel]:visible").first
    panel.get_by_text("Settings of this method").click()        # the sliders are folded
    assert panel.get_by_label("number input for Window size").input_value() == "2"
    assert "occlusion.window=2" in pg.url                  # not the default (3): kept
    # the link's own run may still be updating the panel (its values would overwrite a number
    # typed now): wait until every event has settled, then type
    pg.wait_for_function(f"() => !({BUSY_JS})()", timeout=MODEL_MS)
    panel.get_by_label("number input for Window size").fill("3")
    panel.get_by_label("number input for Window size").press("Enter")
    panel.get_by_label("number input for Window size").press("Tab")     # commit, as a user would
    pg.wait_for_function("() => !location.search.includes('occlusion.window')", timeout=10_000)


PLOTS_TITLES = """() => [...document.querySelectorAll('.js-plotly-plot')]
  .filter(gd => gd.offsetParent !== null && gd.layout)
  .map(gd => (gd.layout.title && (gd.layout.title.text || gd.layout.title)) || '')"""


def test_a_text_link_opens_the_layer_head_and_panel_it_names(page):
    pg = page
    pg.goto(pg.base + "?tab=text&model=minilm&text=The+dog+barked+loudly.&compare=A+cat+meowed."
                      "&layer=3&head=5&panel=onehead&hide=true")
    pg.wait_for_function("() => document.body.innerText.includes('Cosine similarity to the second text')",
                         timeout=MODEL_MS)
    pg.wait_for_function(f"() => ({PLOTS_TITLES})().some(t => String(t).startsWith('Layer 3, head 5'))",
                         timeout=60_000)
    titles = pg.evaluate(PLOTS_TITLES)
    assert any("special tokens hidden" in str(t) for t in titles), titles
    panel = pg.locator("[role=tabpanel]:visible").first
    assert panel.get_by_role("tab", name="One head", exact=True).get_attribute("aria-selected") == "true"
    assert panel.get_by_label("Text", exact=True).input_value() == "The dog barked loudly."
    view = mi.inspect_text(mi.load("minilm"), "The dog barked loudly.", compare_to="A cat meowed.")
    assert f"{view.prediction.similarity:.3f}" in panel.inner_text()
    no_error_pill(pg)
    shot(pg, "text-opened")
    # a sub-tab opened by hand goes into the link
    panel.get_by_role("tab", name="Head summary", exact=True).click()
    pg.wait_for_function("() => location.search.includes('panel=stats')", timeout=10_000)
    assert "layer=3" in pg.url and "head=5" in pg.url


def test_an_image_link_loads_the_example_by_name_and_keeps_its_own_prompts(page):
    pg = page
    ex = mi.list_examples()[2]
    pg.goto(pg.base + "?" + urlencode({"tab": "image-text", "model": "miniclip", "example": ex,
                                       "prompts": "a blue circle\na red cross\na green star",
                                       "view": "prediction"}))
    pg.wait_for_function("() => document.body.innerText.includes('best match')", timeout=MODEL_MS)
    panel = pg.locator("[role=tabpanel]:visible").first
    text = panel.inner_text()
    clip = mi.load("miniclip")
    view = mi.inspect_clip(clip, mi.load_example(ex).image, ["a blue circle", "a red cross", "a green star"])
    assert f"best match: {view.top(0)}" in text
    assert panel.get_by_label("Prompts, one per line").input_value() == "a blue circle\na red cross\na green star"
    no_error_pill(pg)
    shot(pg, "image-opened")


def test_an_attention_link_traces_the_head_and_opens_the_step(page):
    pg = page
    pg.goto(pg.base + "?tab=attention&model=minilm&text=The+cat+sat+on+the+mat.&layer=2&head=7"
                      "&step=softmax")
    pg.wait_for_function("() => document.body.innerText.includes(\"This is the model's own computation\")",
                         timeout=MODEL_MS)
    panel = pg.locator("[role=tabpanel]:visible").first
    assert panel.get_by_label("number input for Layer").input_value() == "2"
    assert panel.get_by_label("number input for Head").input_value() == "7"
    checked = " ".join(panel.locator("label:has(input[type=radio]:checked)").all_inner_texts())
    assert "softmax" in checked.lower(), checked
    tr = mi.trace_head(mi.load("minilm"), "The cat sat on the mat.", layer=2, head=7)
    assert f"{tr.max_error:.1e}".split("e")[0] in panel.inner_text()
    no_error_pill(pg)
    shot(pg, "attention-opened")
    # the trace saves as JSON that reads back as the same HeadTrace
    pg.get_by_role("button", name="Save numbers (JSON)").click()
    link = panel.locator("a[download][href*='.json']")
    link.wait_for(timeout=60_000)
    with pg.expect_download() as dl:
        link.click()
    back = mi.load_result(dl.value.path())
    assert (back.layer, back.head) == (2, 7)
    np.testing.assert_allclose(back.weights, tr.weights, atol=1e-6)


def test_a_lesson_link_opens_the_lesson(page):
    pg = page
    title = mi.api.list_lessons()[1].title
    pg.goto(pg.base + "?" + urlencode({"tab": "lessons", "lesson": title}))
    question = mi.api.get_lesson(title).question
    words = getattr(question, "text", str(question))[:30]
    pg.wait_for_function("(w) => document.body.innerText.includes(w)", arg=words, timeout=MODEL_MS)
    no_error_pill(pg)
    shot(pg, "lesson-opened")
    pg.goto(pg.base + "?" + urlencode({"tab": "lessons", "lesson": "No such lesson"}))
    pg.wait_for_function("() => [...document.querySelectorAll('.mm-message')]"
                         ".some(e => e.innerText.includes('is not one of'))", timeout=60_000)


def test_save_numbers_and_save_report_give_files_that_read_back(page, tmp_path):
    pg = page
    pg.goto(pg.base + QUERY["attributions"])
    pg.wait_for_function(f"() => document.body.innerText.includes({DONE['attributions']!r})",
                         timeout=MODEL_MS)
    panel = pg.locator("[role=tabpanel]:visible").first
    files = {}
    for button, suffix in (("Save numbers (JSON)", ".json"), ("Save report (HTML, opens offline)", ".html")):
        pg.get_by_role("button", name=button).click()
        link = panel.locator(f"a[download][href*='{suffix}']")
        link.wait_for(timeout=60_000)
        with pg.expect_download() as dl:
            link.click()
        files[suffix] = tmp_path / f"export{suffix}"
        dl.value.save_as(files[suffix])
    shot(pg, "attributions-exports")
    back = mi.load_result(files[".json"])
    assert back.method == "saliency" and back.baseline == "mask"
    direct = mi.attribute_text(mi.load("minilm"), "The dog barked loudly.", method="saliency",
                               compare_to="A cat meowed.", baseline="mask")
    np.testing.assert_allclose(back.scores, direct.scores, atol=1e-5)
    assert json.loads(files[".json"].read_text())["format"] == "mminspect-result/1"
    html = files[".html"].read_text()
    assert "<script" in html and "Reproduce it" in html
    body = html[html.index("</head>"):]                     # past the inlined plotly.js
    # the report names the method and baseline it shows, in its facts table and its code
    assert "<th>method</th><td>saliency</td>" in body
    assert "method=&#x27;saliency&#x27;, baseline=&#x27;mask&#x27;" in body


def test_a_text_link_beyond_the_model_shows_its_last_head_and_says_so(page):
    """Layer 9 on a 6-layer model: the run draws the last layer and head and says where it
    showed them (the slider's own range check used to answer with an error pill)."""
    pg = page
    pg.goto(pg.base + "?tab=text&model=minilm&text=The+dog+barked.&layer=9&head=20&panel=onehead")
    pg.wait_for_function("() => document.body.innerText.includes('is beyond this model')",
                         timeout=MODEL_MS)
    # the note comes with the link at once; the figure after the model ran (late when busy)
    pg.wait_for_function(f"() => ({PLOTS_TITLES})().some(t => String(t).startsWith('Layer 5, head 11'))",
                         timeout=MODEL_MS)
    assert "showing layer 5, head 11" in pg.locator("body").inner_text()
    no_error_pill(pg)
    shot(pg, "text-beyond-the-model")


@pytest.mark.parametrize("query, words", [
    ("?tab=attributions&model=/etc&text=Hi", "does not offer"),
    ("?tab=attributions&method=zzz", "is not one of"),
    ("?tab=attributions&text=" + "x" * 31000, "longer than"),
])
def test_a_tampered_link_opens_the_app_with_a_message_and_runs_nothing(page, query, words):
    pg = page
    events = watch_queue_events(pg)
    pg.goto(pg.base + query)
    pg.wait_for_function("(w) => [...document.querySelectorAll('.mm-message')]"
                         ".some(e => e.innerText.includes(w))", arg=words, timeout=60_000)
    assert "Opened from a link, except" in messages(pg)
    # a clean link presses the tab's button once it is drawn (links.PRESS_RUN_JS), and the
    # press posts its event at once: watch a while after the button is there
    pg.locator(f"#{ATTRIBUTIONS_LINK.run_button}").wait_for(state="visible", timeout=60_000)
    pg.wait_for_timeout(4000)
    assert events, "the page's own link event was not seen: the watch sees nothing"
    assert [name for name in events if name] == []         # no model endpoint was asked
    assert "f(text) =" not in pg.locator("body").inner_text()
    no_error_pill(pg)
    shot(pg, "tampered-" + words.split()[0])


def test_a_link_to_no_tab_says_so(page):
    pg = page
    pg.goto(pg.base + "?tab=nosuch&model=minilm")
    pg.wait_for_selector('[data-testid="toast-body"]', timeout=30_000)
    assert "names no tab" in pg.locator('[data-testid="toast-body"]').first.inner_text()
    no_error_pill(pg)
