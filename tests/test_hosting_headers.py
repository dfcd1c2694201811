"""The page renders in Chromium under the app's Content-Security-Policy: no script, style,
image, font, worker or frame of gradio's page is blocked, figures draw, and the Text tab's
example shows; the response carries the framing headers."""
from __future__ import annotations

import urllib.request

from browser_helpers import PLOTS_JS, SHOTS, shared_browser

from mminspect.ui import hosting

# Every CSP violation the page reports, collected before any of its scripts runs.
COLLECT = """window.__csp = [];
document.addEventListener('securitypolicyviolation',
  e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"""


def test_the_page_renders_under_the_content_security_policy(request, app_url):
    with urllib.request.urlopen(app_url) as r:
        headers = {k.lower(): v for k, v in r.headers.items()}
    policy = headers["content-security-policy"]
    assert "frame-ancestors 'self'" in policy and "object-src 'none'" in policy
    assert headers["x-frame-options"] == "SAMEORIGIN"
    assert policy == hosting.security_headers()["Content-Security-Policy"]

    browser = shared_browser(request.config)
    page = browser.new_page(viewport={"width": 1280, "height": 1600})
    console = []
    page.on("console", lambda m: console.append(m.text))
    page.add_init_script(COLLECT)
    try:
        page.goto(app_url)
        page.wait_for_selector("button[role='tab']:has-text('Attributions')", timeout=60_000)
        # the Text tab opens on its example already inspected: its figures must draw
        page.wait_for_function(f"({PLOTS_JS})().some(p => p.drawn)", timeout=120_000)
        page.click("button[role='tab']:has-text('Image')")
        page.wait_for_timeout(1500)
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "hosting-csp-image-tab.png"))
        page.click("button[role='tab']:has-text('Text')")
        page.wait_for_timeout(1000)
        page.screenshot(path=str(SHOTS / "hosting-csp-text-tab.png"))
        violations = page.evaluate("window.__csp")
        plots = page.evaluate(PLOTS_JS)
    finally:
        page.close()
    assert violations == [], violations
    assert not [m for m in console if "Content Security Policy" in m], console
    assert plots and all(p["drawn"] for p in plots)
