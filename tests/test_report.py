"""The offline HTML report: one file that opens in Chromium with every network request
blocked and draws its figures; user text in it is inert; the code it prints runs."""
import re

import pytest

import mminspect as mi
from browser_helpers import SHOTS, shared_browser

PAIR = ("The cat sat on the mat.", "A dog lay on the rug.")
XSS = 'A <img src=x onerror="window.__xss=1"> and <a href="http://x.test">link</a> <script>window.__xss=2</script>'


@pytest.fixture(scope="module")
def page(request):
    # the session's one Chromium (a second sync Playwright in the process would fail)
    context = shared_browser(request.config).new_context(viewport={"width": 1200, "height": 900},
                                                        accept_downloads=True)
    pg = context.new_page()
    requests = []

    def block(route):                     # nothing but the file itself may load
        if not route.request.url.startswith("file://"):
            requests.append(route.request.url)
            return route.abort()
        return route.continue_()
    pg.route("**/*", block)
    pg.blocked = requests
    yield pg
    context.close()


def open_report(page, result, tmp_path, name):
    path = mi.report(result, tmp_path / f"{name}.html")
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri())
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot .main-svg').length"
                           " >= document.querySelectorAll('.js-plotly-plot').length", timeout=30_000)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"report-{name}.png"), full_page=True)
    assert errors == [] and page.blocked == []
    return path, page.content()


def test_text_report_opens_offline_with_its_figures_and_facts(minilm, page, tmp_path):
    view = mi.inspect_text(minilm, PAIR[0], compare_to=PAIR[1])
    path, content = open_report(page, view, tmp_path, "text")
    assert page.locator(".js-plotly-plot").count() == 3          # model view, summary, norms
    for fact in ("53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
                 mi.__version__, f"{view.prediction.similarity:.4f}", "Reproduce it"):
        assert fact in content
    code = page.locator("pre code").inner_text()
    assert "mi.inspect_text(model, 'The cat sat on the mat.', compare_to='A dog lay on the rug.')" in code
    # every figure of a report saves itself as SVG (its camera button)
    page.locator(".js-plotly-plot").first.hover()
    with page.expect_download() as download:
        page.locator(".js-plotly-plot").first.locator(".modebar-btn[data-title^='Download plot']").click()
    assert download.value.suggested_filename.endswith(".svg")
    svg = download.value.path().read_text()
    assert svg.startswith("<svg") and "</svg>" in svg
    assert page.locator(".modebar-btn[data-title^='Share chart']").count() == 0   # no upload
    namespace = {}
    exec(code.replace("mi.load('minilm')", "__model__"), {"__model__": minilm}, namespace)
    assert abs(namespace["view"].prediction.similarity - view.prediction.similarity) < 1e-6


def test_attribution_report_shows_the_highlighted_text_and_faithfulness(minilm, page, tmp_path):
    attr = mi.attribute_text(minilm, PAIR[0], method="integrated_gradients", compare_to=PAIR[1])
    _, content = open_report(page, attr, tmp_path, "attribution")
    assert page.locator(".js-plotly-plot").count() == 2          # top words, deletion/insertion
    assert "completeness error" in content and f"{attr.faithfulness.deletion_area:.4g}" in content
    assert page.locator("span[title]").count() >= 6              # one coloured span per word


def test_clip_reports_embed_their_images(page, tmp_path, monkeypatch):
    from mminspect.report import sections
    clip = mi.load("miniclip")
    ex = mi.load_example("scene 1: a red star and a green star")
    view = mi.inspect_clip(clip, ex.image, ex.prompts, maps=True)
    scales, real = [], sections.overlay
    monkeypatch.setattr(sections, "overlay",
                        lambda *a, **k: scales.append(k.get("vmax")) or real(*a, **k))
    open_report(page, view, tmp_path, "clip")
    assert scales == [None] * len(ex.prompts)          # each map on its own scale
    images = page.locator("img[src^='data:image/png;base64,']")
    assert images.count() == 1 + len(ex.prompts)                  # the input + one map per prompt
    assert all(page.evaluate("im => im.naturalWidth > 0", images.nth(i).element_handle())
               for i in range(images.count()))
    # the best match first and starred, as in the app
    captions = page.locator("figcaption").all_inner_texts()
    best = ex.prompts[int(view.probs[0].argmax())]
    assert captions[0].startswith(f"★ {best} · p = ") and sum("★" in c for c in captions) == 1
    pix = mi.attribute_image(clip, ex.image, ex.prompts[0], method="relevance")
    open_report(page, pix, tmp_path, "pixel")
    assert page.locator("img[src^='data:image/png']").count() == 1


def test_user_text_in_a_report_is_inert(minilm, page, tmp_path):
    view = mi.inspect_text(minilm, XSS, labels=[XSS[:40], "plain"])
    open_report(page, view, tmp_path, "xss")
    assert page.evaluate("() => window.__xss") is None
    assert page.locator("body img:not([src^='data:'])").count() == 0
    assert page.locator("a[href='http://x.test']").count() == 0


def test_a_result_without_a_report_gets_a_clear_message(minilm, tmp_path):
    imp = mi.head_importance(minilm, PAIR[0], compare_to=PAIR[1])
    with pytest.raises(mi.InputError, match="No report for a HeadImportance"):
        mi.report(imp, tmp_path / "x.html")


def test_notebook_views_draw_like_a_jupyter_page(minilm, page, tmp_path):
    """Two outputs in one page, as a notebook shows them: the first carries plotly.js, the
    second reuses it; both draw, and the user's text stays text."""
    from mminspect.report import notebook
    notebook._SENT["plotly"] = False
    view = mi.inspect_text(minilm, XSS)
    attr = mi.attribute_text(minilm, PAIR[0], method="saliency", compare_to=PAIR[1])
    first, second = view._repr_html_(), attr._repr_html_()
    assert "Plotly" in first[:200_000] and len(second) < len(first) / 10
    path = tmp_path / "notebook.html"
    path.write_text(f'<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>'
                    f'<div class="output">{first}</div><div class="output">{second}</div></body></html>')
    page.goto(path.as_uri())
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot .main-svg').length"
                           " >= document.querySelectorAll('.js-plotly-plot').length", timeout=30_000)
    assert page.locator(".js-plotly-plot").count() == 3 + 2          # text view 3, saliency 2
    assert page.evaluate("() => window.__xss") is None
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "report-notebook.png"), full_page=True)


def test_head_trace_report_draws_every_step(minilm, page, tmp_path):
    tr = mi.trace_head(minilm, PAIR[0], layer=2, head=7)
    _, content = open_report(page, tr, tmp_path, "trace")
    assert page.locator(".js-plotly-plot").count() == 9            # x ... added to the residual
    assert f"{tr.max_error:.2g}" in content and "mi.trace_head(model, text, layer=2, head=7)" in content
