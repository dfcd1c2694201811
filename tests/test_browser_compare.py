"""The Compare A/B panels walked in Chromium as a person would, each on a fresh page and
after a handled error.

Text tab: no text B and a slider before any comparison (handled errors), a minimal pair picked
(fills A, B and the labels), Compare, a head opened from the "most changed" list, both sliders;
model B = A with its last layers random; an empty B after results keeps the figure and the
list, and a head picked after it still opens. Attributions tab: the same explanation for text
B (Saliency), then model B random, with an error between. Image–text tab: nothing differing (a
handled error), the world scene without one object, a prompt's maps, a broken upload for
image B after results, then model B = mini-CLIP.
"""
from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

import mminspect as mi
from browser_helpers import Walk, walk_fixture

MSG = ".mm-cmp-message"
B = "Text B"
HEADS = "#cmp-heads label"

AMSG = ".mm-acmp-message"                 # the Attributions tab's compare message line
IMSG = ".mm-icmp-message"                 # the Image–text tab's

walk = walk_fixture("compare", "Text")
attr_walk = walk_fixture("compare-attr", "Attributions")
image_walk = walk_fixture("compare-image", "Image–text")


def open_panel(w: Walk, accordion: str, button: str, error: str, where: str):
    """Open the Compare accordion on a fresh page, press its button before anything is set
    (a handled error: `error` in the panel's message line), and return the button."""
    w.panel.get_by_text(accordion, exact=False).first.click()
    run = w.button(button)
    run.wait_for()
    w.assert_no_error_pill()
    w.shot("fresh page")
    run.click()
    w.expect_message(error, where=where)
    w.shot("error before compare")
    w.close_toasts()
    return run


def compare_plot(w: Walk, head_text: str) -> dict:
    """The side-by-side figure once its first panel's caption names `head_text`."""
    return w.wait_plot(f"p.types.length === 3 && p.annotations.length === 3 && "
                       f"p.annotations[0].includes({head_text!r})")


def test_compare_walk(walk):
    w = walk
    w.panel.get_by_text("Compare A/B: a second text or model", exact=False).first.click()
    w.button("Compare A and B").wait_for()
    w.assert_no_error_pill()
    w.shot("fresh page")

    # ---- handled errors before any comparison ----
    w.button("Compare A and B").click()
    w.expect_message("Type a text B", where=MSG)
    w.close_toasts()
    w.set_slider("Compared layer (of A)", 2)
    w.expect_message("Press Compare first", where=MSG)
    w.shot("errors before compare")
    w.close_toasts()

    # ---- a minimal pair fills both texts and the labels ----
    w.pick("Minimal pair (fills A, B and the labels)", "negation")
    w.wait_text("One inserted word flips the meaning")
    assert w.page.get_by_label("Text", exact=True).input_value() == "The movie was good."
    assert w.textbox(B).input_value() == "The movie was not good."

    # ---- compare: the summary, the list of heads, three heatmaps on the aligned tokens ----
    w.run("Compare A and B", done_text="Aligned tokens")
    assert w.message(MSG) == ""
    expected = mi.compare_texts("minilm", *mi.minimal_pair("negation"),
                                labels=["a positive review", "a negative review"])
    layer, head, js = expected.top_heads[0]
    text = w.text()
    assert "edits: 1 (+not)" in text and "P(a positive review)" in text, text
    fig = compare_plot(w, f"layer {layer}, head {head}")
    assert "+not" in fig["x"] and f"{js:.3f} nats" in fig["title"]
    assert w.slider_value("Compared layer (of A)") == layer and w.slider_value("Compared head") == head
    assert w.page.locator(HEADS).count() == 5
    w.assert_no_error_pill()
    w.shot("negation compared")
    link = parse_qs(urlsplit(w.page.url).query)          # the address carries both sides
    assert link["b"] == ["The movie was not good."] and link["text"] == ["The movie was good."]

    # ---- open the second most changed head from the list, then step the sliders ----
    l2, h2, _ = expected.top_heads[1]
    w.page.locator(HEADS).nth(1).click()
    compare_plot(w, f"layer {l2}, head {h2}")
    assert w.slider_value("Compared layer (of A)") == l2 and w.slider_value("Compared head") == h2
    w.shot("second head opened")
    w.set_slider("Compared head", 0 if h2 else 1)
    compare_plot(w, f"layer {l2}, head {0 if h2 else 1}")
    w.set_slider("Compared layer (of A)", 0 if l2 else 1)
    compare_plot(w, f"layer {0 if l2 else 1}, head")

    # ---- model B: the same model with its last layers random, on the same text ----
    w.pick("Model B", "last 2 layers random")
    w.type_into(B, "The movie was good.")
    w.run("Compare A and B", done_text="last 2 layers random")
    text = w.text()
    assert "edits: 0" in text and "L5" in text, text
    w.wait_plot("p.title.startsWith('How much each head')")
    w.shot("random model b")

    # ---- a handled error after results: everything drawn stays, the list still works ----
    w.type_into(B, "")
    w.button("Compare A and B").click()
    w.expect_message("Type a text B", where=MSG)
    assert "last 2 layers random" in w.text()
    w.shot("error after results")
    w.close_toasts()
    w.page.locator(HEADS).nth(2).click()
    w.page.wait_for_function(f"() => !document.querySelector('{MSG}').innerText.includes('⚠️')")
    w.wait_plot("p.types.length === 3")
    w.assert_no_error_pill()
    w.shot("head after error")



def test_attribution_compare_walk(attr_walk):
    w = attr_walk
    run = open_panel(w, "Compare A/B: the same explanation", "Compare the maps of A and B",
                     "Type a text B", AMSG)                   # no text B yet

    w.pick("Method", "Saliency")
    w.type_into("Text to explain", "The movie was good.")
    w.type_into("Text B (to explain the same way)", "The movie was not good.")
    w.run("Compare the maps of A and B", done_text="Aligned words")
    assert w.message(AMSG) == ""
    text = w.text()
    assert "edits: 1 (+not)" in text and "Largest change" in text, text
    fig = w.wait_plot("p.title.startsWith('Attribution per aligned word')")
    assert fig["traces"] == 3 and "+not" in fig["x"]
    w.assert_no_error_pill()
    w.shot("negation maps compared")

    # a handled error after results (text B emptied): the summary and the figure stay
    w.pick("Model B", "last 2 layers random")
    w.type_into("Text B (to explain the same way)", "")
    run.click()
    w.expect_message("Type a text B", where=AMSG)
    assert "edits: 1 (+not)" in w.text()
    w.wait_plot("p.title.startsWith('Attribution per aligned word')")
    w.shot("error after results")
    w.close_toasts()
    w.type_into("Text B (to explain the same way)", "The movie was good.")
    w.run("Compare the maps of A and B", done_text="last 2 layers random")
    assert "edits: 0" in w.text()
    w.assert_no_error_pill()
    w.shot("random model b")



def test_image_compare_walk(image_walk):
    w = image_walk
    # nothing differs yet (same image, same model): a handled error
    open_panel(w, "Compare A/B: a second image or model", "Compare A and B",
               "Give B something to differ in", IMSG)

    w.button("Scene without one object (sets A and B)").click()
    w.wait_text("Image B is image A without the")
    w.type_into("Prompts, one per line", "a red star\na maple leaf\nan orange circle\na helicopter")
    w.run("Compare A and B", done_text="Aligned tokens")
    assert w.message(IMSG) == ""
    assert "P(" in w.text()
    w.wait_plot("p.title.startsWith('Relevance of “a red star”')")
    w.wait_plot("p.title.startsWith('How much each head')")
    w.wait_plot("p.title.startsWith('Attention distance')")
    w.assert_no_error_pill()
    w.shot("object removed compared")
    w.pick("Prompt whose relevance maps to compare", "a maple leaf")
    w.wait_plot("p.title.startsWith('Relevance of “a maple leaf”')")

    # a handled error after results: a broken upload for image B keeps the comparison drawn
    block = w.panel.locator(".block").filter(
        has=w.page.locator("[data-testid=block-label]:text-is('Upload image B')"))
    block.locator("input[type=file]").set_input_files(
        files=[{"name": "broken.png", "mimeType": "image/png", "buffer": b"not an image"}])
    w.expect_message("image B", where=IMSG)
    w.wait_plot("p.title.startsWith('Relevance of “a maple leaf”')")
    w.shot("error after results")
    w.close_toasts()
    w.pick("Model B", "mini-CLIP ·")
    w.run("Compare A and B", done_text="Aligned tokens")
    w.wait_plot("p.title.startsWith('How much each head')")
    w.assert_no_error_pill()
    w.shot("two models")


def test_a_link_with_text_b_opens_the_comparison(walk):
    w = walk
    base = w.page.url.split("?")[0]
    w.page.goto(base + "?" + urlencode({"tab": "text", "text": "The cat sits on the mat.",
                                        "b": "The cats sit on the mat.", "model_b": "@random"}))
    w.wait_text("Aligned tokens")                 # the panel opened and Compare was pressed
    text = w.text()
    assert "cat→cats" in text and "last 2 layers random" in text, text
    w.wait_plot("p.types.length === 3 && p.annotations.length === 3")
    w.assert_no_error_pill()
    w.shot("opened from a link")
    # a refused field: the link opens with a message and nothing runs (opened in a new page:
    # a second navigation of the same page can race the message line with the page's own
    # first events, which is not what this checks)
    w.page.close()
    w.page = w.context.new_page()
    w.panel = w.page.locator("[role=tabpanel]:visible").first
    w.page.goto(base + "?" + urlencode({"tab": "text", "b": "x", "model_b": "no-such-model"}))
    w.page.get_by_text("Opened from a link, except").first.wait_for(timeout=60_000)
    w.page.wait_for_timeout(1500)
    assert "Aligned tokens" not in w.text()
    w.assert_no_error_pill()


def _open_link(w: Walk, base: str, title: str, **query) -> None:
    """Open a link and wait until it selected its tab (the walk's panel is that tab's)."""
    w.page.goto(base + "?" + urlencode(query))
    w.page.get_by_role("tab", name=title, exact=True, selected=True).wait_for(timeout=60_000)


def _saved_report(w: Walk, tmp_path) -> str:
    """Press Save report and read the page it gives (after the first `</head>`: past plotly.js)."""
    w.button("Save report (HTML, opens offline)").click()
    link = w.panel.locator("a[download][href*='.html']")
    link.wait_for(timeout=60_000)
    with w.page.expect_download() as dl:
        link.click()
    dl.value.save_as(tmp_path / "report.html")
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    return page[page.index("</head>"):]


def test_a_link_to_the_attribution_comparison_and_its_report(attr_walk, tmp_path):
    w = attr_walk
    base = w.page.url.split("?")[0]
    _open_link(w, base, "Attributions", tab="attributions", b="x", model_b="nope")
    w.wait_text("Opened from a link, except")         # a refused field: nothing is run
    assert "Aligned words" not in w.text()
    w.assert_no_error_pill()
    w.shot("refused link")
    _open_link(w, base, "Attributions", tab="attributions", method="saliency",
               text="The movie was good.", b="The movie <b>was</b> not good.")
    w.wait_text("Aligned words")                      # the panel opened and its button pressed
    assert "Largest change" in w.text()
    w.wait_plot("p.title.startsWith('Attribution per aligned word')")
    w.assert_no_error_pill()
    w.shot("opened from a link")
    page = _saved_report(w, tmp_path)                 # the comparison on screen: both sides
    assert "Attribution per aligned word" in page and "The movie was good." in page
    assert "The movie &lt;b&gt;was&lt;/b&gt; not good." in page and "<b>was</b>" not in page


def test_a_link_to_the_image_comparison(image_walk):
    w = image_walk
    base = w.page.url.split("?")[0]
    w.panel.get_by_text("Compare A/B: a second image or model", exact=False).first.click()
    w.button("Scene without one object (sets A and B)").click()   # fresh page: the URL says so
    w.page.wait_for_function("() => location.search.includes('scene=0%2C1')")
    _open_link(w, base, "Image–text", tab="image-text", scene="0,x")
    w.wait_text("“scene” must be two whole numbers")  # a handled error: nothing is run
    w.assert_no_error_pill()
    w.shot("refused scene")
    _open_link(w, base, "Image–text", tab="image-text", scene="0,1", model_b="miniclip",
               prompts="a red star\nan orange circle")
    w.wait_text("Aligned tokens")
    text = w.text()
    assert "Image B is image A without the red star" in text and "P(" in text, text
    w.wait_plot("p.title.startsWith('How much each head')")
    w.assert_no_error_pill()
    w.shot("opened from a link")
