"""What the browser tests share: Chromium, one fresh page per tab walk, a screenshot of every
step, and the checks each step ends with.

A walk uses the page as a person would (click, type, keyboard on sliders, pick from lists,
upload files) and reads what is drawn: plotly figures through their graph div (`gd.layout`,
`gd.data`), images and galleries through the DOM. Screenshots go to `MMINSPECT_SCREENSHOTS`
(default `test-screenshots/` at the repo root) as `<tab>-<nn>-<step>.png`, so a person can
look at every step of the last run.

The error pill: gradio marks an output of a failed event with a red "Error" badge, a
`<span class="error">` inside the output's status tracker (found by raising in a handler of a
scratch app). A handled error must never show one, anywhere on the page.
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("MMINSPECT_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
REPO = Path(__file__).resolve().parents[1]
SHOTS = Path(os.environ.get("MMINSPECT_SCREENSHOTS") or REPO / "test-screenshots")

ERROR_PILL = '[data-testid="status-tracker"] .error'
ERROR_TOAST = '[data-testid="toast-body"].error'
MODEL_MS = 180_000          # a model event on a busy 2-core machine (first load included)
REDRAW_MS = 30_000          # a redraw or a sub-tab opening

# What every visible plotly figure shows: its title, trace count, first trace's x labels and
# z size, and the layout's shapes (the model view's red outline).
PLOTS_JS = """() => [...document.querySelectorAll('.js-plotly-plot')]
  .filter(gd => gd.offsetParent !== null && gd.layout && gd.data)
  .map(gd => {
    const t = gd.layout.title;
    const d0 = gd.data[0] || {};
    return {title: typeof t === 'string' ? t : (t && t.text) || '',
            traces: gd.data.length,
            types: gd.data.map(d => d.type || 'scatter'),
            visible: gd.data.map(d => d.visible === undefined ? true : d.visible),
            x: d0.x ? Array.from(d0.x).map(String) : [],
            // plotly (Python) sends numeric arrays as {dtype, bdata, shape}
            zrows: !d0.z ? 0 : d0.z.shape ? parseInt(String(d0.z.shape).split(',')[0])
                                          : d0.z.length,
            annotations: (gd.layout.annotations || []).map(a => a.text),
            shapes: (gd.layout.shapes || []).map(s => [s.x0, s.y0]),
            drawn: gd.querySelectorAll('.main-svg').length > 0};
  })"""

# Each url(...) reference inside a visible plotly figure (the plot area's clip path, colour
# bars' fills) that names another document than the page: the browser draws those parts as
# nothing (plotly writes the page's address into them; the app then rewrites the address).
STALE_URLS_JS = """() => {
  const here = location.href.split('#')[0];
  const out = [];
  for (const gd of document.querySelectorAll('.js-plotly-plot')) {
    if (gd.offsetParent === null) continue;
    for (const el of gd.querySelectorAll('[clip-path*="url("], [fill*="url("], [style*="url("]')) {
      const v = (el.getAttribute('clip-path') || '') + ' ' + (el.getAttribute('fill') || '') +
                ' ' + (el.getAttribute('style') || '');
      for (const m of v.matchAll(/url\\((['"]?)([^#'")]*)#/g))
        if (m[2] && m[2] !== here) out.push(m[2].slice(0, 120));
    }
  }
  return out;
}"""

# Busy = some status tracker shows progress (not hidden, not an error pill).
BUSY_JS = """() => [...document.querySelectorAll('[data-testid="status-tracker"]')]
  .some(e => !e.classList.contains('hide') && !e.querySelector('.error'))"""


def require_chromium() -> None:
    if not shutil.which(CHROMIUM):
        # Not a skip: the README's test command installs chromium, so its absence is a failure.
        pytest.fail(f"Chromium not found at {CHROMIUM}: run `apt-get install -y chromium` "
                    "(the README's test command does).")


_BROWSER: dict = {}


def _poll_by_timer() -> None:
    """Every wait_for_function re-checks every 250 ms unless a call says otherwise. Playwright
    re-checks on each animation frame by default, and a page that draws no frame (late in a
    full run, a walk's first figure wait then sat idle for its whole 180 s with nothing
    running) never re-checks: the wait then says nothing about the page."""
    from playwright.sync_api import Frame, Page
    for cls in (Page, Frame):
        original = cls.wait_for_function
        if getattr(original, "mm_timer", False):
            continue

        def wait_for_function(self, expression, *args, _original=original, **kwargs):
            kwargs.setdefault("polling", 250)
            return _original(self, expression, *args, **kwargs)
        wait_for_function.mm_timer = True
        cls.wait_for_function = wait_for_function


def shared_browser(config):
    """One Chromium for the whole session (closed when pytest ends)."""
    if "browser" not in _BROWSER:
        require_chromium()
        from playwright.sync_api import sync_playwright
        _poll_by_timer()
        pw = sync_playwright().start()
        _BROWSER["browser"] = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)

        def close():
            _BROWSER.pop("browser").close()
            pw.stop()
        config.add_cleanup(close)
    return _BROWSER["browser"]


def walk_fixture(tab: str, title: str):
    """The `walk` fixture of one tab's test module: a fresh page (its own browser context) on
    the app, tab `title` opened, screenshots named `<tab>-...`.

    The app: MMINSPECT_APP_URL (one you started, to iterate on the tests quickly) or the one
    conftest's `app_url` launches for the session."""

    @pytest.fixture
    def walk(request):
        browser = shared_browser(request.config)        # fails first if Chromium is missing
        url = os.environ.get("MMINSPECT_APP_URL") or request.getfixturevalue("app_url")
        w = Walk(browser, url, tab, title)
        yield w
        w.close()

    return walk


class Walk:
    """One tab walked on a fresh page: actions, waits, checks and numbered screenshots."""

    def __init__(self, browser, url: str, tab: str, title: str):
        self.tab, self.n = tab, 0
        SHOTS.mkdir(parents=True, exist_ok=True)
        for old in SHOTS.glob(f"{tab}-*.png"):        # the folder shows the last run only
            old.unlink()
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000})
        self.page = self.context.new_page()
        self.page.goto(url)
        self.page.get_by_role("tab", name=title, exact=True).click()
        self.page.wait_for_selector(".mm-message", state="attached")
        self.panel = self.page.locator("[role=tabpanel]:visible").first   # the tab's own panel

    def close(self) -> None:
        self.context.close()

    # ---- record ----------------------------------------------------------------------
    def shot(self, step: str) -> Path:
        """A full-page screenshot named `<tab>-<nn>-<step>.png` (after the page settles)."""
        self.n += 1
        path = SHOTS / f"{self.tab}-{self.n:02d}-{re.sub(r'[^a-z0-9]+', '-', step.lower())}.png"
        self.page.wait_for_timeout(200)                # plotly's transitions end
        self.page.screenshot(path=str(path), full_page=True)
        stale = self.page.evaluate(STALE_URLS_JS)
        assert not stale, (f"{path.name}: figures whose clip paths or fills point at another "
                           f"address than the page's (drawn as nothing): {stale[:3]}")
        return path

    # ---- controls --------------------------------------------------------------------
    def button(self, name: str):
        return self.panel.get_by_role("button", name=name, exact=True)

    def subtab(self, name: str):
        tab = self.panel.get_by_role("tab", name=name, exact=True)
        tab.click()
        self.page.wait_for_function("t => t.getAttribute('aria-selected') === 'true'",
                                    arg=tab.element_handle(), timeout=REDRAW_MS)
        return tab

    def control(self, label: str):
        """The visible control labelled `label` (sub-tabs may repeat a label: "Prompt")."""
        return self.panel.get_by_label(label, exact=True).filter(visible=True)

    def textbox(self, label: str):
        return self.control(label)

    def type_into(self, label: str, text: str) -> None:
        box = self.textbox(label)
        box.fill(text)
        box.blur()                                    # gradio takes the value on change

    def _open(self, label: str):
        box = self.control(label)
        box.click()
        self.page.wait_for_function("b => b.getAttribute('aria-expanded') === 'true'",
                                    arg=box.element_handle(), timeout=REDRAW_MS)
        self.page.get_by_role("option").first.wait_for(timeout=REDRAW_MS)
        return box

    def _close(self, box) -> None:
        self.page.wait_for_function("b => b.getAttribute('aria-expanded') !== 'true'",
                                    arg=box.element_handle(), timeout=REDRAW_MS)

    def pick(self, label: str, option: str) -> None:
        """Open dropdown `label` and click the first option whose text contains `option`."""
        box = self._open(label)
        self.page.get_by_role("option").filter(has_text=option).first.click()
        self._close(box)

    def options(self, label: str) -> list[str]:
        """The option texts of dropdown `label` (opened and closed again)."""
        box = self._open(label)
        texts = [t.replace("✓", "").strip()
                 for t in self.page.get_by_role("option").all_inner_texts()]
        box.press("Escape")
        self._close(box)
        box.blur()                   # a focused dropdown does not open again on a click
        return texts

    def dropdown_value(self, label: str) -> str:
        return self.control(label).input_value()

    def slider_value(self, label: str) -> float:
        return float(self.control(f"number input for {label}").input_value())

    def set_slider(self, label: str, value: float) -> None:
        """Type a value into the slider's number box and press Enter (keyboard, no mouse)."""
        box = self.control(f"number input for {label}")
        box.fill(str(value))
        box.press("Enter")

    def step_slider(self, label: str, steps: int) -> None:
        """Arrow keys on the slider's track: each press is one step, as a keyboard user does."""
        track = self.control(f"range slider for {label}")
        track.focus()
        for _ in range(abs(steps)):
            track.press("ArrowRight" if steps > 0 else "ArrowLeft")

    # ---- waits -----------------------------------------------------------------------
    def settle(self, timeout: int = MODEL_MS, started: bool = False) -> None:
        """Wait until no status tracker shows progress. gradio marks the outputs pending as
        soon as a button is clicked; unless the caller already saw the event's result
        (`started`), give a just-sent event a moment to show up first."""
        if not started:
            try:
                self.page.wait_for_function(BUSY_JS, timeout=800)
            except Exception:  # noqa: BLE001 - too quick to see, or shows no progress at all
                pass
        self.page.wait_for_function(f"() => !({BUSY_JS})()", timeout=timeout)

    def wait_text(self, text: str, timeout: int = MODEL_MS) -> None:
        """Wait until `text` is somewhere in the tab (visible text)."""
        self.page.wait_for_function("([el, t]) => el.innerText.includes(t)",
                                    arg=[self.panel.element_handle(), text], timeout=timeout)

    def wait_plot(self, predicate: str, timeout: int = REDRAW_MS) -> dict:
        """Wait until a visible plotly figure satisfies the JS `predicate(p)` (p as in
        `plots()`); returns that figure's description."""
        js = f"() => ({PLOTS_JS})().find(p => {predicate})"
        try:
            self.page.wait_for_function(js, timeout=timeout)
        except Exception as error:           # say what IS drawn: a timeout alone tells nothing
            seen = [{k: p[k] for k in ("title", "types", "zrows", "shapes", "drawn")}
                    for p in self.plots()]
            self.shot("timed out waiting for a figure")
            raise AssertionError(f"no visible figure satisfies {predicate!r} after "
                                 f"{timeout} ms; the visible figures: {seen}; "
                                 f"message line: {self.panel.inner_text()[:600]!r}") from error
        return self.page.evaluate(js)

    def run(self, button: str, done_text: str | None = None, timeout: int = MODEL_MS) -> None:
        """Press a button that runs the model and wait for it to finish."""
        self.button(button).click()
        if done_text:
            self.wait_text(done_text, timeout)
        self.settle(timeout, started=bool(done_text))

    # ---- what is drawn ---------------------------------------------------------------
    def plots(self) -> list[dict]:
        return self.page.evaluate(PLOTS_JS)

    def message(self, where: str = ".mm-message") -> str:
        """The tab's message line (empty when the last event went well); `where`: the class
        of a panel's own message line instead (e.g. the causal lab's)."""
        return self.panel.locator(f"[data-testid=markdown]{where}").inner_text().strip()

    def text(self) -> str:
        return self.panel.inner_text()

    def gallery(self, label: str, n: int | None = None) -> list[dict]:
        """Each item of gallery `label`: its caption, whether it is fully on screen inside the
        gallery (not cut off by the gallery's box) and whether its picture loaded. With `n`,
        first wait until the gallery shows n loaded pictures (they load lazily: the gallery is
        scrolled into view)."""
        block = self.panel.locator(".block").filter(
            has=self.page.locator(f"[data-testid=block-label]:text-is('{label}')")).last
        block.scroll_into_view_if_needed()
        if n is not None:
            self.page.wait_for_function(
                "([b, n]) => { const imgs = [...b.querySelectorAll('.thumbnail-item img')]; "
                "return imgs.length === n && imgs.every(i => i.complete && i.naturalWidth > 0); }",
                arg=[block.element_handle(), n], timeout=REDRAW_MS)
        return block.evaluate("""b => {
            const wrap = b.querySelector('.grid-wrap');
            const box = wrap.getBoundingClientRect();
            return [...wrap.querySelectorAll('.thumbnail-item')].map(t => {
              const r = t.getBoundingClientRect();
              const img = t.querySelector('img');
              return {caption: (t.querySelector('.caption-label') || {}).innerText || '',
                      inside: r.top >= box.top - 1 && r.bottom <= box.bottom + 1 && r.height > 50,
                      loaded: !!img && img.complete && img.naturalWidth > 0};
            });
        }""")

    # ---- the checks every error step ends with --------------------------------------
    def assert_no_error_pill(self) -> None:
        pills = self.page.locator(ERROR_PILL).count()
        toasts = self.page.locator(ERROR_TOAST).count()
        assert pills == 0, f"{pills} gradio 'Error' pill(s) on the page"
        assert toasts == 0, f"{toasts} gradio error toast(s) on the page"

    def expect_message(self, *parts: str, where: str = ".mm-message") -> str:
        """After a handled error: the message line says it (a toast too), no Error pill."""
        self.page.wait_for_function(
            "([el, parts]) => parts.every(p => el.innerText.includes(p))",
            arg=[self.panel.locator(f"[data-testid=markdown]{where}").element_handle(),
                 list(parts)], timeout=MODEL_MS)
        self.settle(started=True)
        msg = self.message(where)
        assert msg.startswith("⚠️"), msg
        self.page.locator('[data-testid="toast-body"].warning').first.wait_for(timeout=REDRAW_MS)
        self.assert_no_error_pill()
        return msg

    def close_toasts(self) -> None:
        for close in self.page.locator('[data-testid="toast-close"]').all():
            try:
                close.click(timeout=2_000)
            except Exception:  # noqa: BLE001 - it may have faded out meanwhile
                pass


def block_text(walk: Walk, label: str) -> str:
    """The visible text of the component whose label chip reads `label`."""
    block = walk.panel.locator(".block").filter(
        has=walk.page.locator(f"[data-testid=block-label]:text-is('{label}')")).last
    return block.inner_text()
