"""The Fusion tab's captioner: its "Remove cross-attention heads" section walked in Chromium on
a fresh page and after handled errors (its own module: the screenshots are named
captionlab-*)."""
from __future__ import annotations

from browser_helpers import REDRAW_MS, Walk, walk_fixture

walk = walk_fixture("captionlab", "Fusion")

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
    w.expect_message("Name the cross-attention heads to remove", "Pick heads", where=LAB)
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
