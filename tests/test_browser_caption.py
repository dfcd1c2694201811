"""The Fusion tab's cross-attention captioner walked in Chromium as a person would: a fresh
page, Write caption on a scene (the caption, each step, the chosen word's map over the image,
the pointing table beside it, the logit-lens row), every control (written word, decoder layer,
head, the held-out scene number, the start of the caption); then handled errors (a scene
number that does not exist, a word the model cannot write) that keep every result drawn and
show no gradio "Error" pill; and a normal run again."""
from __future__ import annotations

from browser_helpers import REDRAW_MS, Walk, walk_fixture

walk = walk_fixture("caption", "Fusion")
WHERE = ".mm-caption-message"
PREFIX = "Start the caption with (optional)"
NUMBER = "Held-out scene number (0-199)"


def written(w: Walk) -> str:
    return w.page.evaluate("el => el.innerText", w.panel.element_handle())


def write(w: Walk) -> None:
    w.run("Write caption", done_text="Caption:")
    assert w.message(WHERE) == "", w.message(WHERE)


def test_caption_walk(walk):
    w = walk
    w.subtab("Cross-attention captioner")
    scenes = w.options("Captioner scene")
    assert len(scenes) == 5 and scenes[-1].startswith("held-out scene"), scenes
    w.shot("fresh page")
    w.assert_no_error_pill()

    # ---- one caption: the steps, the word's map, pointing and the lens ---------------
    w.pick("Captioner scene", "a red triangle and a turtle")
    write(w)
    words = w.options("Written word")
    assert words[0].startswith("0: ") and len(words) >= 3, words
    for header in ("peak on object", "after layer", "chosen by", "the model"):
        w.wait_text(header, timeout=REDRAW_MS)
    items = w.gallery("Map of each head", n=4)
    assert [i["caption"].split(":")[0] for i in items] == ["head 0", "head 1", "head 2", "head 3"]
    assert all(i["loaded"] for i in items)
    w.shot("caption of the triangle and turtle")

    # ---- word, layer and head redraw from the kept caption ---------------------------
    w.pick("Written word", words[1])
    w.wait_text(f"P({words[1].split(': ')[1]})", timeout=REDRAW_MS)     # the lens row's last column
    w.set_slider("Decoder layer", 0)
    w.wait_text("peak patch (layer 0)", timeout=REDRAW_MS)
    w.pick("Cross-attention head", "head 2")
    w.settle(REDRAW_MS)
    w.shot("word 1 layer 0 head 2")

    # ---- a held-out scene by number --------------------------------------------------
    w.pick("Captioner scene", "held-out scene")
    w.type_into(NUMBER, "7")
    w.settle(REDRAW_MS)
    write(w)
    w.shot("held-out scene 7")

    # ---- handled errors keep the page ------------------------------------------------
    before = written(w).split("Caption:")[1][:80]
    w.type_into(NUMBER, "500")
    w.expect_message("held-out scenes are 0 to 199", where=WHERE)
    w.button("Write caption").click()
    w.expect_message("held-out scenes are 0 to 199", where=WHERE)
    assert written(w).split("Caption:")[1][:80] == before
    w.shot("error scene number keeps results")
    w.close_toasts()
    w.type_into(NUMBER, "7")
    w.type_into(PREFIX, "a zebra")
    w.button("Write caption").click()
    w.expect_message("cannot write 'zebra'", where=WHERE)
    assert written(w).split("Caption:")[1][:80] == before
    w.shot("error unknown word keeps results")
    w.close_toasts()

    # ---- after the errors: a caption started by the user -----------------------------
    w.type_into(PREFIX, "a red")
    write(w)
    w.wait_text("2 word(s) given by you", timeout=REDRAW_MS)
    assert "you" in written(w)
    w.shot("caption started with a red")
    w.assert_no_error_pill()


LAB = ".mm-caption-lab-message"
HEADS = "Cross-attention heads to remove (layer.head, comma-separated)"


def heads_box(w: Walk) -> str:
    return w.textbox(HEADS).input_value()


def test_caption_remove_heads_walk(walk):
    """The captioner's "Remove cross-attention heads" section: a handled error on a fresh page
    (no heads named), Pick (the heads most on the objects), Remove (this scene's caption
    without them, the held-out table, the importance table), a head that does not exist (the
    results stay), then the control: the heads least on the objects."""
    w = walk
    w.subtab("Cross-attention captioner")
    w.pick("Captioner scene", "a red triangle and a turtle")
    w.button("Remove and write again").scroll_into_view_if_needed()
    w.shot("remove heads fresh page")
    w.button("Remove and write again").click()
    w.expect_message("Name the heads to remove", where=LAB)
    w.wait_text("Press Remove: each head removed alone")
    w.shot("remove heads error on a fresh page")
    w.close_toasts()

    w.run("Pick heads")
    w.page.wait_for_function("b => b.value.trim().length > 0", arg=w.textbox(HEADS).element_handle())
    picked = heads_box(w)
    assert len(picked.split(",")) == 4 and all("." in p for p in picked.split(",")), picked
    w.run("Remove and write again", done_text="Without them:")
    assert w.message(LAB) == "", w.message(LAB)
    for text in ("names every object", "every shape's colour right", "well formed", "H3"):
        w.wait_text(text, timeout=REDRAW_MS)
    first = f"L{picked.split(',')[0].strip().replace('.', 'H')}"
    assert f"Removed {first}" in w.text(), w.text()[:400]
    w.shot("remove the heads most on the objects")

    before = w.text().split("Removed")[1][:200]
    w.type_into(HEADS, "9.9")
    w.button("Remove and write again").click()
    w.expect_message("layers 0..2", where=LAB)
    assert w.text().split("Removed")[1][:200] == before
    w.shot("error head that does not exist keeps results")
    w.close_toasts()

    w.panel.get_by_label("least on the objects (a control)", exact=True).check()
    w.run("Pick heads")
    w.page.wait_for_function("([b, old]) => b.value !== old && b.value.includes('.')",
                             arg=[w.textbox(HEADS).element_handle(), "9.9"])
    control = heads_box(w)
    assert not set(p.strip() for p in control.split(",")) & set(p.strip() for p in picked.split(","))
    w.run("Remove and write again", done_text=f"Removed L{control.split(',')[0].strip().replace('.', 'H')}")
    assert w.message(LAB) == ""
    w.shot("remove the heads least on the objects")
    w.assert_no_error_pill()
