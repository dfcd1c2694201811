"""The fusion model's heads in the app, walked in Chromium as a person would.

"How attention works" on the fusion model (one sequence of words and patches): a fresh page,
a world scene and a caption with [MASK], the model picked (a trace), the badge, the
text->image line for the query word, the softmax step over the patch keys, another head;
then a handled error (an empty caption) that keeps the trace drawn, and a normal trace again.

The Fusion tab's "Remove heads": a run, the heads that read the image picked, Remove (the
answer with and without them, the held-out colour accuracy and chance, the importance
table); then handled errors (an unreadable heads box, a head that does not exist) that keep
the results; and a normal removal again."""
from __future__ import annotations

import pytest

import mminspect as mi
from browser_helpers import REDRAW_MS, Walk, walk_fixture
from mminspect.api.fusion import fusion_example

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCENE = "mini-CLIP 2 · a purple circle and a blue square"
CAPTION = "a [MASK] circle and a blue square"
BADGE = "This is the model's own computation"

attention_walk = walk_fixture("fusion-glassbox", "How attention works")
lab_walk = walk_fixture("fusion-lab", "Fusion")


def step_plot(w: Walk, title_start: str) -> dict:
    return w.wait_plot(f"p.title.startsWith({title_start!r}) && p.drawn", timeout=REDRAW_MS * 4)


def test_glass_box_on_a_fusion_head(attention_walk):
    w = attention_walk
    w.shot("fresh page")
    w.assert_no_error_pill()
    w.pick("Example image (image tower)", SCENE)
    w.type_into("Text (or the prompt, for a CLIP text tower)", CAPTION)
    w.pick("Model", "fusion ·")                              # a model switch is a trace
    w.wait_text("joint tower · layer", timeout=REDRAW_MS * 6)
    w.settle()
    w.set_slider("Layer", 2)                                 # the slider follows its 4 layers
    w.wait_text("joint tower · layer 2, head", timeout=REDRAW_MS * 6)
    w.settle()
    assert BADGE in w.text() and w.message() == "", w.message()
    assert "72 tokens" in w.text()                           # [CLS] + 7 words + 64 patches
    queries = w.options("Query token")
    assert "[MASK] (2)" in queries and "r7c7 (71)" in queries, queries
    w.pick("Query token", "[MASK] (2)")
    w.panel.get_by_label("7 · softmax", exact=True).check()
    fig = step_plot(w, "Softmax: weights of “[MASK]”")
    assert "r3c3" in fig["x"], fig["x"][:10]                 # the patches are keys
    w.run("Trace", done_text="text→image block: “[MASK]” puts")
    tr = mi.trace_head("fusion", CAPTION, layer=2, head=int(w.slider_value("Head")),
                       image=fusion_example(SCENE).image)
    share = round(100 * float(tr.weights[2, 8:].sum()))
    assert f"“[MASK]” puts {share} % of its weight on the 64 patches" in w.text()
    w.shot("fusion head softmax mask query")

    # ---- a handled error: an empty caption keeps the trace ----
    w.type_into("Text (or the prompt, for a CLIP text tower)", "  ")
    w.button("Trace").click()
    w.expect_message("Write a caption")
    assert BADGE in w.text() and "joint tower" in w.text()
    w.shot("error empty caption keeps trace")
    w.close_toasts()

    # ---- a normal trace again: another head ----
    w.type_into("Text (or the prompt, for a CLIP text tower)", CAPTION)
    w.set_slider("Head", 0)
    w.wait_text("joint tower · layer 2, head 0 of 4", timeout=REDRAW_MS * 6)
    w.settle()
    assert w.message() == "", w.message()
    step_plot(w, "Softmax: weights of")
    w.shot("after error head 0")
    w.assert_no_error_pill()


HEADS = "Heads to remove (layer.head, comma-separated)"


def test_remove_fusion_heads(lab_walk):
    w = lab_walk
    w.shot("fresh page")
    w.pick("Scene", "a purple circle and a blue square")
    w.page.wait_for_function("el => el.value.includes('square')",
                             arg=w.textbox("Caption ([MASK]: a word to guess)").element_handle(),
                             timeout=REDRAW_MS)
    w.type_into("Caption ([MASK]: a word to guess)", CAPTION)
    w.run("Run", done_text="P(match)")
    w.subtab("Remove heads")
    w.set_slider("How many heads to pick", 3)
    w.run("Pick the heads that read the image most")
    ex = fusion_example(SCENE)
    readers = mi.image_reading_heads("fusion", ex.image, CAPTION, k=3)
    want = ", ".join(f"{a}.{b}" for a, b in readers)
    w.page.wait_for_function("([el, v]) => el.value === v",
                             arg=[w.textbox(HEADS).element_handle(), want], timeout=REDRAW_MS)
    w.run("Remove", done_text="held-out masked colour")
    abl = mi.ablate_fusion_heads("fusion", ex.image, CAPTION, readers)
    acc = mi.fusion_ablation_accuracy("fusion", readers, "colour", n=100)
    text = w.text()
    assert f"{abl.before:.3f}" in text and f"{abl.after:.3f}" in text, text[-800:]
    assert f"{acc.intact:.1%}" in text and f"{acc.ablated:.1%}" in text and "chance 17%" in text
    assert "L3" in text and "H3" in text                     # the importance table's labels
    w.shot("removed the image readers")

    # ---- handled errors keep the results ----
    w.type_into(HEADS, "the reading ones")
    w.button("Remove").click()
    w.expect_message("Name the heads to remove")
    assert f"{acc.ablated:.1%}" in w.text()
    w.shot("error unreadable heads keeps results")
    w.close_toasts()
    w.type_into(HEADS, "9.0")
    w.button("Remove").click()
    w.expect_message("layers 0..3")
    assert f"{acc.ablated:.1%}" in w.text()
    w.shot("error no such head keeps results")
    w.close_toasts()

    # ---- a normal removal again ----
    w.type_into(HEADS, "0.0")
    w.run("Remove", done_text="Removed L0H0")
    assert w.message() == "", w.message()
    w.shot("after errors remove L0H0")
    w.assert_no_error_pill()


lesson_walk = walk_fixture("fusion-lesson", "Lessons")
LESSON = "The head that looks is not always the head that matters"


def test_fusion_lesson_end_to_end(lesson_walk):
    """Open the attention-vs-removal lesson, a handled error (Check with no answer), answer,
    see the measured answer and its per-head picture, then try it in How attention works."""
    w = lesson_walk
    w.shot("fresh page")
    w.pick("Lesson", LESSON)
    w.wait_text("Predict first", timeout=REDRAW_MS * 6)
    w.settle()
    w.button("Check my answer").click()
    w.expect_message("Pick one of the answers first")
    w.shot("error check with no answer")
    w.close_toasts()
    measured = mi.api.run_lesson(mi.api.get_lesson(LESSON))
    w.panel.get_by_role("radio", name="a different head", exact=True).check()
    w.run("Check my answer", done_text="Measured on the real model")
    assert measured.text.split(":")[0] in w.text()
    assert ("Right" in w.text()) == (measured.answer == "a different head")
    fig = w.wait_plot("p.title.startsWith('Each head: how much [MASK] reads the picture')")
    assert "L0H0" in fig["x"] and "L3H3" in fig["x"]
    w.shot("lesson answered with per head picture")
    w.run("Try it in “How attention works”")
    w.page.wait_for_function("() => document.body.innerText.includes('joint tower')",
                             timeout=REDRAW_MS * 6)
    w.page.wait_for_function("() => document.body.innerText.includes('puts')", timeout=REDRAW_MS * 6)
    w.settle()
    fig = w.wait_plot("p.title.startsWith('Softmax: weights of “[MASK]”') && p.drawn",
                      timeout=REDRAW_MS * 4)
    assert "r7c7" in fig["x"]
    w.shot("tried in how attention works")
    w.assert_no_error_pill()
