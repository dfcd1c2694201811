"""The "Can I trust this map?" parts of the Attributions tab, walked in Chromium: the caveat
line under a map, the agreement matrix after "Compare all methods", the sanity check run on
demand (its curve and verdict), then a handled error (no method chosen) that leaves the
curve and its summary drawn with no gradio "Error" pill; the shipped table is on the panel.
The Image–text tab's panel (folded under "Every method"), on a fresh page: the tab's first view
is drawn on opening, so the check runs on it at once (the curve), then with no method (a handled
error: the curve stays); the panel pressed on a page whose first view was not drawn yet says
"Press Inspect first" (handler test)."""
from __future__ import annotations

from browser_helpers import REDRAW_MS, walk_fixture

walk = walk_fixture("trust", "Attributions")
walk_image = walk_fixture("trust-image", "Image–text")
IMAGE_MESSAGE = ".mm-isanity-message"
IMAGE_BUTTON = "Run the image sanity check"
MAP_DONE = "f(text) ="


def caveat_line(w) -> str:
    return w.panel.locator(".mm-caveats").first.inner_text()


def test_trust_panel_walk(walk):
    w = walk
    w.assert_no_error_pill()

    # ---- a map comes with its caveat line (computed from its own numbers) ----
    w.pick("Method", "GradientSHAP")
    w.run("Attribute", done_text="GradientSHAP on all-MiniLM-L6-v2")
    line = caveat_line(w)
    assert "No caveat" in line or "⚠" in line, line
    w.shot("map with its caveat line")

    # ---- Compare all methods: the agreement matrix under the table ----
    w.button("Compare all methods").click()
    w.wait_text("methods in")
    w.settle()
    fig = w.wait_plot("p.types[0] === 'heatmap' && p.drawn")
    assert fig["traces"] == 2 and fig["zrows"] == 8, fig
    assert fig["title"].startswith("Where methods agree"), fig
    for row in w.panel.locator("[role=tabpanel]:visible table tr").all_inner_texts()[1:]:
        cells = row.split("\t")           # a negative deletion area comes with its badge
        badge = "Worse than a random order" in row or "from the curve's tail" in row
        assert (float(cells[4]) < 0) == badge, row
    w.page.locator(".js-plotly-plot:visible").last.scroll_into_view_if_needed()
    w.shot("agreement matrix")

    # ---- the panel: the shipped table, then a sanity check of one fast method ----
    w.subtab("Can I trust this map?")
    table = w.panel.locator("[role=tabpanel]:visible table")
    rows = table.locator("tr").all_inner_texts()
    assert len(rows) >= 1 + 8, rows                       # every text method on minilm
    assert any(r.startswith("minilm") for r in rows), rows
    for name in ("Integrated Gradients", "Input × Gradient"):
        w.panel.get_by_label(name, exact=True).uncheck()
    w.run("Run the sanity check", done_text="score")
    assert w.message() == ""
    fig = w.wait_plot("p.traces === 1 && p.drawn")
    assert fig["title"].startswith("Sanity check"), fig
    assert fig["x"] == [str(k) for k in range(7)], fig    # trained + 6 blocks random
    summary = w.panel.locator("[data-testid=markdown]").filter(has_text="threshold").inner_text()
    assert "Saliency" in summary and ("passes" in summary or "fails" in summary), summary
    w.assert_no_error_pill()
    w.shot("sanity check saliency")

    # ---- a handled error: no method chosen; the curve and the summary stay ----
    w.panel.get_by_label("Saliency", exact=True).uncheck()
    w.close_toasts()
    w.run("Run the sanity check")
    w.expect_message("Choose at least one method")
    assert w.wait_plot("p.traces === 1 && p.drawn", timeout=REDRAW_MS)["title"] == fig["title"]
    assert w.panel.locator("[data-testid=markdown]").filter(
        has_text="threshold").inner_text() == summary
    w.shot("error no method chosen")

    # ---- and the map is still there ----
    w.subtab("Map")
    assert w.panel.locator("[role=tabpanel]:visible span[title]").count() > 0
    w.assert_no_error_pill()


def test_image_sanity_panel_walk(walk_image):
    w = walk_image
    w.wait_text("best match")                          # the first view, drawn on opening
    w.settle(started=True)
    w.subtab("Every method")
    w.panel.get_by_text("Can I trust this map? (sanity check)").click()      # folded
    for name in ("Relevance (Chefer et al. 2021)", "Attention rollout"):     # the defaults
        assert w.panel.get_by_label(name, exact=True).is_checked(), name
    w.assert_no_error_pill()
    assert not [p for p in w.plots() if p["title"].startswith("Sanity check")]
    w.shot("image sanity panel opened")

    # ---- on the first view: relevance's curve and verdict ----
    prompt = w.dropdown_value("Prompt")
    assert prompt
    w.panel.get_by_label("Attention rollout", exact=True).uncheck()
    w.run(IMAGE_BUTTON, done_text="random target")
    assert w.message(IMAGE_MESSAGE) == ""
    fig = w.wait_plot("p.traces === 1 && p.drawn && p.title.startsWith('Sanity check')")
    assert fig["x"] == [str(k) for k in range(5)], fig         # trained + mini-CLIP's 4 blocks
    summary = w.panel.locator("[data-testid=markdown]").filter(has_text="threshold").inner_text()
    assert "Relevance" in summary and ("passes" in summary or "fails" in summary), summary
    w.assert_no_error_pill()
    w.page.locator(".js-plotly-plot:visible").last.scroll_into_view_if_needed()
    w.shot("image sanity relevance")

    # ---- a handled error: no method chosen; the curve and the summary stay ----
    w.panel.get_by_label("Relevance (Chefer et al. 2021)", exact=True).uncheck()
    w.close_toasts()
    w.button(IMAGE_BUTTON).click()
    w.expect_message("Choose at least one method", where=IMAGE_MESSAGE)
    again = w.wait_plot("p.traces === 1 && p.drawn && p.title.startsWith('Sanity check')",
                        timeout=REDRAW_MS)
    assert again["x"] == fig["x"]
    assert w.panel.locator("[data-testid=markdown]").filter(
        has_text="threshold").inner_text() == summary
    w.page.locator(".js-plotly-plot:visible").last.scroll_into_view_if_needed()
    w.shot("image sanity error no method")
