"""Caveat badges: inputs built to trigger each one show it, and not otherwise; the trust
figures escape user text; the panel's handler reports a problem as a message."""
from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from dataclasses import replace  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import mminspect as mi  # noqa: E402
from mminspect.figures import trust as fig  # noqa: E402
from mminspect.types import Faithfulness, MethodAgreement, SanityCheck, TokenAttribution  # noqa: E402

TABLE = {"threshold": 0.5, "results": {"toy": {"lime": {"score": 0.8, "passed": False, "n": 4},
                                               "saliency": {"score": 0.1, "passed": True, "n": 4}}}}


def faith(deletion_area=0.2, relative=0.01, error=0.001) -> Faithfulness:
    x = np.linspace(0, 1, 5)
    return Faithfulness(fractions=x, deletion=x, deletion_random=x, insertion=x,
                        insertion_random=x, deletion_area=deletion_area, insertion_area=0.1,
                        completeness_error=error, completeness_relative=relative)


def attr(method="integrated_gradients", f_input=0.6, f_baseline=0.1, model="toy", **kw):
    tokens = ["[CLS]", "the", "cat", "[SEP]"]
    return TokenAttribution(
        text="the cat", tokens=tokens, scores=np.array([0, 0.3, 0.2, 0]),
        offsets=np.array([[0, 0], [0, 3], [4, 7], [0, 0]]),
        special=np.array([True, False, False, True]), words=["the", "cat"],
        word_scores=np.array([0.3, 0.2]), word_offsets=np.array([[0, 3], [4, 7]]),
        token_word=np.array([-1, 0, 1, -1]), method=method, target="cosine",
        target_value=f_input, baseline="pad", baseline_value=f_baseline, seconds=0.1,
        model_name=model, faithfulness=faith(**kw))


def codes(a, **kw) -> list[str]:
    return [c.code for c in mi.caveats(a, table=kw.pop("table", TABLE), **kw)]


def test_a_clean_map_has_no_caveat():
    assert codes(attr()) == []
    assert "No caveat" in fig.caveats_html([])


def test_completeness_above_five_percent_and_not_below():
    assert codes(attr(relative=0.12)) == ["completeness"]
    assert codes(attr(relative=0.049)) == []
    c = mi.caveats(attr(relative=0.28), table=TABLE)[0]
    assert "28%" in c.title and c.why and c.instead


def test_deletion_worse_than_random_and_not_otherwise():
    assert codes(attr(deletion_area=-0.05)) == ["deletion"]
    assert codes(attr(deletion_area=0.0)) == []


def test_a_tiny_gap_says_the_relative_error_means_nothing():
    # f(text) equals f(baseline): a relative error of 11.92 % is noise, shown as such, and
    # the completeness badge is not shown on top of it
    same = attr(f_input=0.5, f_baseline=0.5, relative=0.1192)
    assert codes(same) == ["small_gap"]
    assert codes(attr(f_input=0.5, f_baseline=0.4996)) == ["small_gap"]    # 4e-4 < 1e-3
    assert codes(attr(f_input=0.5, f_baseline=0.49)) == []                 # 0.01 is a gap
    assert codes(attr(f_input=80.0, f_baseline=79.5)) == ["small_gap"]     # < 1 % of f(text)


def test_sanity_failure_from_the_shipped_table_or_a_run():
    assert codes(attr(method="lime")) == ["sanity"]
    assert codes(attr(method="saliency")) == []
    assert codes(attr(method="lime", model="other")) == []        # the table knows toy only
    n = 4
    run = SanityCheck(method="saliency", model_name="toy", modality="text", target="cosine",
                      steps=["trained"] + [f"top {k}" for k in range(1, n)],
                      n_random=np.arange(n), maps=np.ones((n, 2)) * [1, 2],
                      spearman=np.ones(n), spearman_abs=np.ones(n), half=2, threshold=0.5,
                      passed=False, seed=0, seconds=1.0)
    assert codes(attr(method="saliency"), sanity=run) == ["sanity"]     # a run overrides
    ok = replace(run, spearman=np.array([1, 0.2, 0.1, 0.0]), spearman_abs=np.zeros(n) + 0.1,
                 passed=True)
    assert codes(attr(method="lime"), sanity=replace(ok, method="lime")) == []


def test_every_badge_is_escaped_and_names_its_code():
    a = attr(method="lime", relative=0.5, deletion_area=-1, model="<b>toy</b>")
    table = {"threshold": 0.5, "results": {"<b>toy</b>": {"lime": {"score": 0.9, "passed": False}}}}
    cav = mi.caveats(a, table=table, method_label="<i>LIME</i>")
    html = fig.caveats_html(cav)
    assert {c.code for c in cav} == {"completeness", "deletion", "sanity"}
    assert "<b>toy" not in html and "<i>LIME" not in html and "&lt;b&gt;toy" in html
    for c in cav:
        assert f"data-caveat='{c.code}'" in html


def test_the_shipped_table_covers_every_method_of_the_bundled_models():
    table = mi.api.shipped_sanity()
    assert table is not None, "run python -m mminspect.lab.sanity_table --json assets/sanity/sanity.json"
    assert set(table["results"]["minilm"]) == {m["name"] for m in mi.list_attribution_methods()}
    assert set(table["results"]["miniclip"]) == {m["name"] for m in mi.list_image_methods()}
    assert table["provenance"]["command"].startswith("python -m mminspect.lab.sanity_table")
    for rows in table["results"].values():
        for r in rows.values():
            assert r["passed"] == (r["score"] < table["threshold"])
    html = fig.sanity_table_html(table)
    assert html.count("<tr>") == 1 + sum(len(r) for r in table["results"].values())


def test_figures_draw_checks_and_agreement():
    n = 3
    c = SanityCheck(method="x<y", model_name="m", modality="text", target="t",
                    steps=["trained", "top 1", "top 2"], n_random=np.arange(n),
                    maps=np.array([[1, 2, 3], [3, 2, 1], [1, 3, 2]]),
                    spearman=[1, -1, 0.5], spearman_abs=[1, 0.2, 0.1], half=1, threshold=0.5,
                    passed=True, seed=0, seconds=0.1)
    f = fig.sanity_figure([c], {"x<y": "X <b>"})
    assert len(f.data) == 1 and "&lt;b&gt;" in f.data[0].name
    assert np.allclose(f.data[0].y, [1, 0.2, 0.5])       # the larger of signed and |scores|
    assert c.score == pytest.approx((0.2 + 0.5) / 2)
    agree = MethodAgreement(methods=["a", "b"], matrix=[[1, 0.3], [0.3, 1]],
                            matrix_abs=[[1, -0.2], [-0.2, 1]], n_features=5)
    g = fig.agreement_figure(agree)
    assert len(g.data) == 2 and g.data[0].z[0][1] == pytest.approx(0.3)
    with pytest.raises(ValueError, match="symmetric"):
        MethodAgreement(methods=["a", "b"], matrix=[[1, 0.3], [0.1, 1]],
                        matrix_abs=np.eye(2), n_features=5)
    with pytest.raises(ValueError, match="increasing"):
        replace(c, n_random=np.array([0, 2, 1]))


def test_panel_handler_reports_no_method_as_a_message():
    from mminspect.ui import trust_panel
    from mminspect.ui.context import default_context
    from mminspect.ui.events import bind
    out = ["sanity_state", "sanity_plot", "sanity_summary", "caveats", "message"]
    run = bind(trust_panel.on_sanity, default_context(), out)
    values = run("minilm", "", "The cat.", "similarity", "A dog.", "", "", "", "pad", [], None)
    assert "Choose at least one method" in values[-1]
    assert all(type(v).__name__ == "skip" or isinstance(v, dict) for v in values[:-1]), values


def test_image_methods_get_badges_and_an_agreement_table():
    from mminspect.lab.pointing import pointing_scenes
    from mminspect.ui.trust_panel import image_trust_html
    model = mi.load("miniclip")
    img, prompt, _ = pointing_scenes(1)[0]
    attrs = [mi.attribute_image(model, img, prompt, method=m, faithfulness=True)
             for m in ("relevance", "rollout")]
    html = image_trust_html(attrs)
    assert "<tr>" not in html and "mm-agreement" in html and html.count("+1.00") >= 2
    table = mi.api.shipped_sanity()
    expect_rollout = not table["results"]["miniclip"]["rollout"]["passed"]
    assert ("failed the sanity check" in html) == expect_rollout
    agree = mi.method_agreement(attrs)
    assert agree.n_features == 64 and agree.matrix[0, 0] == 1
    assert "Removing words" not in html and "Compare all methods" not in html


def test_the_comparison_table_gets_a_caveat_column_only_when_asked():
    from mminspect.figures.attribution import comparison_html
    from mminspect.types import AttributionComparison
    good, bad = attr(method="saliency"), attr(method="lime", deletion_area=-0.2)
    comp = AttributionComparison(results=[good, bad], seconds=1.0)
    plain = comparison_html(comp)
    assert "caveats" not in plain and "data-caveat" not in plain
    table = comparison_html(comp, caveats={r.method: mi.caveats(r, table=TABLE) for r in comp.results})
    rows = table.split("<tr>")[2:]
    assert "data-caveat" not in rows[0]
    assert "data-caveat='deletion'" in rows[1] and "data-caveat='sanity'" in rows[1]


def test_the_ignores_target_badge_reads_the_random_targets_correlation_at_its_threshold():
    from mminspect.explain.sanity import SAME_MAP_ABOVE, target_caveat
    assert SAME_MAP_ABOVE == 0.9
    assert target_caveat("Saliency", 0.899, 0.9, "here") is None
    assert target_caveat("Saliency", None, 0.9, "here") is None
    text = target_caveat("Saliency", 0.9, 0.9, "here")
    assert text.code == "ignores_target" and "random target" in text.title
    assert "Integrated Gradients" in text.instead
    image = target_caveat("Rollout", 1.0, 0.9, "here", modality="image")
    assert "random prompt" in image.title and "Relevance" in image.instead
    for data, shown in ((0.95, True), (0.5, False)):       # read from the shipped table too
        table = {"threshold": 0.5, "data_threshold": 0.9, "results": {"toy": {"saliency": {
            "score": 0.1, "passed": True, "n": 4, "data_spearman": data}}}}
        codes = [c.code for c in mi.caveats(attr(method="saliency"), table=table)]
        assert ("ignores_target" in codes) is shown, (data, codes)
        assert "sanity" not in codes


def _curves(ours, rand, area):
    x = np.array([0, 0.03, 0.11, 0.25, 0.44, 0.69, 1.0])
    return Faithfulness(fractions=x, deletion=np.array(ours, float),
                        deletion_random=np.array(rand, float), insertion=x, insertion_random=x,
                        deletion_area=area, insertion_area=0.1)


def test_a_negative_deletion_area_from_the_tail_is_told_apart_from_a_bad_ranking():
    from mminspect.explain.sanity import deletion_caveat
    from mminspect.explain.sanity.caveats import early_deletion_gain
    rand = [13.8, 12.4, 10.3, 9.1, 7.9, 8.9, 12.7]
    tail = _curves([13.8, 11.8, 9.3, 10.7, 12.4, 12.9, 12.7], rand, -2.2)   # top patches: faster
    assert early_deletion_gain(tail.fractions, tail.deletion, tail.deletion_random) == \
        pytest.approx(((12.4 - 11.8) + (10.3 - 9.3)) / 2)                  # points <= 12 %
    c = deletion_caveat(tail.deletion_area, "patches", "Run every method", faith=tail)
    assert c.code == "deletion_tail" and "every patch removed (12.70; the input: 13.80)" in c.why
    bad = _curves([13.8, 13.5, 12.0, 10.7, 12.4, 12.9, 12.7], rand, -2.9)   # slower from the start
    assert deletion_caveat(bad.deletion_area, "patches", faith=bad).code == "deletion"
    assert deletion_caveat(-2.9, "patches").code == "deletion"             # no curves: the area
    assert deletion_caveat(0.5, "patches", faith=tail) is None


def test_relevance_on_the_default_scene_gets_the_tail_caveat_for_what_the_curves_show():
    """Scene 1, 'a green star': relevance's top patches lie on the star and removing them drops
    the logit faster than a random order; the area is negative because a plain grey image
    scores nearly as high as the scene (the curve climbs back)."""
    ex = mi.api.load_example(mi.api.list_examples()[0])
    model = mi.load("miniclip")
    a = mi.attribute_image(model, ex.image, "a green star", method="relevance",
                           faithfulness=True, mask=ex.masks["a green star"])
    f = a.faithfulness
    assert a.pointing_hit and f.deletion_area < 0
    assert f.deletion[1] < f.deletion_random[1] and f.deletion[2] < f.deletion_random[2]
    assert f.deletion[-1] > f.deletion[2]                # the tail climbs back to f(grey)
    codes = [c.code for c in mi.caveats(a)]
    assert "deletion_tail" in codes and "deletion" not in codes
