"""The Fusion tab's cross-attention captioner walked in Chromium as a person would: a fresh
page, Write caption on a scene (the caption, each step, the chosen word's map over the image,
the pointing table beside it, the logit-lens row), every control (written word, decoder layer,
head with its glass box, the held-out scene number, the start of the caption); then handled errors (a scene
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
    w.wait_text("How head 2 of layer 0 computed this map", timeout=REDRAW_MS)   # the glass box
    for text in ("Query from the word", "softmax over the patches", "|weight · v|"):
        w.wait_text(text, timeout=REDRAW_MS)
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
    w.wait_text("How head 2 of layer 0 computed this map", timeout=REDRAW_MS)   # for the new caption
    assert "you" in written(w)
    w.shot("caption started with a red")
    w.assert_no_error_pill()

