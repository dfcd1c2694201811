"""The Text tab walked in Chromium as a person would: the first view (the example inspected on
page load, on an instructive head), Inspect, every sub-tab, both sliders,
the special-token toggle, bertviz; then handled errors (empty text, a hub model that is not
available offline, a model id that cannot load) that must leave every result drawn and show
no gradio "Error" pill; a slider still redraws after them; a normal run works again."""
from __future__ import annotations

import mminspect as mi
from browser_helpers import MODEL_MS, REDRAW_MS, Walk, block_text, walk_fixture
from mminspect.api.text import instructive_head

LABEL = "Prediction: zero-shot / class / next-token probabilities"
SUMMARY = "Cosine similarity to the second text"
COMPARE = "Second text (optional, sentence-embedding models): cosine similarity"

walk = walk_fixture("text", "Text")


def one_head(walk: Walk, layer: int, head: int) -> dict:
    return walk.wait_plot(f"p.title.startsWith('Layer {layer}, head {head}')")


def outline(walk: Walk, layer: int, head: int, n_layers: int = 6, timeout: int | None = None) -> dict:
    """Wait until the model view's red outline sits on (layer, head): the grid is one tiled
    heatmap with `step` rows per layer (cells + a gutter), the outline 0.8 before its cell."""
    return walk.wait_plot(
        f"p.shapes.length === 1 && p.zrows > 0 && ((step) => "
        f"Math.abs(p.shapes[0][1] - ({layer} * step - 0.8)) < 1e-6 && "
        f"Math.abs(p.shapes[0][0] - ({head} * step - 0.8)) < 1e-6)((p.zrows + 1) / {n_layers})",
        **({"timeout": timeout} if timeout else {}))


def test_text_tab_walk(walk):
    w = walk
    # ---- the first view: the example already inspected, on an instructive head ----
    w.wait_text(SUMMARY)                                  # no click: drawn on page load
    w.wait_text("The example was inspected for you")
    view = mi.inspect_text("minilm", w.textbox("Text").input_value(),
                           compare_to=w.textbox(COMPARE).input_value())
    layer, head, why = instructive_head(view.attention)
    assert (layer, head) != (0, 0) and why.split(":")[0] in w.text()
    # the page's first figure: drawn on load, late on a machine busy with the whole suite
    outline(w, layer, head, timeout=MODEL_MS)
    assert w.slider_value("Layer") == layer and w.slider_value("Head") == head
    assert f"{view.prediction.similarity:.3f}" in w.text()
    assert "tab=" not in w.page.url            # the defaults are not written as a link
    w.assert_no_error_pill()
    w.shot("fresh page first view")
    models = w.options("Model")
    assert models[0].startswith("all-MiniLM-L6-v2")
    offline = [m for m in models if "not available offline" in m]
    assert any(m.startswith("GPT-2 small") for m in offline), models

    # ---- Inspect with the default inputs: the model view is drawn first ----
    w.run("Inspect", done_text=SUMMARY)
    assert w.message() == ""
    text = w.text()
    assert "13 tokens" in text and "6 layers × 12 heads" in text, text
    assert "animals" in block_text(w, LABEL)
    grid = w.wait_plot("p.types[0] === 'heatmap' && p.drawn")
    assert grid["annotations"][:2] == ["H0", "H1"] and "L5" in grid["annotations"]
    outline(w, layer, head)                        # Inspect keeps the sliders where they are
    label_before = block_text(w, LABEL)
    w.shot("inspect model view")

    # ---- sliders: typed into the number box, then arrow keys on the track ----
    w.set_slider("Layer", 3)
    w.set_slider("Head", 0)
    outline(w, 3, 0)
    w.step_slider("Head", 5)
    outline(w, 3, 5)
    w.shot("model view layer 3 head 5")

    # ---- every sub-tab draws when opened; the sliders redraw the visible one ----
    w.subtab("One head")
    one_head(w, 3, 5)
    w.step_slider("Head", 1)
    one_head(w, 3, 6)
    w.set_slider("Layer", 4)
    fig = one_head(w, 4, 6)
    assert "[CLS]" in fig["x"] and "[SEP]" in fig["x"]
    w.shot("one head layer 4 head 6")

    w.subtab("Head view")
    fig = w.wait_plot("p.title.startsWith('Layer 4:')")
    # one legend entry + 3 line traces per head, then the two label columns; head 6 is shown
    assert fig["traces"] == 12 * 4 + 2
    assert fig["visible"][6 * 4] is True and fig["visible"][0] == "legendonly"
    w.step_slider("Layer", -2)
    w.wait_plot("p.title.startsWith('Layer 2:')")
    w.shot("head view layer 2")

    # ---- the special-token toggle redraws the visible panel (and the others on opening) ----
    w.panel.get_by_label("Hide special tokens ([CLS], [SEP])").check()
    fig = w.wait_plot("p.title.includes('special tokens hidden')")
    assert "rows renormalised" in fig["title"]
    w.subtab("One head")
    fig = one_head(w, 2, 6)
    assert "rows renormalised" in fig["title"] and "[CLS]" not in fig["x"], fig
    w.shot("one head special tokens hidden")

    w.subtab("Head summary")
    w.wait_plot("p.traces === 6 && p.types.every(t => t === 'heatmap')")
    w.shot("head summary")

    w.subtab("Rollout")
    # wait for the redraw with the toggle applied: a busy machine can show the figure drawn
    # before the toggle for a moment (seen once in CI), and a stale one must not pass
    fig = w.wait_plot("p.traces === 2 && p.types[1] === 'bar' && !p.x.includes('[CLS]')")
    assert "[CLS]" not in fig["x"] and "cat" in fig["x"], fig        # special tokens hidden
    w.panel.get_by_label("Hide special tokens ([CLS], [SEP])").uncheck()
    w.wait_plot("p.traces === 2 && p.x.includes('[CLS]')")
    w.shot("rollout special tokens shown")

    w.subtab("Hidden-state norms")
    w.wait_plot("p.traces === 1 && p.x.includes('[CLS]') && p.zrows === 7")
    w.shot("hidden state norms")

    w.subtab("Layer by layer")
    w.settle(REDRAW_MS)
    # MiniLM is a sentence-embedding model: no output head, so no logit lens; the panel says why
    assert "Only for masked and causal language models" in w.text()
    w.wait_plot("p.annotations.some(a => a.includes('sentence encoder'))")
    assert w.message() == ""
    w.shot("layer by layer embedding model")

    w.subtab("bertviz (needs internet)")
    assert "It needs internet in your browser" in w.text()      # said before anything loads
    w.button("Show bertviz (loads from the internet)").click()
    frame = w.panel.locator("iframe[sandbox='allow-scripts']")
    frame.wait_for(state="attached", timeout=REDRAW_MS)
    head_doc = frame.get_attribute("srcdoc")
    inside = w.panel.frame_locator("iframe[sandbox='allow-scripts']")
    inside.locator("#mm-bv-status", has_text="needs internet").wait_for(timeout=REDRAW_MS)
    # this machine has no internet: after its check the frame says so instead of staying blank
    inside.locator("#mm-bv-status", has_text="could not load its libraries").wait_for(
        timeout=REDRAW_MS)
    w.shot("bertviz offline says so")
    w.panel.get_by_label("model view", exact=True).check()
    w.button("Show bertviz (loads from the internet)").click()
    w.page.wait_for_function("([f, old]) => f.getAttribute('srcdoc') !== old",
                             arg=[frame.element_handle(), head_doc], timeout=REDRAW_MS)
    w.settle(REDRAW_MS)
    w.assert_no_error_pill()
    w.shot("bertviz model view")

    # ---- handled errors: a message, no Error pill, every result still drawn ----
    w.subtab("One head")
    one_head(w, 2, 6)
    w.type_into("Text", "")
    w.run("Inspect")
    w.expect_message("The text is empty")
    assert block_text(w, LABEL) == label_before
    assert SUMMARY in w.text() and "13 tokens" in w.text()
    assert w.slider_value("Layer") == 2 and w.slider_value("Head") == 6
    one_head(w, 2, 6)
    w.shot("error empty text")

    # a slider still redraws after an error (the view is the last good one)
    w.set_slider("Layer", 1)
    one_head(w, 1, 6)
    w.shot("slider after error")

    w.type_into("Text", "The cat sat on the mat because it was warm.")
    w.pick("Model", "GPT-2 small")
    assert "not available offline" in w.dropdown_value("Model")
    w.close_toasts()
    w.run("Inspect")
    w.expect_message("GPT-2 small is not available offline")
    assert block_text(w, LABEL) == label_before and SUMMARY in w.text()
    one_head(w, 1, 6)
    w.shot("error model not available offline")

    w.pick("Model", "all-MiniLM-L6-v2")
    custom = w.textbox("…or a Hugging Face id / local folder")
    if custom.is_visible():          # the box is on unless the host turned it off
        w.type_into("…or a Hugging Face id / local folder", "someone/not-cached-model")
        w.close_toasts()
        w.run("Inspect")
        w.expect_message("Could not load", "someone/not-cached-model")
        assert block_text(w, LABEL) == label_before and SUMMARY in w.text()
        w.subtab("Model view")
        outline(w, 1, 6)
        w.shot("error model cannot load")
        w.type_into("…or a Hugging Face id / local folder", "")

    # ---- a normal run works again: new text, the temperature slider moved ----
    w.close_toasts()
    w.type_into("Text", "Dogs bark loudly at night.")
    w.set_slider("Zero-shot temperature", 1)
    w.run("Inspect", done_text="temperature 1 ")
    assert w.message() == ""
    assert "8 tokens" in w.text(), w.text()
    assert block_text(w, LABEL) != label_before
    w.subtab("Model view")
    outline(w, 1, 6)
    w.assert_no_error_pill()
    w.shot("normal run again")
