"""The "T5 & VLM" tab walked in Chromium as a person would, on tiny random checkpoints built
here and opened by typing their folder (nothing downloaded). Each sub-tab: on a fresh page the
curated hub model is refused offline with a message (a handled error first), then the tiny
model runs; every control redraws (layer, head, written token, the sub-tabs); an empty input
and a bad upload are refused and keep every result drawn, with no gradio "Error" pill."""
from __future__ import annotations

import pytest
from browser_helpers import MODEL_MS, REDRAW_MS, Walk, walk_fixture
from test_t5 import build_tiny_t5
from test_vlm import build_tiny_llava, picture

walk_t5 = walk_fixture("seq2seq-t5", "T5 & VLM")          # screenshots seq2seq-t5-*.png
walk_vlm = walk_fixture("seq2seq-vlm", "T5 & VLM")        # screenshots seq2seq-vlm-*.png
CUSTOM = "…or a Hugging Face id / local folder"
T5 = ".mm-s2s"
VLM = ".mm-vlm"


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    return {"t5": build_tiny_t5(tmp_path_factory.mktemp("browser_t5")),
            "llava": build_tiny_llava(tmp_path_factory.mktemp("browser_llava"))}


def title(w: Walk, start: str) -> dict:
    return w.wait_plot(f"p.title.startsWith({start!r})", timeout=REDRAW_MS)


def refused(w: Walk, where: str, words: str, shot: str) -> None:
    """Run, and the view's message line (and a toast) says `words`; no Error pill."""
    w.button("Run").first.click()
    w.expect_message(words, where=where)
    w.shot(shot)
    w.close_toasts()


def ran(w: Walk, where: str, done_text: str) -> None:
    """Run, and wait until `done_text` is on the tab and the message line is clear (a run's
    success clears an earlier error's message: after an error, that is the sign it ran)."""
    w.button("Run").first.click()
    w.wait_text(done_text)
    w.page.wait_for_function("el => el.innerText.trim() === ''", timeout=MODEL_MS,
                             arg=w.panel.locator(f"[data-testid=markdown]{where}").element_handle())
    w.settle(started=True)
    w.assert_no_error_pill()


def test_t5_view_walk(walk_t5, folders):
    w = walk_t5
    w.subtab("Encoder–decoder (T5)")
    models = w.options("Model")
    assert any(m.startswith("T5 small") for m in models), models
    w.shot("fresh page t5")
    w.assert_no_error_pill()

    # ---- a handled error first: the hub model cannot be fetched here ---------------------
    refused(w, T5, "not available offline", "error hub model offline")
    assert w.plots() == []

    # ---- the tiny T5 by its folder: the model writes ------------------------------------
    w.type_into(CUSTOM, str(folders["t5"]))
    w.type_into("Source text (the encoder reads it)", "the cat sat on the mat")
    ran(w, T5, "Written (")
    fig = title(w, "Cross-attention, decoder layer 1, heads averaged")
    # labels are the user's text, escaped for plotly (which shows "</s>" on screen)
    assert fig["types"] == ["heatmap"] and fig["x"][-1] == "&lt;/s&gt;", fig
    title(w, "What ")                                       # the first written token, head by head
    w.shot("t5 written cross attention")

    # ---- head, layer and written token redraw -------------------------------------------
    w.pick("Head", "head 1")
    title(w, "Cross-attention, decoder layer 1, head 1")
    w.set_slider("Decoder layer", 0)
    title(w, "Cross-attention, decoder layer 0, head 1")
    tokens = w.options("Written token")
    assert tokens[0].startswith("0: ") and len(tokens) >= 2, tokens
    w.pick("Written token", tokens[1])
    title(w, "What ")
    w.wait_plot("p.title.includes('(written token 1) read, layer 0')")
    w.shot("t5 layer 0 head 1 token 1")

    # ---- a given target, then the other views -------------------------------------------
    w.type_into("Target text (empty: the model writes it)", "the big house")
    ran(w, T5, "Target (4 tokens; given")
    w.subtab("Encoder self-attention")
    title(w, "Encoder self-attention, layer 0, head 1")
    w.shot("t5 encoder")
    w.subtab("Decoder self-attention")
    fig = title(w, "Decoder self-attention, layer 0, head 1")
    assert fig["x"][0] == "&lt;pad&gt;", fig["x"]                  # the start token
    w.shot("t5 decoder")
    w.subtab("Logit lens")
    fig = title(w, "Logit lens over the decoder")
    assert fig["zrows"] == 2, fig                                   # two decoder layers
    w.shot("t5 logit lens")

    # ---- a handled error after results: they stay ---------------------------------------
    before = len(w.plots())
    w.type_into("Source text (the encoder reads it)", "   ")
    refused(w, T5, "source text is empty", "t5 error empty source keeps results")
    assert len(w.plots()) == before and "Target (4 tokens" in w.text()
    w.type_into("Source text (the encoder reads it)", "a dog is on the big mat")
    ran(w, T5, "Source: 8 tokens")                        # 7 words and </s>
    w.subtab("Cross-attention")
    title(w, "Cross-attention, decoder layer 0, head 1")
    w.shot("t5 after the error")
    w.assert_no_error_pill()


def test_vlm_view_walk(walk_vlm, folders, tmp_path):
    w = walk_vlm
    w.subtab("Vision–language (LLaVA)")
    models = w.options("Model")
    assert any(m.startswith("LLaVA-Interleave") for m in models), models
    w.shot("fresh page vlm")

    refused(w, VLM, "not available offline", "error hub vlm offline")

    # ---- the tiny LLaVA by its folder ---------------------------------------------------
    w.type_into(CUSTOM, str(folders["llava"]))
    w.type_into("Prompt", "what is in the picture ?")
    ran(w, VLM, "16 image tokens")
    heads = w.gallery("Head by head", n=4)
    assert [h["caption"].split(" · ")[0] for h in heads] == [f"head {i}" for i in range(4)]
    assert all(h["loaded"] for h in heads) and heads[0]["caption"].endswith("on image")
    fig = title(w, "Attention of ")
    assert fig["zrows"] == 2 and fig["x"] == ["head 0", "head 1", "head 2", "head 3"], fig
    w.shot("vlm token map and heads")

    # ---- layer, head, written token -----------------------------------------------------
    w.wait_text("read: layer 1, heads averaged", REDRAW_MS)       # the map's own label
    w.set_slider("Layer", 0)
    w.wait_text("read: layer 0, heads averaged", REDRAW_MS)
    w.pick("Head", "head 2")
    w.wait_text("read: layer 0, head 2", REDRAW_MS)
    tokens = w.options("Written token")
    assert len(tokens) >= 2 and tokens[0].startswith("0: "), tokens
    w.pick("Written token", tokens[1])
    title(w, f"Attention of '{tokens[1].split(': ', 1)[1]}' (written token 1)")   # a plain word
    w.shot("vlm layer 0 head 2 token 1")

    w.subtab("Logit lens")
    fig = title(w, "Logit lens at the image tokens, layer 0")
    assert fig["zrows"] == 4, fig                                    # the 4 x 4 patch grid
    title(w, "Logit lens at the text positions")
    w.shot("vlm logit lens")

    # ---- handled errors keep the results ------------------------------------------------
    before = len(w.plots())
    w.type_into("Prompt", "")
    refused(w, VLM, "prompt is empty", "vlm error empty prompt keeps results")
    assert len(w.plots()) == before and "16 image tokens" in w.text()
    bad = tmp_path / "notes.png"
    bad.write_text("not a picture\n")
    w.panel.locator("input[type=file]").filter(visible=False).last.set_input_files(str(bad))
    w.type_into("Prompt", "a red star")
    refused(w, VLM, "uploaded image", "vlm error bad upload keeps results")
    assert len(w.plots()) == before

    # ---- after the errors: an uploaded picture, then an example picture ------------------
    good = tmp_path / "picture.png"
    picture(3).resize((64, 64)).save(good)
    upload = w.panel.locator(".block").filter(has=w.page.locator(
        "[data-testid=block-label]:text-is('…or upload an image (PNG, JPEG, GIF, BMP, WebP)')"))
    upload.get_by_role("button", name="Clear").first.click()       # the bad file is still listed
    preview = w.panel.locator(".block").filter(
        has=w.page.locator("[data-testid=block-label]:text-is('Picture')")).locator("img").first
    preview.wait_for(timeout=REDRAW_MS)                  # the example's picture is back
    example_src = preview.get_attribute("src")
    w.panel.locator("input[type=file]").filter(visible=False).last.set_input_files(str(good))
    w.page.wait_for_function("([img, old]) => img.src !== old", timeout=REDRAW_MS,
                             arg=[preview.element_handle(), example_src])   # the upload shown
    ran(w, VLM, "sequence of 19 prompt tokens")           # 16 image tokens and 3 words
    w.shot("vlm uploaded picture")
    options = w.options("Example picture")
    w.pick("Example picture", options[1])                 # picking an example empties the upload
    w.type_into("Prompt", "the cat")
    ran(w, VLM, "sequence of 18 prompt tokens")           # 16 image tokens and 2 words
    w.subtab("Written token → patches")
    w.gallery("Head by head", n=4)
    w.shot("vlm after the errors")
    w.assert_no_error_pill()
