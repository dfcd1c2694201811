"""The causal lab walked in Chromium as a person would.

Text tab → Causal lab: a handled error before any scan (top-k with nothing scanned), scan every
head, click heads in the table and read the prediction change, zero / mean, top-k, another
attention statistic for the scatter; a handled error (empty text) that keeps the table, the
scatter and the last result, and a click that still works after it; patching on both sites
and the unequal-length rule; a new Inspect clears the scan of the text before. Image–text tab
→ Remove heads (on mini-CLIP's scene 1; the tab opens on mini-CLIP 2, already drawn): remove a head (before / after bars per prompt), scan every head, click a head.
"""
from __future__ import annotations

from browser_helpers import REDRAW_MS, Walk, walk_fixture
from mminspect import api

IMP = ".mm-imp-message"
PATCH = ".mm-patch-message"
ABL = ".mm-abl-message"

walk = walk_fixture("causal", "Text")
image_walk = walk_fixture("causal-image", "Image–text")
stale_walk = walk_fixture("causal-stale", "Text")          # its own screenshot names


def cell(w: Walk, row: int, col: int):
    """A cell of the visible importance table (column 0 holds the layer names)."""
    return w.panel.locator(f"[data-testid=cell-{row}-{col}]").filter(visible=True).first


def click_head(w: Walk, layer: int, head: int, expect: str) -> str:
    """Click head (layer, head) in the table; wait for the result line to name it."""
    cell(w, layer, head + 1).click()
    w.wait_text(expect)
    w.settle(started=True)
    return w.text()


def table_cells(w: Walk) -> int:
    return w.panel.locator("[role=gridcell]").filter(visible=True).count()


def scatter(w: Walk, old_title: str = "") -> dict:
    return w.wait_plot(f"p.title.startsWith('Attention vs importance') && p.title !== {old_title!r}"
                       " && p.types[0] === 'scatter'")


def test_text_causal_lab_walk(walk):
    w = walk
    w.subtab("Causal lab")
    w.subtab("Head importance")
    w.assert_no_error_pill()
    w.shot("fresh page head importance")

    # ---- handled errors before anything was scanned: top k, a click on the empty table ----
    assert "Press “Scan every head”" in w.text()
    w.button("Remove the top k heads together").click()
    w.expect_message("Scan every head", "first", where=IMP)
    w.shot("error top k before scan")
    w.close_toasts()
    cell(w, 0, 1).click()
    w.expect_message("then click a head", where=IMP)

    # ---- scan: the table (6 layers x (name + 12 heads)), summary and scatter ----
    w.close_toasts()
    w.run("Scan every head", done_text="heads removed one at a time")
    assert w.message(IMP) == ""
    assert table_cells(w) == 6 * 13
    assert cell(w, 5, 0).inner_text().strip() == "L5"
    text = w.text()
    assert "72 heads removed one at a time" in text and "cosine similarity to" in text, text
    fig = scatter(w)
    assert "Pearson r =" in fig["title"] and "Spearman" in fig["title"]
    w.shot("scan")

    # ---- click a head: the prediction before -> after, and its rank in the scan ----
    text = click_head(w, 5, 11, "Removing head L5 H11")
    assert "goes from" in text and "ranked #" in text, text
    w.assert_no_error_pill()
    w.shot("click L5 H11")
    text = click_head(w, 2, 3, "Removing head L2 H3")
    assert "Removing head L5 H11" not in text
    w.shot("click L2 H3")
    # the layer-name column removes nothing
    cell(w, 1, 0).click()
    w.settle()
    assert "Removing head L2 H3" in w.text()

    # ---- mean ablation, top k against the heads with most attention to special tokens ----
    w.panel.get_by_label("replace it by its average over the text").check()
    click_head(w, 0, 0, "Removing head L0 H0")
    assert "average over the text" in w.text()
    w.set_slider("k heads", 4)
    w.button("Remove the top k heads together").click()
    w.wait_text("Removing the 4 most important heads")
    w.settle(started=True)
    assert "Removing the 4 heads with the highest share to special tokens" in w.text()
    assert "The ranking is from a scan with its output set to zero" in w.text()
    w.shot("top k mean")

    # ---- another attention statistic: only the scatter is redrawn ----
    w.pick("Attention statistic", "largest weight per query")
    fig = scatter(w, fig["title"])
    w.shot("scatter largest weight")

    # ---- handled error: an empty text keeps the table, scatter and last result ----
    w.type_into("Text", "")
    w.close_toasts()
    w.button("Scan every head").click()
    w.expect_message("The text is empty", where=IMP)
    assert table_cells(w) == 6 * 13 and "Removing the 4 most important heads" in w.text()
    scatter(w)
    w.shot("error empty text")
    # the table still works after the error (it ablates the text that was scanned)
    text = click_head(w, 4, 2, "Removing head L4 H2")
    assert w.message(IMP) == "", w.message(IMP)
    w.assert_no_error_pill()
    w.shot("click after error")

    # ---- patching: residual stream, then heads, then the unequal-length rule ----
    w.type_into("Text", "The cat sat on the mat because it was warm.")
    w.subtab("Patching")
    w.run("Patch", done_text="patched runs")
    fig = w.wait_plot("p.types[0] === 'heatmap' && p.title.startsWith('Share of the gap')")
    assert "cat→car" in fig["x"] and fig["zrows"] == 6, fig
    assert "most restored by layer" in w.text()
    w.shot("patching residual")
    w.panel.get_by_label("heads: layer × head").check()
    w.run("Patch", done_text="72 patched runs")
    fig = w.wait_plot("p.types[0] === 'heatmap' && p.x[0] === 'H0'")
    w.shot("patching heads")
    w.type_into("Corrupted text (same number of tokens)", "A dog.")
    w.close_toasts()
    w.button("Patch").click()
    w.expect_message("same number of tokens", where=PATCH)
    w.wait_plot("p.types[0] === 'heatmap' && p.x[0] === 'H0'")        # the last map stays
    w.shot("error unequal lengths")
    w.assert_no_error_pill()


def test_image_remove_heads_walk(image_walk):
    w = image_walk
    # the tab opens on mini-CLIP 2's example, already drawn; this walk uses mini-CLIP's scene 1
    w.wait_text("best match")
    w.settle(started=True)
    w.pick("Example", api.list_examples()[0])
    w.page.wait_for_function("el => el.value.includes('a red star')",
                             arg=w.textbox("Prompts, one per line").element_handle(),
                             timeout=REDRAW_MS)
    w.pick("Model", "mini-CLIP ·")
    w.close_toasts()
    w.run("Inspect", done_text="best match")
    w.subtab("Remove heads")
    assert w.message(ABL) == ""
    w.set_slider("Image-tower layer", 1)
    w.set_slider("Image-tower head", 2)
    w.run("Remove this head", done_text="Removing L1 H2")
    fig = w.wait_plot("p.types.length === 2 && p.types.every(t => t === 'bar')")
    assert "removing L1 H2" in fig["title"], fig
    assert "the best match" in w.text()
    w.shot("remove L1 H2")

    w.run("Scan every head", done_text="heads removed one at a time")
    assert w.panel.locator("[role=gridcell]").filter(visible=True).count() > 4
    cell(w, 0, 2).click()
    w.wait_text("Removing L0 H1")
    w.settle(started=True)
    fig = w.wait_plot("p.types[0] === 'bar' && p.title.includes('removing L0 H1')")
    assert w.slider_value("Image-tower layer") == 0 and w.slider_value("Image-tower head") == 1
    w.assert_no_error_pill()
    w.shot("scan and click L0 H1")

    # ---- patching from the scene into another example scene ----
    w.run("Patch", done_text="patched runs")
    # one 8 x 8 map per layer of mini-CLIP's image tower, the [CLS] share in each title
    fig = w.wait_plot("p.traces === 4 && p.types.every(t => t === 'heatmap') && "
                      "p.title.startsWith('Share of the gap')")
    assert fig["zrows"] == 8, fig
    assert w.page.get_by_text("after layer 0 · [CLS]").count() == 1
    assert "logit of" in w.text()
    w.shot("patching residual")
    w.panel.get_by_label("heads: layer × head").check()
    w.run("Patch", done_text="16 patched runs")
    w.wait_plot("p.types[0] === 'heatmap' && p.x[0] === 'H0'")
    w.pick("Corrupted image", "More images")
    w.close_toasts()
    w.button("Patch").click()
    w.expect_message("More images", where=ABL)
    w.wait_plot("p.types[0] === 'heatmap' && p.x[0] === 'H0'")        # the last map stays
    w.shot("patching error no second image")


def test_a_new_inspect_clears_the_scan_of_the_previous_text(stale_walk):
    """Nothing stale: after Inspect on another text, the causal lab no longer shows the scan
    of the text before (its table, scatter and summary described that text)."""
    w = stale_walk
    w.wait_text("The example was inspected for you")          # the first view is in place
    w.subtab("Causal lab")
    w.subtab("Head importance")
    w.run("Scan every head", done_text="heads removed one at a time")
    assert "on “The cat sat on the mat because it was warm.”" in w.text()   # names its text
    assert table_cells(w) == 6 * 13
    scatter(w)
    w.shot("scan of the first text")

    # the same inputs inspected again: the scan still belongs to them and stays
    w.run("Inspect", done_text="Cosine similarity to the second text")
    w.settle()
    assert "72 heads removed one at a time" in w.text() and table_cells(w) == 6 * 13

    w.type_into("Text", "Dogs bark loudly at night.")
    w.run("Inspect", done_text="8 tokens")
    w.wait_text("The scan of the previous input")
    w.settle()
    text = w.text()
    assert "72 heads removed one at a time" not in text, text
    assert "The cat sat on the mat" in text and "Press “Scan every head” to scan this one" in text
    assert table_cells(w) < 6 * 13                                         # the table emptied
    assert not any(p["title"].startswith("Attention vs importance") for p in w.plots())
    cell(w, 0, 1).click()                   # a click has nothing left to remove
    w.expect_message("Scan every head", where=IMP)
    w.assert_no_error_pill()
    w.shot("scan cleared after a new inspect")
