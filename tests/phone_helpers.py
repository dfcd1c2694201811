"""A tab walked at phone width (390 x 844): gradio moves the tabs that do not fit into its "⋯"
menu, so they are opened there, as a tap would. The walk is a browser_helpers.Walk with its
own narrow context (screenshots `<tab>-...` like every walk)."""
from __future__ import annotations

import os
from contextlib import contextmanager

from browser_helpers import REDRAW_MS, Walk, shared_browser

PHONE = {"width": 390, "height": 844}


def open_tab(page, scope, name: str) -> None:
    """Tab `name` inside `scope` (the page's body or a panel), from the "⋯" menu if hidden."""
    tab = scope.get_by_role("tab", name=name, exact=True)
    if tab.count() and tab.first.is_visible():
        tab.first.click()
    else:
        assert scope.evaluate("""(root, name) => {
            const b = [...root.querySelectorAll('.overflow-dropdown button')]
              .find(x => x.innerText.trim() === name);
            if (b) { b.click(); return true; } return false; }""", name), name
    page.wait_for_function("n => [...document.querySelectorAll('[role=tab]')].some(t => "
                           "t.innerText.trim() === n && t.getAttribute('aria-selected') === "
                           "'true')", arg=name, timeout=REDRAW_MS)


@contextmanager
def phone_walk(request, app_url: str, tab: str, title: str):
    """A Walk on a fresh 390 x 844 page with tab `title` opened."""
    browser = shared_browser(request.config)
    url = os.environ.get("MMINSPECT_APP_URL") or app_url
    w = Walk.__new__(Walk)                     # Walk's own __init__ opens a 1400 x 1000 page
    w.tab, w.n = tab, 0
    w.context = browser.new_context(viewport=PHONE)
    w.page = w.context.new_page()
    try:
        w.page.goto(url)
        w.page.wait_for_selector(".mm-message", state="attached")
        open_tab(w.page, w.page.locator("body"), title)
        w.panel = w.page.locator("[role=tabpanel]:visible").first
        yield w
    finally:
        w.context.close()


def page_width(w: Walk) -> int:
    """How wide the page is drawn (more than the screen: something runs off it)."""
    return w.page.evaluate("document.documentElement.scrollWidth")
