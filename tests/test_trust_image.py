"""The Image–text tab's sanity-check panel (ui/trust_image.py), called as gradio calls it:
a check on the last Inspect's image and prompt draws one curve per method, and each problem
(no method, no Inspect yet, no prompt) is a message that leaves every other output alone."""
from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest  # noqa: E402

import mminspect as mi  # noqa: E402
from mminspect.ui import trust_image  # noqa: E402
from mminspect.ui.context import default_context  # noqa: E402
from mminspect.ui.events import bind  # noqa: E402

OUT = ["isanity_plot", "isanity_summary", trust_image.MESSAGE]


@pytest.fixture(scope="module")
def run():
    return bind(trust_image.on_image_sanity, default_context(), OUT, trust_image.MESSAGE)


@pytest.fixture(scope="module")
def state():
    ex = mi.api.load_example(mi.api.list_examples()[0])
    return {"image": ex.image, "example": ex.title}, ex.prompts[0]


def test_image_sanity_draws_one_curve_per_method_with_its_verdict(run, state):
    st, prompt = state
    fig, summary, message = run("miniclip", "", st, prompt, ["relevance", "raw_attention"])
    assert message == ""
    assert [t.name.split(":")[0] for t in fig.data] == ["Relevance (Chefer et al. 2021)",
                                                       "Last-layer CLS attention"]
    assert len(fig.data[0].x) == len(mi.load("miniclip").model.visual.blocks) + 1
    assert "Relevance" in summary and "threshold" in summary and "random target" in summary
    # the curve is the check's own numbers (the same seed gives the same check)
    check = mi.sanity_check("miniclip", image=st["image"], prompt=prompt, method="relevance")
    assert list(fig.data[0].y) == pytest.approx(
        [max(a, b) for a, b in zip(check.spearman, check.spearman_abs)])


@pytest.mark.parametrize("case, expect", [
    ("no method", "Choose at least one method"),
    ("no inspect", "Press Inspect first"),
    ("no prompt", "Pick a prompt"),
])
def test_image_sanity_problems_are_messages_and_keep_the_page(run, state, case, expect):
    st, prompt = state
    args = {"no method": (st, prompt, []), "no inspect": (None, prompt, ["relevance"]),
            "no prompt": (st, None, ["relevance"])}[case]
    values = run("miniclip", "", *args)
    assert expect in values[-1]
    assert all(v == {"__type__": "update"} for v in values[:-1]), values    # gr.skip()
