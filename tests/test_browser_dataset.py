"""The Dataset tab walked in Chromium as a person would: a fresh page, Run on the bundled
sample (the summary, the accuracy table, the faithfulness bars, the layer x head heatmap,
the agreement and rows tables, a row opened in the Attributions tab in its own browser tab
by its link); then handled errors (a file without a text column, Run
with no method ticked) that keep every result drawn and show no gradio "Error" pill; an
uploaded CSV run without the head scan; a download and the HTML report (refused before
any run); and Stop during a run."""
from __future__ import annotations

from browser_helpers import MODEL_MS, REDRAW_MS, Walk, walk_fixture

walk = walk_fixture("dataset", "Dataset")
SAMPLE = "Sample: 12 short sentences (animals, sports, food)"
UPLOAD = "My file (CSV or JSON lines, columns text and label)"


def bars_and_heads(w: Walk, first: str, rows: int, layers: int, name: str) -> None:
    """The Faithfulness bars (deletion and insertion, `first` method first) and the Heads
    heatmap (`rows` rows, `layers` layers), each looked at."""
    w.subtab("Faithfulness")
    bars = w.wait_plot("p.title.startsWith('Faithfulness per method')")
    assert bars["types"] == ["bar", "bar"] and first in bars["x"][0], bars
    w.shot(f"{name} faithfulness")
    w.subtab("Heads")
    heat = w.wait_plot(f"p.title.startsWith('Head importance over {rows} rows')")
    assert heat["types"] == ["heatmap"] and heat["zrows"] == layers, heat
    w.shot(f"{name} heads heatmap")


def open_link(w: Walk, link, tab: str):
    """(the browser tab a row's link opened, its visible panel) once `tab` is selected there."""
    with w.context.expect_page() as opened:
        link.click()
    page = opened.value
    page.get_by_role("tab", name=tab, exact=True, selected=True).wait_for(timeout=60_000)
    return page, page.locator("[role=tabpanel]:visible").first


def upload(w: Walk, path) -> None:
    w.panel.locator("input[type=file][accept*='.jsonl']").set_input_files(str(path))
    w.settle(REDRAW_MS)


def test_dataset_tab_walk(walk, tmp_path):
    w = walk
    w.shot("fresh page")
    w.assert_no_error_pill()
    w.button("Save report (HTML, opens offline)").click()        # nothing run yet
    w.expect_message("Nothing to download yet: press Run first.")
    w.close_toasts()

    # ---- the bundled sample: every aggregate drawn ----------------------------------
    w.run("Run on every row", done_text="rows explained")
    assert w.message() == "", w.message()
    assert "12 of 12 rows explained" in w.text() and "Accuracy:" in w.text()
    w.shot("sample accuracy")
    w.wait_text("6-10 words", timeout=REDRAW_MS)             # the accuracy table's slices
    w.wait_text("animals", timeout=REDRAW_MS)
    bars_and_heads(w, "Integrated Gradients", 12, 6, "sample")          # MiniLM's 6 layers
    w.subtab("Agreement")
    w.wait_text("Mean rank correlation", timeout=REDRAW_MS)
    assert "Saliency" in w.text()
    w.subtab("Rows")
    w.wait_text("The cat slept on the warm windowsill.", timeout=REDRAW_MS)
    w.type_into("Show rows whose text contains", "scored")
    w.page.wait_for_function("el => !el.innerText.includes('A dog chased the ball')",
                             arg=w.panel.element_handle(), timeout=REDRAW_MS)
    assert "The striker scored in the last minute." in w.text()
    w.shot("sample rows filtered")

    # ---- a row opens in its own browser tab: its attribution, drawn by the link ---------
    row_page, panel = open_link(w, w.panel.get_by_role("link", name="Attributions").first,
                                "Attributions")
    row_page.get_by_text("Integrated Gradients on all-MiniLM-L6-v2").first.wait_for(
        timeout=120_000)
    assert "The striker scored in the last minute." in panel.locator("textarea").first.input_value()
    assert "sports" in panel.inner_text()                   # the predicted label, explained
    row_page.screenshot(path=str(w.shot("row opened in attributions").with_name(
        "dataset-row-page-attributions.png")), full_page=True)
    row_page.close()
    assert "12 of 12 rows explained" in w.text()            # the Dataset page stays as it was

    # ---- handled errors keep the page -------------------------------------------------
    bad = tmp_path / "bad.csv"
    bad.write_text("sentence,label\nhello,a\n")
    w.control(UPLOAD).check()
    upload(w, bad)
    w.button("Run on every row").click()
    w.expect_message("no 'text' column (columns found: sentence, label)")
    assert "12 of 12 rows explained" in w.text()
    w.subtab("Heads")
    w.wait_plot("p.title.startsWith('Head importance over 12 rows')")
    w.shot("error no text column keeps results")
    w.close_toasts()
    for ticked in ("Integrated Gradients", "Saliency"):
        w.control(ticked).uncheck()
    w.button("Run on every row").click()
    w.expect_message("Tick at least one method")
    w.close_toasts()

    # ---- an uploaded CSV, saliency only, no head scan ---------------------------------
    good = tmp_path / "mine.csv"
    good.write_text("text,label\nI love this film.,positive\nWhat a dull story.,negative\n"
                    ",positive\n")
    w.panel.get_by_role("button", name="Clear").first.click()
    upload(w, good)
    w.control("Saliency").check()
    w.control("Head importance (one scan of every head per row)").uncheck()
    w.run("Run on every row", done_text="2 of 3 rows explained")
    assert "1 skipped" in w.text() and w.message() == ""
    w.wait_plot("p.annotations.some(a => a.includes('No head importance'))")
    w.subtab("Rows")
    w.wait_text("skipped: empty text", timeout=REDRAW_MS)
    w.shot("upload without heads")

    # ---- download, then Stop during a run ----------------------------------------------
    w.button("Download table (CSV)").click()
    w.page.get_by_text(".csv").first.wait_for(timeout=REDRAW_MS)
    w.shot("download csv")
    w.button("Save report (HTML, opens offline)").click()
    w.page.get_by_text(".html").first.wait_for(timeout=REDRAW_MS)
    w.shot("report saved")
    w.control(SAMPLE).check()
    w.control("Integrated Gradients").check()
    w.button("Run on every row").click()
    w.page.wait_for_timeout(1500)
    w.button("Stop").click()
    w.settle()
    assert "2 of 3 rows explained" in w.text()          # the stopped run replaced nothing
    # Stop is no error: a message says what was kept, and no output shows an Error pill
    # (gradio's own cancel marked every output of the run with one)
    w.expect_message("Stopped. The results on the page are those of the last run")
    w.assert_no_error_pill()
    w.shot("stopped keeps results")


SCENES = "Scenes: 40 mini-CLIP 2 scenes with exact masks (everyday things)"
ZIP = "My zip (images.csv naming the images; columns file, prompt, label, mask)"
scene_walk = walk_fixture("scenes_dataset", "Dataset")


def _row_cells(link) -> list[str]:
    """The texts of the Rows table's cells on the line that holds `link` (gradio's table
    draws each line as an element of role "row" holding its cells)."""
    return link.evaluate("e => [...e.closest('[role=row]').querySelectorAll("
                         "'td, [role=gridcell]')].map(c => c.innerText)")


def _scene_zip(path, n: int = 3):
    """The first n bundled scenes, their masks and their images.csv in one zip."""
    import zipfile

    import pandas as pd

    import mminspect as mi
    folder = mi.load_dataset_sample("scenes")
    rows = pd.read_csv(folder / "images.csv", dtype=str, keep_default_na=False).head(n)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("images.csv", rows.to_csv(index=False))
        for name in list(rows["file"]) + list(rows["mask"]):
            z.write(folder / name, name)
    return path


def test_dataset_tab_scene_set_walk(scene_walk, tmp_path):
    """The bundled mini-CLIP 2 scenes: a handled error first (the zip choice with no zip),
    then the run (summary with pointing, the faithfulness bars, the image tower's head
    heatmap, the rows); a correct, pointed-at scene's link opens the Image–text tab on that
    scene, whose "Every method" table shows the table's pointing and energy-in-mask."""
    w = scene_walk
    w.control(ZIP).check()
    w.settle(REDRAW_MS)
    w.button("Run on every row").click()
    w.expect_message("No zip yet")
    w.assert_no_error_pill()
    w.close_toasts()
    w.control(SCENES).check()
    w.settle(REDRAW_MS)
    assert w.dropdown_value("Model") == "miniclip2"             # the set's own model
    w.control("LeGrad (Bousselham et al. 2025)").uncheck()       # relevance only: quicker
    w.shot("scenes picked")
    w.run("Run on every row", done_text="scenes explained", timeout=2 * MODEL_MS)
    assert "40 of 40 scenes explained" in w.text() and w.message() == ""
    assert "points at the named object" in w.text()
    bars_and_heads(w, "Relevance", 40, 4, "scenes")                     # mini-CLIP 2: 4 layers
    w.subtab("Rows")
    w.wait_text("scene_000.png", timeout=REDRAW_MS)
    w.shot("scenes rows")

    # a scene the model names right and relevance points at: its numbers in the table
    links = w.panel.get_by_role("link", name="Image–text")
    chosen = None
    for i in range(links.count()):
        cells = _row_cells(links.nth(i))
        # row, open, file, prompt, label, prediction, correct, score, hit, energy, deletion
        if len(cells) < 11:                  # gradio's hidden copy for measuring widths
            continue
        if cells[6].strip().lower() == "true" and float(cells[8]) == 1.0:
            chosen = (links.nth(i), cells)
            break
    assert chosen is not None, ("no correct scene with a pointing hit in the table",
                                [_row_cells(links.nth(i)) for i in range(min(3, links.count()))])
    link, cells = chosen
    prompt, energy = cells[3].strip(), float(cells[9])
    assert "set_scene=scenes%3A" + cells[0].strip() in link.get_attribute("href")
    page, panel = open_link(w, link, "Image–text")
    page.get_by_text("best match:").first.wait_for(timeout=MODEL_MS)   # Inspect ran
    assert f"best match: {prompt}" in panel.inner_text()              # the table's prediction
    page.get_by_role("button", name="Run every method on this prompt").click()
    cell = panel.locator("table tr", has_text="Relevance (Chefer et al. 2021)").first
    cell.wait_for(timeout=MODEL_MS)
    tds = cell.locator("td").all_inner_texts()     # method, deletion, insertion, hit, energy
    assert tds[3].strip() == "✅", tds                                   # the table's hit
    shown = float(tds[4].strip().rstrip("%").strip())
    assert abs(shown - 100 * energy) <= 0.056, (shown, energy)   # 0.1 % shown, 4 digits kept
    page.screenshot(path=str(w.shot("scene opened in image-text").with_name(
        "scenes_dataset-row-page-image-text.png")), full_page=True)
    page.close()
    assert "40 of 40 scenes explained" in w.text()            # the Dataset page as it was

    # ---- an uploaded zip of three scenes: explained, and no link (an upload never goes
    # into a link) ------------------------------------------------------------------------
    w.control(ZIP).check()
    w.settle(REDRAW_MS)
    w.panel.locator("input[type=file][accept*='.zip']").set_input_files(
        str(_scene_zip(tmp_path / "three.zip")))
    w.settle(REDRAW_MS)
    w.run("Run on every row", done_text="3 of 3 scenes explained", timeout=MODEL_MS)
    assert w.message() == "" and "40 of 40" not in w.text()
    w.subtab("Rows")
    w.wait_text("scene_002.png", timeout=REDRAW_MS)
    assert w.panel.get_by_role("link", name="Image–text").count() == 0
    w.shot("zip rows without links")
