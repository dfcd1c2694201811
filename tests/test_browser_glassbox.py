"""The "How attention works" and "Lessons" tabs walked in Chromium as a person would.

Attention tab: the first view (the one-head lesson's head and query, traced on load), Trace,
the query list, every step (radio and the previous/next buttons), both
sliders (each a new trace), the image tower of mini-CLIP with an example (the sliders follow
its range), break it on purpose; then handled errors (empty text, a text model on the image
tower, break it on an image tower,
a lesson's Check with no answer) that keep every result drawn and show no gradio "Error" pill; a normal
run again. Predict first: the figure stays hidden until an answer is checked, then the score
and the figure appear. Lessons: one lesson end to end (open, predict, check, reveal, "try it")."""
from __future__ import annotations

import mminspect as mi
from browser_helpers import REDRAW_MS, Walk, walk_fixture

TEXT = "The cat sat on the mat because it was warm."
BADGE = "This is the model's own computation"
HIDDEN = "Your guess first"

walk = walk_fixture("attention", "How attention works")
predict_walk = walk_fixture("predict", "How attention works")   # its own screenshot names
lesson_walk = walk_fixture("lessons", "Lessons")


def answer(w: Walk, option: str) -> None:
    """Pick `option` among the answers (the only radio buttons named like a token/answer)."""
    w.panel.get_by_role("radio", name=option, exact=True).filter(visible=True).check()


def step(w: Walk, title: str) -> None:
    w.panel.get_by_label(title, exact=True).check()


def step_plot(w: Walk, title_start: str) -> dict:
    try:
        return w.wait_plot(f"p.title.startsWith({title_start!r}) && p.drawn")
    except Exception:
        raise AssertionError(f"no figure titled {title_start!r}: {w.plots()}, message "
                             f"{w.message()!r}") from None


def trace(w: Walk, done: str) -> None:
    w.run("Trace", done_text=done)
    assert w.message() == "", w.message()


def test_attention_tab_walk(walk):
    w = walk
    # ---- the first view: the one-head lesson's head and query, traced on page load ----
    lesson = next(les for les in mi.api.list_lessons() if les.measure == "top_key")
    st = lesson.state
    w.wait_text(f"layer {st.layer}, head {st.head} of 12")               # no click
    assert BADGE in w.text() and w.dropdown_value("Query token") == f"{st.query} (8)"
    tr = mi.trace_head("minilm", st.text, layer=st.layer, head=st.head)
    top = tr.tokens[int(tr.weights[8].argmax())]
    fig = step_plot(w, f"Softmax: weights of “{st.query}”")
    assert f"top key “{top}”" in fig["title"] and top == "cat"
    assert "tab=" not in w.page.url
    w.shot("first view lesson head and query")
    w.assert_no_error_pill()
    models = w.options("Model")
    assert models[0].startswith("all-MiniLM-L6-v2") and any("mini-CLIP" in m for m in models), models
    w.shot("fresh page")

    # ---- one trace: the badge, the summary, the query list set by the run ----
    trace(w, "layer 4, head 3 of 12")
    assert BADGE in w.text() and "13 tokens" in w.text()
    queries = w.options("Query token")
    assert queries[0] == "[CLS] (0)" and "it (8)" in queries, queries
    w.pick("Query token", "it (8)")
    w.shot("trace embeddings step")

    # ---- every step draws its own figure (radio), then previous / next ----
    expect = {"2 · x": "x: 384 numbers", "3 · q, k, v": "q, k, v: 32 numbers",
              "4 · q·k": "q·k for query “it”", "5 · ÷√d": "÷√d = × 0.1768",
              "6 · mask": "Mask of an encoder", "7 · softmax": "Softmax: weights of “it”",
              "8 · weights · v": "Weighted sum of the values", "9 · W_O": "W_O: 32 → 384",
              "10 · + residual": "Added to the residual stream"}
    for title, fig_title in expect.items():
        step(w, title)
        step_plot(w, fig_title)
        assert title in w.text()
    w.shot("residual step")
    w.button("◀ Previous step").click()
    step_plot(w, "W_O")
    w.button("Next step ▶").click()
    step_plot(w, "Added to the residual")
    step(w, "7 · softmax")
    fig = step_plot(w, "Softmax: weights of “it”")
    assert "cat" in fig["title"] and "it" in fig["x"]
    w.shot("softmax step query it")

    # ---- sliders: each is a new trace of another head; the query is kept ----
    w.set_slider("Layer", 2)
    w.wait_text("layer 2, head 3 of 12", timeout=REDRAW_MS * 4)
    w.set_slider("Head", 7)
    w.wait_text("layer 2, head 7 of 12", timeout=REDRAW_MS * 4)
    step_plot(w, "Softmax: weights of “it”")
    w.shot("layer 2 head 7")

    # ---- break it on purpose ----
    variants = w.options("Mistake")
    assert any(v.startswith("no scale") for v in variants), variants
    w.pick("Mistake", "no scale")
    w.run("Break it", done_text="max error of this head's weights")
    fig = w.wait_plot("p.traces === 2 && p.types.every(t => t === 'heatmap')")
    assert "broken: no scale" in fig["title"]
    assert "similarity to the second text" in w.text()
    w.shot("break it no scale")

    # ---- the image tower of mini-CLIP, on an example: the sliders follow the tower ----
    w.pick("Example image (image tower)", "scene 2")
    w.pick("Model", "mini-CLIP ·")             # a model switch is a new trace (its text tower)
    w.wait_text("text tower · layer 2, head 7 of 12", timeout=REDRAW_MS * 4)
    w.panel.get_by_label("image", exact=True).check()
    # head 7 does not exist in the 4-head image tower: moved in, and the sliders' range follows
    w.wait_text("image tower · layer 2, head 3 of 4", timeout=REDRAW_MS * 4)
    assert "moved to layer 2, head 3" in w.text()
    w.settle()
    assert w.control("range slider for Layer").get_attribute("max") == "3"
    assert w.control("range slider for Head").get_attribute("max") == "3"
    w.shot("image tower sliders follow")
    w.set_slider("Head", 0)                 # each slider is a trace: mini-CLIP has 4 heads
    w.wait_text("image tower · layer 2, head 0 of 4", timeout=REDRAW_MS * 4)
    w.set_slider("Layer", 1)
    w.run("Trace", done_text="image tower · layer 1, head 0 of 4")
    assert "max error of this head's weights" not in w.text()      # the old head's damage went
    assert "65 tokens" in w.text() and w.message() == ""
    step(w, "6 · mask")
    step_plot(w, "Mask of an encoder")
    w.shot("mini-CLIP image tower mask")

    # ---- handled errors: a message, no Error pill, the last results kept ----
    w.close_toasts()
    w.run("Break it")
    w.expect_message("Break it on purpose works on text models")
    assert "image tower · layer 1, head 0 of 4" in w.text() and BADGE in w.text()
    w.shot("error break on image tower")

    w.close_toasts()
    w.pick("Model", "all-MiniLM-L6-v2")       # a text model on the image tower: refused
    w.expect_message("reads text only")
    assert "image tower · layer 1, head 0 of 4" in w.text()
    step_plot(w, "Mask of an encoder")
    w.shot("error text model on the image tower")

    w.close_toasts()
    w.panel.get_by_label("text", exact=True).check()
    w.wait_text("text tower · layer 1, head 0 of 12", timeout=REDRAW_MS * 4)
    w.type_into("Text (or the prompt, for a CLIP text tower)", "")
    w.run("Trace")
    w.expect_message("The text is empty")
    assert "text tower · layer 1, head 0 of 12" in w.text() and BADGE in w.text()
    w.shot("error empty text")

    # ---- after the errors every control still works ----
    step(w, "3 · q, k, v")
    step_plot(w, "q, k, v")
    w.panel.get_by_label("Predict first").check()
    w.wait_text("Predict:")
    answer(w, "32")                                   # the guess is scored at once
    w.wait_text("✅ Right", timeout=REDRAW_MS)
    step_plot(w, "q, k, v")
    w.panel.get_by_label("Predict first").uncheck()
    step_plot(w, "q, k, v")
    w.shot("controls after errors")

    # ---- a normal run again ----
    w.close_toasts()
    w.type_into("Text (or the prompt, for a CLIP text tower)", "Dogs bark loudly at night.")
    w.set_slider("Layer", 0)
    w.run("Trace", done_text="layer 0, head 0 of 12")
    assert w.message() == "" and "8 tokens" in w.text()
    step_plot(w, "q, k, v")
    w.assert_no_error_pill()
    w.shot("normal run again")


def test_predict_first_hides_each_result_until_the_guess_is_scored(predict_walk):
    w = predict_walk
    trace(w, "layer 4, head 3 of 12")
    w.pick("Query token", "it (8)")
    w.panel.get_by_label("Predict first").check()
    step(w, "7 · softmax")
    w.wait_text("Which key gets the largest weight from “it”?")
    w.wait_text(HIDDEN)
    assert not any(p["title"].startswith("Softmax") for p in w.plots())
    w.shot("predict softmax hidden")
    answer(w, "cat")
    w.wait_text("✅ Right", timeout=REDRAW_MS)
    assert "weight 0.38" in w.text()
    fig = step_plot(w, "Softmax: weights of “it”")
    assert "top key “cat”" in fig["title"]
    w.shot("predict softmax scored and revealed")

    # the next step is hidden again until its own guess; a wrong guess says the answer
    step(w, "5 · ÷√d")
    w.wait_text(HIDDEN)
    answer(w, "flatter")
    w.wait_text("Not quite — the answer is “sharper”", timeout=REDRAW_MS)
    step_plot(w, "÷√d = × 0.1768")
    w.assert_no_error_pill()
    w.shot("predict scale wrong guess revealed")

    # a new trace after the guesses is drawn (a plotly redraw from a placeholder once froze
    # the page's updates here) and asks afresh
    w.type_into("Text (or the prompt, for a CLIP text tower)", "Dogs bark loudly at night.")
    w.run("Trace", done_text="8 tokens")
    w.wait_text(HIDDEN)
    step(w, "7 · softmax")
    w.panel.get_by_role("radio", name="dogs", exact=True).wait_for(timeout=REDRAW_MS)
    w.shot("predict new trace asks again")


def test_a_lesson_end_to_end(lesson_walk):
    w = lesson_walk
    errors = []
    w.page.on("pageerror", lambda e: errors.append(str(e)))     # e.g. plotly.js failing a redraw
    w.assert_no_error_pill()
    assert "Why divide by √d?" in w.text()                   # the list of lessons
    w.shot("fresh page")
    w.close_toasts()
    w.button("Check my answer").click()
    w.expect_message("Pick a lesson first")

    w.pick("Lesson", "What one head computes")
    w.wait_text("Predict first: In this head, which token does “it” give the most weight to?")
    w.settle(started=True)
    w.wait_text("Answer the question first")
    assert not w.plots()
    w.shot("lesson opened")
    answer(w, "cat")
    w.button("Check my answer").click()
    w.wait_text("Measured on the real model", timeout=REDRAW_MS)
    text = w.text()
    assert "✅ Right" in text and "gives 0.38 of its attention to “cat”" in text
    assert "Why:" in text and "Try this next:" in text and "Answer the question first" not in text
    step_plot(w, "Softmax: weights of “it”")
    w.shot("lesson answered")

    # every other lesson opens, reveals its measured answer and draws its picture
    for title in [t for t in w.options("Lesson") if t != "What one head computes"]:
        w.pick("Lesson", title)
        w.wait_text("Answer the question first")
        w.settle(started=True)
        w.panel.get_by_role("radio").filter(visible=True).first.check()
        w.button("Check my answer").click()
        w.wait_text("Measured on the real model", timeout=REDRAW_MS)
        w.wait_plot("p.drawn && p.traces > 0")
        w.assert_no_error_pill()
    w.shot("last lesson answered")
    assert not errors, errors
    w.pick("Lesson", "What one head computes")
    w.wait_text("Answer the question first")
    w.settle(started=True)
    answer(w, "cat")
    w.button("Check my answer").click()
    w.wait_text("Measured on the real model", timeout=REDRAW_MS)

    # "try it" sets up How attention works and traces the lesson's head there
    w.button("Try it in “How attention works”").click()
    w.panel = w.page.locator("[role=tabpanel]:visible").first
    w.page.wait_for_function("() => document.body.innerText.includes('layer 4, head 3 of 12')",
                             timeout=REDRAW_MS * 4)
    w.settle()
    assert w.dropdown_value("Query token") == "it (8)"
    step_plot(w, "Softmax: weights of “it”")
    w.assert_no_error_pill()
    w.shot("lesson tried in the attention tab")
