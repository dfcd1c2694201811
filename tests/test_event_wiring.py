"""How the app's events are wired, read from the built app: races that a browser walk meets
only by chance on a busy machine, checked here every time.

Two controls that redraw the same figure through two separate events send two requests that
may finish in either order; the answer for the older values can land last and stay on screen
while the sliders show the newer ones (seen: the fusion tab's patch map said r2c3 after the
column was set to 5). One event per figure, "always_last", cannot do that."""
from __future__ import annotations

from collections import defaultdict

import pytest

VALUE_EVENTS = {"input", "change", "release"}


@pytest.fixture(scope="module")
def demo():
    from mminspect.ui import build_app
    return build_app()


def value_redraws(demo) -> list:
    """The events with a Python handler that only controls' value events trigger."""
    return [f for f in demo.fns.values() if f.fn is not None and f.targets
            and {event for _, event in f.targets} <= VALUE_EVENTS]


def test_one_event_per_handler_and_figure(demo):
    groups = defaultdict(list)
    for f in value_redraws(demo):
        groups[(f.name, tuple(sorted(o._id for o in f.outputs)))].append(f)
    split = {name: len(fns) for (name, _), fns in groups.items() if len(fns) > 1}
    assert split == {}, f"handlers wired as several events onto the same outputs: {split}"


def test_every_event_with_several_controls_keeps_only_the_last_values(demo):
    shared = [f for f in value_redraws(demo) if len(f.targets) > 1]
    # the tabs whose sliders redraw one figure: text, attention, CLIP, compare, fusion (both
    # sub-tabs), T5 and VLM, dataset filters
    assert len(shared) >= 10, [f.name for f in shared]
    wrong = [f.name for f in shared if f.trigger_mode != "always_last"]
    assert wrong == [], wrong


def test_the_sub_tab_on_screen_is_not_redrawn_when_clicked_again():
    """gradio fires the visible sub-tab's select again when the Text tab itself is clicked;
    its layer and head were read when the click was sent, so at page load they could be the
    sliders' zeros while the first view sets layer 0, head 2: redrawing then put the outline
    on head 0 under sliders that said head 2."""
    import mminspect as mi
    from mminspect.ui import text_tab
    from mminspect.ui.context import AppContext

    view = mi.inspect_text("minilm", "The cat sat on the mat.")
    state = {"view": view}
    open_grid = text_tab.make_on_open("grid")
    assert open_grid(AppContext(), state, "grid", 0, 0, False) == {"panel": "grid"}
    switched = open_grid(AppContext(), state, "onehead", 3, 5, False)
    assert set(switched) == {"panel", "grid"} and switched["panel"] == "grid"
    outline = switched["grid"].layout.shapes
    assert len(outline) == 1                       # drawn for the values it was sent: (3, 5)
    step = (len(switched["grid"].data[0].z) + 1) // view.attention.n_layers
    assert (outline[0].y0, outline[0].x0) == pytest.approx((3 * step - 0.8, 5 * step - 0.8))
