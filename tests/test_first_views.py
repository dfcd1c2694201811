"""What a visitor sees first and what stays on the page after a new input, checked on the
handlers themselves (the browser walks check the same on the page): the Text tab opens on a
head chosen by a measured criterion and computed once per server; "How attention works" opens
on its lesson's head and query; the sliders follow the traced tower; the causal lab never
shows a scan of another text next to a new Inspect; links restore the Attributions sub-panel;
the empty "Layer by layer" panel and bertviz say why."""
from __future__ import annotations

import numpy as np
import pytest

import mminspect as mi
from mminspect.api import text as api_text
from mminspect.api.lens import why_no_lens
from mminspect.ui import attention_tab, causal_panel, links, text_tab
from mminspect.ui.context import default_context

TEXT = "The cat sat on the mat because it was warm."


@pytest.fixture(scope="module")
def ctx():
    return default_context()


def test_the_instructive_head_is_the_most_focused_head_not_parked_on_special_tokens(minilm):
    maps = mi.inspect_text(minilm, TEXT).attention
    layer, head, why = api_text.instructive_head(maps)
    w = maps.weights.astype(np.float64)                                 # [layer, head, q, k]
    ent = -(w * np.log(np.where(w > 0, w, 1))).sum(-1).mean(-1)        # [layer, head]
    parked = w[..., maps.special].sum(-1).mean(-1) >= api_text.PARKED_SHARE
    by_hand = np.unravel_index(np.argmin(np.where(parked, np.inf, ent)), ent.shape)
    assert (layer, head) == tuple(int(i) for i in by_hand)
    assert (layer, head) != (0, 0) and ent[layer, head] < ent[0, 0] - 1.0   # L0 H0 is nearly flat
    assert f"{ent[layer, head]:.2f} nats" in why


def test_the_text_tabs_first_view_is_computed_once_and_opens_on_that_head(ctx, monkeypatch):
    text_tab._FIRST_VIEW.clear()
    calls = []
    real = mi.api.inspect_text
    monkeypatch.setattr(mi.api, "inspect_text", lambda *a, **k: calls.append(1) or real(*a, **k))
    first = text_tab.first_view(ctx)
    again = text_tab.first_view(ctx)
    assert len(calls) == 1                          # 30 page loads, one model run
    view = first["state"]["view"]
    assert view.text == ctx.example_text and view.prediction.similarity is not None
    layer, head, _ = api_text.instructive_head(view.attention)
    assert first["layer"]["value"] == layer and first["head"]["value"] == head
    assert "inspected for you" in first["notes"] and first["grid"] is not None
    assert again["state"] is not first["state"]     # each page its own state dict
    # gradio consumes the update dicts it is given: a second page must get intact ones
    first["head"].clear()
    assert text_tab.first_view(ctx)["head"]["value"] == head
    assert first["state"]["inputs"] == causal_panel.input_key(
        "minilm", ctx.example_text, ctx.example_compare, ctx.example_labels, 0.05)


def test_how_attention_works_opens_on_the_lessons_head_and_query(ctx):
    lesson = next(les for les in mi.api.list_lessons() if les.measure == "top_key")
    attention_tab._FIRST_VIEW.clear()
    out = attention_tab.first_view(ctx)
    st = out["state"]
    tr = mi.trace_head("minilm", lesson.state.text, layer=lesson.state.layer, head=lesson.state.head)
    q = list(tr.tokens).index(lesson.state.query)
    assert (st["trace"].layer, st["trace"].head) == (lesson.state.layer, lesson.state.head)
    assert out["query"]["value"] == st["query"] == q and tr.tokens[q] == "it"
    assert tr.tokens[int(np.argmax(tr.weights[q]))] == "cat"            # the lesson's point
    assert out["step"] == lesson.state.panel and out["plot"] is not None
    assert st["revealed"] == set() and st is not attention_tab.first_view(ctx)["state"]


@pytest.mark.parametrize("name, tower, layers, heads", [("miniclip", "image", 4, 4),
                                                        ("miniclip", "text", 6, 12),
                                                        ("minilm", "text", 6, 12)])
def test_tower_shape_is_the_towers_own_range(name, tower, layers, heads):
    model = mi.load(name)
    assert api_text.tower_shape(model, tower) == (layers, heads)
    args = ({"image": mi.load_example(mi.list_examples()[0]).image, "tower": "image"}
            if tower == "image" else {"text": "a cat", **({"tower": "text"} if name != "minilm" else {})})
    assert mi.trace_head(model, layer=layers - 1, head=heads - 1, **args).n_heads == heads
    with pytest.raises(mi.InputError):
        mi.trace_head(model, layer=layers, head=0, **args)


def test_a_model_switch_moves_an_out_of_range_layer_into_the_tower(ctx):
    example = mi.list_examples()[0]
    out = attention_tab.on_trace(ctx, "miniclip", "", "image", TEXT, example, 5, 7, None,
                                 "softmax", False)
    assert out["layer"]["maximum"] == 3 and out["layer"]["value"] == 3
    assert out["head"]["maximum"] == 3 and out["head"]["value"] == 3
    assert "moved to layer 3, head 3" in out["summary"]
    assert out["state"]["trace"].layer == 3


def test_a_new_inspect_clears_the_causal_scan_of_the_previous_input(ctx):
    scan = causal_panel.on_scan(ctx, "minilm", "", TEXT, "A kitten.", "", 0.05, "similarity", "",
                                "zero", "special")
    assert "The cat sat on the mat" in scan["imp_summary"]      # the scan names its text
    same = {"inputs": causal_panel.input_key("minilm", TEXT, "A kitten.", "", 0.05)}
    assert causal_panel.on_inspected(ctx, same, scan["imp_state"], None) == {}
    other = {"inputs": causal_panel.input_key("minilm", "Dogs bark.", "A kitten.", "", 0.05)}
    out = causal_panel.on_inspected(ctx, other, scan["imp_state"], None)
    assert out["imp_state"] is None and out["imp_scatter"] is None and out["imp_result"] == ""
    assert "previous input" in out["imp_summary"] and "The cat sat on the mat" in out["imp_summary"]
    # patching depends on the model, second text and labels, not on the main text
    key = causal_panel.input_key("minilm", "", "A kitten.", "", 0.05)
    assert causal_panel.on_inspected(ctx, other, None, key) == {}
    new_compare = {"inputs": causal_panel.input_key("minilm", TEXT, "A dog.", "", 0.05)}
    out = causal_panel.on_inspected(ctx, new_compare, None, key)
    assert out["patch_key"] is None and "cleared" in out["patch_summary"]


def test_an_attributions_link_restores_its_sub_panel(ctx):
    from mminspect.ui import build_app
    build_app(ctx)                                  # wires the links (adds the panel field)
    fields = {f.key: f for f in links.LINKS["attributions"].fields}
    assert set(fields["panel"].choices) == {"map", "bar", "curves", "compare", "trust"}
    values, refused = links.read_link(ctx, {"panel": "curves", "text": "Hi"},
                                      links.LINKS["attributions"])
    assert not refused and values["tabs"].selected == "curves"
    _, refused = links.read_link(ctx, {"panel": "nope"}, links.LINKS["attributions"])
    assert refused and "is not one of" in refused[0]


def test_an_attention_link_carries_the_query_token(ctx):
    fields = {f.key: f for f in attention_tab.LINK.fields}
    values, refused = links.read_link(ctx, {"query": "8", "layer": "4"}, attention_tab.LINK)
    assert not refused and values["query"] == 8 and fields["query"].kind == "int"


def test_a_link_beyond_the_sliders_widens_them_and_the_run_says_where_it_showed(ctx):
    """?tab=text&layer=9&head=20: the Layer slider (0..5 when the page is built) cannot take 9,
    and its guard answered Inspect with an error pill. The link widens the range instead; the
    run draws the last layer and head of the model and says so."""
    values, refused = links.read_link(ctx, {"layer": "9", "head": "20"}, text_tab.LINK)
    assert not refused
    assert values["layer"]["value"] == 9 and values["layer"]["maximum"] == 9
    assert values["head"]["value"] == 20 and values["head"]["maximum"] == 20
    plain, _ = links.read_link(ctx, {"layer": "3"}, text_tab.LINK)
    assert plain["layer"] == 3                                   # within range: the value only
    out = text_tab.on_run(ctx, "minilm", "", TEXT, "A kitten.", "", 0.05, False, 9, 20)
    assert out["layer"]["value"] == 5 and out["layer"]["maximum"] == 5
    assert out["head"]["value"] == 11 and out["head"]["maximum"] == 11
    assert "Layer 9, head 20 is beyond this model" in out["notes"]
    assert "showing layer 5, head 11" in out["notes"]
    inside = text_tab.on_run(ctx, "minilm", "", TEXT, "A kitten.", "", 0.05, False, 2, 3)
    assert "beyond this model" not in inside["notes"]


def test_layer_by_layer_says_why_a_sentence_encoder_has_no_lens(minilm):
    view = mi.inspect_text(minilm, TEXT, logit_lens=True)
    assert view.lens is None
    reason = why_no_lens(view.model_name, view.prediction.kind)
    assert "sentence encoder" in reason and "head" in reason
    fig = text_tab._figure({"view": view, "rollout": None}, "lens", 0, 0, False)
    text = fig.layout.annotations[0].text.replace("<br>", " ")
    assert text == reason


def test_bertviz_says_it_needs_internet_before_it_loads(minilm):
    html = mi.bertviz_html(mi.inspect_text(minilm, "The cat sat."))
    notice = html.index("needs internet")
    assert notice < html.index("<script")                     # shown before any script runs
    assert "could not load its libraries" in html             # and if nothing was drawn


class _Request:
    def __init__(self, **query):
        self.query_params = query


def test_a_link_keeps_its_own_tab_and_the_other_tabs_still_open_on_their_first_view(ctx):
    plain = links.on_first_views(ctx, _Request())
    assert {k.split(":")[0] for k in plain} == {"text", "attention"}
    to_text = links.on_first_views(ctx, _Request(tab="text", text="Hi"))
    assert not any(k.startswith("text:") for k in to_text) and "attention:state" in to_text
    to_lesson = links.on_first_views(ctx, _Request(tab="lessons", lesson="x"))
    assert not any(k.startswith("attention:") for k in to_lesson) and "text:state" in to_lesson


def test_the_quiet_address_bar_covers_exactly_the_tabs_the_first_views_fill():
    """While the first views fill their tabs, only those tabs' link writers stay quiet: a link
    to another tab (Attributions) must keep writing the visitor's changes meanwhile."""
    from mminspect.ui import links, share
    assert set(share.QUIET_TABS) == set(links.FIRST_VIEWS)
    writer = share.url_writer_js("attributions", [])
    assert "(window.mmQuiet || []).includes(\"attributions\")" in writer
