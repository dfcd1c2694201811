"""The Image–text tab walked in Chromium as a person would: the first view (mini-CLIP 2's
everyday example, drawn when the tab opens, best match first on each map's own scale, the
shared scale one click away with its note), then Inspect a mini-CLIP scene, every
sub-tab (contrast dropdowns, every method with its gallery and table, the attention sliders,
query list and a click on the image, the prompt attention list), the example list, the
template, extra images; then handled errors (a text file renamed .png, no prompts, a hub
model that is not available offline, A = B) that leave every result drawn and show no gradio
"Error" pill; a rejected upload empties the preview and Inspect then refuses (no old picture
analysed), as it does once the upload is cleared; the attention sliders still redraw; a normal
run with an uploaded PNG works; a prompt with an emoji is flagged as [UNK]. Also a phone-width
page (390 x 844): maps two a row, whole, captions not cut, nothing wider than the screen."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

from browser_helpers import REDRAW_MS, Walk, block_text, walk_fixture
from phone_helpers import PHONE, open_tab, phone_walk

from mminspect import api

EXAMPLES = api.list_examples()
SCENE = api.load_example(EXAMPLES[0])
FIRST = next(t for t in EXAMPLES if api.load_example(t).model == "miniclip2")
FIRST_EX = api.load_example(FIRST)
PREVIEW = "Image the model sees (before its own resize)"
OWN_NOTE = "so every map is equally bright"          # the note over maps on their own scale
IMAGE_METHODS = api.list_image_methods()
PROBS = "Probabilities"

walk = walk_fixture("image", "Image–text")


def png(image) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.asarray(image, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def image_src(w: Walk, label: str) -> str:
    """The picture shown by the gr.Image labelled `label` ('' when empty)."""
    block = w.panel.locator(".block").filter(
        has=w.page.locator(f"[data-testid=block-label]:text-is('{label}')")).last
    img = block.locator("img")
    return img.first.get_attribute("src") if img.count() else ""


def wait_new_src(w: Walk, label: str, old: str) -> str:
    block = w.panel.locator(".block").filter(
        has=w.page.locator(f"[data-testid=block-label]:text-is('{label}')")).last
    w.page.wait_for_function(
        "([b, old]) => { const i = b.querySelector('img'); return i && i.src && i.src !== old "
        "&& i.complete && i.naturalWidth > 0; }",
        arg=[block.element_handle(), old], timeout=REDRAW_MS)
    return image_src(w, label)


def assert_gallery(w: Walk, label: str, captions: list[str]) -> None:
    """Every map of gallery `label` is on screen whole, loaded, with its own caption."""
    items = w.gallery(label, n=len(captions))
    assert [i["caption"] for i in items] == captions, items
    assert all(i["inside"] and i["loaded"] for i in items), items


def prompt_of(caption: str) -> str:
    """'★ a snail · p = 1.00' -> 'a snail'."""
    return caption.removeprefix("★ ").split(" · p = ")[0]


def assert_best_first(w: Walk, prompts: list[str]) -> list[str]:
    """The relevance maps: one per prompt, most probable first (starred), the summary's best
    match; their captions returned."""
    rel = [i["caption"] for i in w.gallery("Relevance", n=len(prompts))]
    assert sorted(prompt_of(c) for c in rel) == sorted(prompts), rel
    assert rel[0].startswith("★ ") and not any(c.startswith("★") for c in rel[1:]), rel
    assert f"best match: {prompt_of(rel[0])}" in w.text(), rel
    assert_gallery(w, "Relevance", rel)
    return rel


def wait_no_preview(w: Walk) -> None:
    block = w.panel.locator(".block").filter(
        has=w.page.locator(f"[data-testid=block-label]:text-is('{PREVIEW}')")).last
    w.page.wait_for_function("b => !b.querySelector('img')", arg=block.element_handle(),
                             timeout=REDRAW_MS)


def more_images(w: Walk, n: int) -> None:
    """Wait until the extra-images gallery shows `n` pictures (hidden when there are none)."""
    w.page.wait_for_function(
        "([el, n]) => [...el.querySelectorAll('.grid-wrap img')].filter(i => i.offsetParent && "
        "i.complete && i.naturalWidth > 0).length === n", arg=[w.panel.element_handle(), n],
        timeout=REDRAW_MS)


def test_image_text_tab_walk(walk, tmp_path):
    w = walk
    # ---- the first view: mini-CLIP 2's everyday example, drawn on opening (no Inspect) ----
    assert w.dropdown_value("Example") == FIRST
    assert w.dropdown_value("Model").startswith("mini-CLIP 2")
    assert w.textbox("Prompts, one per line").input_value() == "\n".join(FIRST_EX.prompts)
    w.wait_text("best match")
    w.settle(started=True)
    assert w.message() == "" and "mini-CLIP 2" in w.text()
    w.assert_no_error_pill()
    w.shot("fresh page first view")
    w.subtab("Why this label")
    first_rel = assert_best_first(w, FIRST_EX.prompts)
    assert OWN_NOTE in w.text()
    assert "weigh about the same" in w.text()               # flat word maps say so
    w.shot("first view why this label own scale")
    # one shared scale: the note says which prompt is brighter and why (not the winner)
    w.panel.get_by_label("one shared scale", exact=True).check()
    w.wait_text("Relevance sizes follow the gradients", REDRAW_MS)
    assert OWN_NOTE not in w.text()
    assert [i["caption"] for i in w.gallery("Relevance", n=len(first_rel))] == first_rel
    w.shot("first view why this label shared scale")
    w.panel.get_by_label("each map on its own scale", exact=True).check()
    w.wait_text(OWN_NOTE, REDRAW_MS)
    w.subtab("Prediction")

    # ---- a mini-CLIP scene: its example, then its model ----
    w.pick("Example", EXAMPLES[0])
    w.page.wait_for_function("el => el.value.includes('a red star')",
                             arg=w.textbox("Prompts, one per line").element_handle(),
                             timeout=REDRAW_MS)
    w.pick("Model", "mini-CLIP")
    offline = [m for m in w.options("Model") if "not available offline" in m]
    assert any(m.startswith("OpenAI CLIP ViT-B/32") for m in offline)
    w.shot("scene picked")

    # ---- Inspect the scene ----
    w.run("Inspect", done_text="best match: a green star")
    assert w.message() == ""
    probs = block_text(w, PROBS)
    assert "a green star" in probs
    w.wait_plot("p.traces === 3 && p.types.every(t => t === 'bar') && p.drawn")
    w.wait_plot("p.types[0] === 'heatmap' && p.zrows === 1")            # images x prompts
    w.shot("inspect prediction")

    w.subtab("Why this label")
    rel = assert_best_first(w, SCENE.prompts)                  # "★ a green star · p = 0.89"
    assert_gallery(w, "Patch–text similarity", [prompt_of(c) for c in rel])
    w.shot("why this label")

    # ---- A rather than B: both lists filled by Inspect; B = A is refused ----
    w.subtab("A rather than B")
    a, b = w.dropdown_value("A"), w.dropdown_value("B")
    assert a == "a green star" and b == "a red star", (a, b)
    src = wait_new_src(w, "A − B", "")
    w.wait_text(f"logit({a}) − logit({b})")
    w.pick("B", "a blue star")
    w.wait_text(f"logit({a}) − logit(a blue star)", REDRAW_MS)
    src = wait_new_src(w, "A − B", src)
    w.shot("a rather than b")
    w.pick("B", a)
    w.expect_message("A and B are the same prompt")
    assert image_src(w, "A − B") == src and "logit(a green star) − logit(a blue star)" in w.text()
    w.shot("error a equals b")

    # ---- Every method on the prompt Inspect put in the list ----
    w.close_toasts()
    w.subtab("Every method")
    assert w.dropdown_value("Prompt") == a
    w.run("Run every method on this prompt", done_text="insertion area")
    assert w.message() == ""
    rows = w.panel.locator("[role=tabpanel]:visible table").first.locator("tr").all_inner_texts()
    assert len(rows) == 1 + len(IMAGE_METHODS), rows
    for m, row in zip(IMAGE_METHODS, rows[1:]):
        assert row.startswith(m["label"]), (m["label"], row)
        assert "✅" in row or "❌" in row, row        # the default scene's masks: pointing works
    assert_gallery(w, "Maps", [m["label"] for m in IMAGE_METHODS])
    w.shot("every method")

    # ---- attention over patches: sliders, query list, a click on the image ----
    w.subtab("Attention over patches")
    src = wait_new_src(w, "Attention", "")
    top_layer = w.slider_value("Layer")
    assert top_layer >= 1
    w.step_slider("Layer", -1)
    src = wait_new_src(w, "Attention", src)
    w.step_slider("Head", 1)
    src = wait_new_src(w, "Attention", src)
    assert (w.slider_value("Layer"), w.slider_value("Head")) == (top_layer - 1, 1)
    queries = w.options("Query token")
    assert len(queries) > 4
    w.pick("Query token", queries[3])
    src = wait_new_src(w, "Attention", src)
    img = w.panel.locator("[role=tabpanel]:visible img").first
    box = img.bounding_box()
    img.click(position={"x": box["width"] * 0.9, "y": box["width"] * 0.9})  # bottom-right patch
    w.page.wait_for_function(
        "([el, q]) => el.value !== q", arg=[w.panel.get_by_label("Query token").element_handle(),
                                            queries[3]], timeout=REDRAW_MS)
    src = wait_new_src(w, "Attention", src)
    w.shot("attention over patches")

    w.subtab("Prompt attention")
    w.wait_plot("p.types[0] === 'heatmap' && p.drawn && p.x.join(' ').includes('green')")
    w.pick("Prompt", SCENE.prompts[-1])
    w.wait_plot("p.x.join(' ').includes('circle')")           # "a red circle": its tokens
    w.shot("prompt attention")

    w.subtab("Embedding space")
    w.wait_plot("p.traces === 2 && p.types.every(t => t === 'scatter')")
    w.shot("embedding space")

    # ---- another example (a photo), a template, two more images and one taken away ----
    w.pick("Example", "photo: Chelsea the cat")
    w.page.wait_for_function("el => !el.value.includes('a red star')",
                             arg=w.textbox("Prompts, one per line").element_handle(),
                             timeout=REDRAW_MS)
    w.type_into("Template (optional), e.g. a photo of {}", "a picture of {}")
    extra = []
    for i, title in enumerate(EXAMPLES[1:3]):
        path = tmp_path / f"extra{i}.png"
        path.write_bytes(png(api.load_example(title).image))
        extra.append(str(path))
    w.panel.locator("input[type=file][multiple]").set_input_files(extra)
    more_images(w, 2)
    more = w.panel.locator(".block").filter(has=w.page.locator(
        "[data-testid=block-label]:text-is('More images (optional): an images × prompts matrix')"))
    more.get_by_role("button", name="Remove this file").last.click()     # one taken away again
    more_images(w, 1)
    w.settle()
    w.subtab("Prediction")
    w.run("Inspect", done_text="does not look like what")      # the photo is out of domain
    assert w.message() == ""
    w.wait_plot("p.types[0] === 'heatmap' && p.zrows === 2")    # two images x the prompts
    probs = block_text(w, PROBS)
    w.shot("photo template more images")

    # ---- handled errors: a message, no Error pill, every result still drawn ----
    prompts = w.textbox("Prompts, one per line").input_value()
    w.type_into("Prompts, one per line", "")
    w.close_toasts()
    w.run("Inspect")
    w.expect_message("No prompts")
    assert block_text(w, PROBS) == probs
    w.wait_plot("p.types[0] === 'heatmap' && p.zrows === 2")
    w.shot("error no prompts")

    w.type_into("Prompts, one per line", prompts)
    w.pick("Model", "OpenAI CLIP ViT-B/32")
    w.close_toasts()
    w.run("Inspect")
    w.expect_message("not available offline")
    assert block_text(w, PROBS) == probs
    w.shot("error model not available offline")

    # a rejected upload empties the preview (it no longer shows what would be analysed) ...
    w.pick("Model", "mini-CLIP")
    preview = image_src(w, PREVIEW)
    assert preview
    bad = tmp_path / "notes.png"
    bad.write_text("these are my lesson notes, not a picture\n")
    w.close_toasts()
    w.panel.locator("input[type=file]:not([multiple])").set_input_files(str(bad))
    w.expect_message("Could not read the uploaded image", "not an image")
    wait_no_preview(w)
    assert block_text(w, PROBS) == probs and "does not look like what" in w.text()
    w.wait_plot("p.types[0] === 'heatmap' && p.zrows === 2")
    w.shot("error upload not an image preview emptied")
    # ... and Inspect refuses instead of analysing the photo shown before
    w.close_toasts()
    w.run("Inspect")
    w.expect_message("No image to inspect")
    assert block_text(w, PROBS) == probs
    w.shot("error inspect after a rejected upload")

    # the views still answer after the errors
    w.subtab("Attention over patches")
    src = wait_new_src(w, "Attention", "")
    w.step_slider("Head", 1)
    wait_new_src(w, "Attention", src)
    w.assert_no_error_pill()
    w.shot("slider after errors")

    # ---- a normal run again: an uploaded PNG, the extra images cleared ----
    more.get_by_role("button", name="Clear").first.click()
    more_images(w, 0)
    scene = api.load_example(EXAMPLES[2])
    good = tmp_path / "scene.png"
    good.write_bytes(png(scene.image))
    upload = w.panel.locator(".block").filter(has=w.page.locator(
        "[data-testid=block-label]:text-is('Upload an image (PNG, JPEG, GIF, BMP, WebP)')"))
    upload.get_by_role("button", name="Clear").first.click()     # the bad file is still listed
    w.panel.locator("input[type=file]:not([multiple])").set_input_files(str(good))
    wait_new_src(w, PREVIEW, "")
    w.page.wait_for_function("el => el.value === ''", arg=w.control("Example").element_handle(),
                             timeout=REDRAW_MS)       # the list no longer names what is shown
    w.type_into("Prompts, one per line", "\n".join(scene.prompts))
    w.type_into("Template (optional), e.g. a photo of {}", "")
    w.close_toasts()
    w.subtab("Prediction")
    w.run("Inspect", done_text=f"best match: {scene.prompts[0]}")
    assert w.message() == "" and "does not look like what" not in w.text()
    w.wait_plot("p.types[0] === 'heatmap' && p.zrows === 1")
    w.assert_no_error_pill()
    w.shot("normal run again upload")

    # ---- another tab and back, with the Example list emptied by the upload: the tab's
    # opening event must take the empty list (it once refused it with an Error pill) ----
    w.page.get_by_role("tab", name="Text", exact=True).click()
    w.page.wait_for_timeout(500)
    w.page.get_by_role("tab", name="Image–text", exact=True).click()
    w.page.wait_for_timeout(1500)
    w.settle(started=True)
    w.assert_no_error_pill()
    assert w.message() == "" and f"best match: {scene.prompts[0]}" in w.text()
    w.shot("upload kept after switching tabs")

    # ---- the upload cleared by its ×, no example: nothing to analyse, Inspect says so ----
    probs = block_text(w, PROBS)
    upload.get_by_role("button", name="Clear").first.click()
    wait_no_preview(w)
    w.close_toasts()
    w.run("Inspect")
    w.expect_message("No image to inspect")
    assert block_text(w, PROBS) == probs
    w.shot("error inspect with the upload cleared")

    # ---- a mini-CLIP 2 everyday scene: the example picks its model; every method points ----
    world = [t for t in EXAMPLES if t.startswith("mini-CLIP 2")]
    assert len(world) == 4, EXAMPLES
    ex = api.load_example(world[0])
    w.pick("Example", world[0])
    w.page.wait_for_function("el => el.value.includes('mini-CLIP 2')",
                             arg=w.control("Model").element_handle(), timeout=REDRAW_MS)
    assert w.textbox("Prompts, one per line").input_value() == "\n".join(ex.prompts)
    assert "scene.png" not in upload.inner_text()      # the upload box no longer claims the image
    wait_new_src(w, PREVIEW, "")                          # the example's picture is back
    w.close_toasts()
    w.subtab("Why this label")
    w.run("Inspect", done_text="mini-CLIP 2")
    assert w.message() == "" and "does not look like what" not in w.text()
    assert_best_first(w, ex.prompts)
    w.shot("mini-CLIP 2 everyday scene relevance")
    w.subtab("Every method")
    named = list(ex.masks)[1]
    w.pick("Prompt", named)
    w.panel.get_by_text("Pointing game: which maps find the object").click()   # folded
    w.run("Run every method on this prompt", done_text="Pointing game, mini-CLIP 2")
    rows = w.panel.locator("[role=tabpanel]:visible table").first.locator("tr").all_inner_texts()
    assert len(rows) == 1 + len(IMAGE_METHODS) and all("✅" in r or "❌" in r for r in rows[1:]), rows
    assert "✅" in next(r for r in rows if r.startswith("Relevance")), rows   # on the named thing
    assert "world scenes" in w.text()                       # its own pointing table, not v1's
    assert_gallery(w, "Maps", [m["label"] for m in IMAGE_METHODS])
    w.assert_no_error_pill()
    w.shot("mini-CLIP 2 every method")


    # ---- a prompt the tokenizer cannot read: the words that became [UNK] are named ----
    w.subtab("Prediction")
    w.type_into("Prompts, one per line", "\n".join([*ex.prompts[:2], "a 🐌 snail"]))
    w.run("Inspect", done_text="[UNK]")
    assert "🐌" in w.text() and w.message() == ""
    w.assert_no_error_pill()
    w.shot("prompt with an emoji flagged unk")


def test_image_text_tab_on_a_phone(app_url, request):
    """390 x 844: the first view's maps two a row, whole and loaded, captions not cut, and no
    part of the tab wider than the screen (also with every method's maps)."""
    with phone_walk(request, app_url, "image-phone", "Image–text") as w:
        w.wait_text("best match")
        w.settle(started=True)
        open_tab(w.page, w.panel, "Why this label")
        rel = assert_best_first(w, FIRST_EX.prompts)
        assert_fits_the_screen(w, "Relevance", len(rel))
        w.shot("phone why this label")
        open_tab(w.page, w.panel, "Every method")
        w.run("Run every method on this prompt", done_text="insertion area")
        assert_fits_the_screen(w, "Maps", len(IMAGE_METHODS))
        w.assert_no_error_pill()
        w.shot("phone every method")


def assert_fits_the_screen(w: Walk, label: str, n: int) -> None:
    """Gallery `label` shows two maps a row, each whole and loaded, its caption not cut
    (wrapped, not ellipsed), and the page is no wider than the screen."""
    items = w.gallery(label, n=n)
    assert all(i["inside"] and i["loaded"] for i in items), items
    layout = w.panel.locator(".block").filter(has=w.page.locator(
        f"[data-testid=block-label]:text-is('{label}')")).last.evaluate("""b => {
        const items = [...b.querySelectorAll('.thumbnail-item')];
        const tops = new Set(items.slice(0, 4).map(t => Math.round(t.getBoundingClientRect().top)));
        return {rows_of_four: tops.size,
                cut: [...b.querySelectorAll('.caption-label')]
                     .filter(c => c.scrollWidth > c.clientWidth + 1).map(c => c.innerText),
                page: document.documentElement.scrollWidth};
    }""")
    assert layout["rows_of_four"] == 2, layout            # the first four maps: two rows of two
    assert layout["cut"] == [], layout
    assert layout["page"] <= PHONE["width"] + 1, layout
