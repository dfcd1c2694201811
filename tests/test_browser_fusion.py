"""The Fusion tab walked in Chromium as a person would: a fresh page, Run on the first scene
(the matching probability, the [MASK] guesses, the joint attention with its four blocks, the
block shares), every control (head, layer, word, patch row and column, the three sub-tabs,
another scene); then handled errors (an empty caption, a caption too long) that keep every
result drawn and show no gradio "Error" pill; and a normal run again."""
from __future__ import annotations

from browser_helpers import REDRAW_MS, Walk, walk_fixture


walk = walk_fixture("fusion", "Fusion")
CAPTION = "Caption ([MASK]: a word to guess)"


def joint_title(w: Walk, start: str) -> dict:
    return w.wait_plot(f"p.title.startsWith({start!r})", timeout=REDRAW_MS)


def test_fusion_tab_walk(walk):
    w = walk
    scenes = w.options("Scene")
    assert len(scenes) == 4 and all(s.startswith("world scene") for s in scenes), scenes
    w.shot("fresh page")
    w.assert_no_error_pill()

    # ---- one run: the answers, the joint attention and the shares --------------------
    caption = "a [MASK] triangle and a turtle"
    w.pick("Scene", "a red triangle and a turtle")
    w.page.wait_for_function("el => el.value.includes('turtle')",
                             arg=w.textbox(CAPTION).element_handle(), timeout=REDRAW_MS)
    w.type_into(CAPTION, caption)
    w.run("Run", done_text="P(match)")
    assert w.message() == "", w.message()
    assert "[MASK] at token 2" in w.text()
    joint_title(w, "Layer 3, heads averaged")
    shares = w.wait_plot("p.title.startsWith('Where the attention mass goes')")
    assert shares["title"]
    w.shot("run joint attention")

    # ---- head and layer redraw the joint view --------------------------------------
    w.pick("Head", "head 1")
    joint_title(w, "Layer 3, head 1")
    w.set_slider("Layer", 1)
    joint_title(w, "Layer 1, head 1")
    w.shot("layer 1 head 1")

    # ---- the word's map, head by head, and the pointing table ----------------------
    w.subtab("Word → patches")
    words = w.options("Word")
    assert words[0] == "0: [CLS]" and "3: triangle" in words and "6: turtle" in words, words
    w.pick("Word", "6: turtle")
    items = w.gallery("Head by head", n=4)
    assert [i["caption"].split(":")[0] for i in items] == ["head 0", "head 1", "head 2", "head 3"]
    w.wait_text("peak on object", timeout=REDRAW_MS)            # the pointing table's header
    w.wait_text("a red triangle", timeout=REDRAW_MS)            # its rows: each named object
    w.wait_text("a turtle", timeout=REDRAW_MS)
    w.shot("word turtle map and pointing")

    # ---- the patch and the words that read it --------------------------------------
    w.subtab("Patch → words")
    w.set_slider("Patch row", 2)
    w.set_slider("Patch column", 5)
    w.wait_plot("p.title.startsWith('Words that read patch r2c5 (layer 1)')")
    w.shot("patch r2c5 readers")

    # ---- handled errors keep the page -----------------------------------------------
    before = len(w.plots())
    w.type_into(CAPTION, "   ")
    w.button("Run").click()
    w.expect_message("Write a caption")
    assert len(w.plots()) == before and "P(match)" in w.text()
    w.shot("error empty caption keeps results")
    w.close_toasts()
    w.type_into(CAPTION, "a red star " * 12)
    w.button("Run").click()
    w.expect_message("at most")
    w.wait_plot("p.title.startsWith('Words that read patch r2c5')")
    w.shot("error long caption keeps results")
    w.close_toasts()

    # ---- after the errors: another scene and a normal run --------------------------
    w.pick("Scene", "a light bulb and a snail")
    w.page.wait_for_function("el => el.value.includes('snail')",
                             arg=w.textbox(CAPTION).element_handle(), timeout=REDRAW_MS)
    w.run("Run", done_text="P(match)")
    assert w.message() == "", w.message()
    assert "snail" in " ".join(w.options("Word"))
    w.subtab("Joint attention")
    joint_title(w, "Layer 1, head 1")
    w.shot("second scene after errors")
    w.assert_no_error_pill()

