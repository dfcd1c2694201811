"""The Attributions tab walked in Chromium as a person would: Attribute with the defaults,
every sub-tab, the word / token toggle, every method's sliders, the baseline and target
radios, Compare all methods (which opens its own sub-tab); then handled errors (no second
text for the similarity, a model that is not available offline, a target the model cannot
explain) that leave every result drawn and show no gradio "Error" pill; then a normal run.
The summary is two plain lines (no bfloat16, quadrature or budget internals: those are under a
closed Details toggle, as are the method's settings); after Compare all on other inputs the
single-method summary is marked as the previous run's."""
from __future__ import annotations

from browser_helpers import REDRAW_MS, Walk, walk_fixture

from mminspect import api

METHODS = api.list_attribution_methods()
MAP_DONE = "f(text) ="
# identifiers of the library that must not reach the page (people read the labels)
INTERNAL = [m["name"] for m in METHODS if "_" in m["name"]] + ["start_steps", "n_samples"]

walk = walk_fixture("attributions", "Attributions")


def spans(w: Walk) -> int:
    """Highlighted words (or tokens) in the visible map, both texts."""
    return w.panel.locator("[role=tabpanel]:visible span[title]").count()


def summary(w: Walk) -> str:
    return w.panel.locator("[data-testid=markdown]").filter(has_text=MAP_DONE).inner_text()


def no_internal_names(w: Walk) -> None:
    text = w.text() + " ".join(p["title"] for p in w.plots())
    leaked = [n for n in INTERNAL if n in text]
    assert not leaked, f"internal identifiers on the page: {leaked}"


def test_attributions_tab_walk(walk):
    w = walk
    w.assert_no_error_pill()
    w.shot("fresh page")

    # ---- Attribute with the defaults: Integrated Gradients, similarity, [PAD] baseline ----
    w.run("Attribute", done_text=MAP_DONE)
    assert w.message() == ""
    first = summary(w)
    assert first.startswith("Integrated Gradients on all-MiniLM-L6-v2"), first
    assert "Faithfulness: deletion area" in first and "add up to the change" in first
    for internal in ("bfloat16", "Gauss", "MMINSPECT_", "quadrature", "steps along the path"):
        assert internal not in w.text(), internal             # folded under Details
    details = "Details: baseline score, steps, precision, time budget"
    w.panel.get_by_text(details).click()
    w.wait_text("steps along the path", REDRAW_MS)
    w.shot("attribute defaults details opened")
    w.panel.get_by_text(details).click()
    w.page.wait_for_function("el => !el.innerText.includes('steps along the path')",
                             arg=w.panel.element_handle(), timeout=REDRAW_MS)
    words = spans(w)
    assert words >= 2 * 9, words                  # both texts, one span per word
    assert "lowers" in w.text() and "raises the target" in w.text()
    no_internal_names(w)
    w.shot("attribute defaults map")

    # ---- the word / token toggle redraws the maps (no model) ----
    w.panel.get_by_label("token", exact=True).check()
    w.page.wait_for_function(
        "([el, n]) => el.querySelectorAll('[role=tabpanel] span[title]').length > n",
        arg=[w.panel.element_handle(), words], timeout=REDRAW_MS)
    assert "[CLS]" in w.text()
    w.shot("map per token")
    w.panel.get_by_label("word", exact=True).check()
    w.page.wait_for_function(
        "([el, n]) => el.querySelectorAll('[role=tabpanel] span[title]').length === n",
        arg=[w.panel.element_handle(), words], timeout=REDRAW_MS)

    # ---- sub-tabs ----
    w.subtab("Top words")
    fig = w.wait_plot("p.types[0] === 'bar' && p.drawn")
    assert fig["title"].startswith("Top ") and "Integrated Gradients" in fig["title"], fig
    w.shot("top words")
    w.subtab("Deletion / insertion")
    fig = w.wait_plot("p.traces === 4 && p.drawn")
    assert "deletion area" in fig["title"] and "Integrated Gradients" in fig["title"], fig
    w.shot("deletion insertion")

    # ---- every method shows its own sliders; each slider takes a typed value ----
    w.panel.get_by_text("Settings of this method").click()         # folded by default
    for m in METHODS:
        w.pick("Method", m["label"])
        w.page.wait_for_function(
            "([el, d]) => el.innerText.includes(d)",
            arg=[w.panel.element_handle(), m["description"][:40]], timeout=REDRAW_MS)
        boxes = w.panel.locator("input[type=number]:visible")
        labels = [b.get_attribute("aria-label").removeprefix("number input for ")
                  for b in boxes.all()]
        assert len(labels) == len(m["params"]), (m["name"], labels)
        for label, p in zip(labels, m["params"]):
            value = p["low"] + p["step"] if p["step"] >= 1 else round(p["low"] + 2 * p["step"], 6)
            w.set_slider(label, value)
            assert abs(w.slider_value(label) - value) < 1e-9, (m["name"], label)
    w.shot("method sliders kernelshap")

    # ---- another method (a cheap one), the [MASK] baseline, the zero-shot target ----
    w.pick("Method", "Input × Gradient")
    w.panel.get_by_label("[MASK] tokens", exact=True).check()
    w.panel.get_by_label("Zero-shot score of one label against the others", exact=True).check()
    w.run("Attribute", done_text="Input × Gradient on all-MiniLM-L6-v2")
    text = summary(w)
    assert "zero-shot" in text.lower() or "animals" in text, text
    assert "[MASK]" in text, text                   # the baseline in words, not 'mask'
    assert w.message() == ""
    w.subtab("Map")
    no_internal_names(w)
    w.shot("input x gradient mask baseline zero shot")

    # ---- Compare all methods: opens "Method comparison" and fills its table ----
    w.panel.get_by_label("Cosine similarity to the second text", exact=True).check()
    w.panel.get_by_label("[PAD] tokens", exact=True).check()
    w.button("Compare all methods").click()
    tab = w.panel.get_by_role("tab", name="Method comparison", exact=True)
    w.page.wait_for_function("t => t.getAttribute('aria-selected') === 'true'",
                             arg=tab.element_handle(), timeout=REDRAW_MS)
    w.wait_text("methods in")
    w.settle()
    table = w.panel.locator("[role=tabpanel]:visible table")
    rows = table.locator("tr").all_inner_texts()
    assert len(rows) == 1 + len(METHODS), rows
    for m in METHODS:
        assert any(r.startswith(m["label"]) for r in rows), (m["label"], rows)
    no_internal_names(w)
    w.shot("compare all methods")
    before = table.inner_text()
    w.panel.get_by_label("token", exact=True).check()
    w.page.wait_for_function("([t, old]) => t.innerText !== old && t.innerText.includes('[CLS]')",
                             arg=[table.element_handle(), before], timeout=REDRAW_MS)
    w.shot("compare all methods per token")
    w.panel.get_by_label("word", exact=True).check()
    w.page.wait_for_function("([t, old]) => t.innerText === old",
                             arg=[table.element_handle(), before], timeout=REDRAW_MS)
    # the summary above described the zero-shot [MASK] map: marked as the previous run's
    assert "From the previous run" in w.text() and MAP_DONE not in w.text()
    w.shot("compare all marks the previous summary")
    w.run("Attribute", done_text=MAP_DONE)           # a map of these inputs: a summary again
    assert "From the previous run" not in w.text() and w.message() == ""

    # ---- handled errors: a message, no Error pill, every result still drawn ----
    table_text = w.panel.locator("[role=tabpanel]:visible table").inner_text()
    shown = summary(w)
    w.type_into("Second text (similarity)", "")
    w.run("Attribute")
    w.expect_message("Type a second text")
    assert summary(w) == shown
    assert w.panel.locator("[role=tabpanel]:visible table").inner_text() == table_text
    w.shot("error empty second text")

    w.close_toasts()
    w.run("Compare all methods")
    w.expect_message("Type a second text")
    assert w.panel.locator("[role=tabpanel]:visible table").inner_text() == table_text
    w.subtab("Map")
    assert spans(w) > 0 and summary(w) == shown
    w.shot("error empty second text compare")

    w.type_into("Second text (similarity)", "A kitten was lying on the rug.")
    w.panel.get_by_label("The model's own prediction (its class, [MASK] filler or next token)",
                         exact=True).check()
    w.close_toasts()
    w.run("Attribute")
    w.expect_message("sentence-embedding model with no prediction head")
    assert spans(w) > 0 and summary(w) == shown
    w.shot("error target the model cannot explain")

    w.panel.get_by_label("Cosine similarity to the second text", exact=True).check()
    w.pick("Model", "DistilBERT SST-2")
    w.close_toasts()
    w.run("Attribute")
    w.expect_message("not available offline")
    assert spans(w) > 0 and summary(w) == shown
    w.shot("error model not available offline")

    # ---- a normal run works again ----
    w.pick("Model", "all-MiniLM-L6-v2")
    w.pick("Method", "Saliency")
    w.close_toasts()
    w.run("Attribute", done_text="Saliency on all-MiniLM-L6-v2")
    assert w.message() == ""
    assert spans(w) >= 2 * 9
    w.assert_no_error_pill()
    w.shot("normal run again")


def test_attributions_tab_on_a_phone(app_url, request):
    """390 x 844: the summary without internals, Compare all's table scrolling inside its own
    box (the page no wider than the screen) and the agreement grids stacked, their columns
    headed by numbers, every one shown (no long names side by side to overlap)."""
    from phone_helpers import PHONE, open_tab, page_width, phone_walk
    with phone_walk(request, app_url, "attributions-phone", "Attributions") as w:
        w.pick("Method", "Saliency")
        w.run("Attribute", done_text=MAP_DONE)
        for internal in ("bfloat16", "Gauss", "MMINSPECT_", "steps along the path"):
            assert internal not in w.text(), internal
        w.shot("phone map")
        w.button("Compare all methods").click()
        w.wait_text("methods in")
        w.settle()
        open_tab(w.page, w.panel, "Method comparison")
        fig = w.wait_plot("p.types[0] === 'heatmap' && p.drawn")
        assert fig["traces"] == 2 and fig["x"] == [str(i) for i in range(1, len(METHODS) + 1)], fig
        ticks = w.page.evaluate("""() => [...document.querySelectorAll('.js-plotly-plot')]
            .filter(g => g.offsetParent).flatMap(g => [...g.querySelectorAll('.xtick text')])
            .map(t => t.textContent)""")
        assert sorted(set(ticks), key=int) == fig["x"], ticks          # none skipped
        assert page_width(w) <= PHONE["width"] + 1, page_width(w)
        w.assert_no_error_pill()
        w.page.locator(".js-plotly-plot:visible").last.scroll_into_view_if_needed()
        w.shot("phone compare all")
