"""The "Can I trust this map?" parts of the Attributions tab, walked in Chromium: the caveat
line under a map, the agreement matrix after "Compare all methods", the sanity check run on
demand (its curve and verdict), then a handled error (no method chosen) that leaves the
curve and its summary drawn with no gradio "Error" pill; the shipped table is on the panel."""
from __future__ import annotations

from browser_helpers import REDRAW_MS, walk_fixture

walk = walk_fixture("trust", "Attributions")
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
        assert (float(cells[4]) < 0) == ("Worse than a random order" in row), row
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
