"""The page's side of the two languages: which one it opens in, the picker, the link.

- It opens in the link's `lang=` when there is one, else the browser's language (gradio's
  own default: navigator.language), else English.
- The picker switches with gradio's own `changeLocale` (what gradio's Settings panel calls):
  the page is not reloaded, every marker is translated again, results stay on screen.
- The language goes into a cookie, so that messages a handler makes later come in it too
  (the server cannot see the picker otherwise), and into the link: every link the app writes
  (`history.replaceState`, share.py) keeps `lang=` once a language other than English is
  shown or the link named one.
"""
from __future__ import annotations

import json

import gradio as gr

from .i18n import COOKIE, LOCALES

# gradio's `changeLocale` lives in its core module; the page has already loaded it, so an
# import() of the same URL returns the same module (and the same language store).
HEAD = """<script>
(() => {
  const LOCALES = %(locales)s, COOKIE = %(cookie)s;
  const norm = (l) => {
    l = String(l || '').toLowerCase();
    return l.startsWith('zh') ? 'zh-CN' : l.startsWith('en') ? 'en' : null;
  };
  const linked = norm(new URLSearchParams(location.search).get('lang'));
  window.mmLang = linked || norm(navigator.language) || 'en';
  window.mmLangInLink = !!linked;
  const remember = (l) => { document.cookie = COOKIE + '=' + l + '; path=/; SameSite=Lax'; };
  remember(window.mmLang);
  const withLang = (url) => {
    if (!window.mmLangInLink && window.mmLang === 'en') return url;
    const u = new URL(url === undefined || url === null ? location.href : String(url), location.href);
    u.searchParams.set('lang', window.mmLang);
    return u.pathname + u.search + u.hash;
  };
  const replace = history.replaceState.bind(history);
  history.replaceState = (state, title, url) => replace(state, title, withLang(url));
  // gradio translates a tab's name when its tab is drawn; the names of the tabs not open
  // keep the old language until then, so the page renames those buttons itself
  const names = () => window.mmNames || {};
  window.mmEnglish = (shown) => {
    for (const texts of Object.values(names()))
      if (Object.values(texts).includes(shown)) return texts.en;
    return shown;
  };
  const renameTabs = (l) => {
    for (const b of document.querySelectorAll('[role=tab]')) {
      const shown = b.innerText.trim();
      const texts = Object.values(names()).find(t => Object.values(t).includes(shown));
      const now = texts && (texts[l] || texts.en);
      if (!now || now === shown) continue;
      const walker = document.createTreeWalker(b, NodeFilter.SHOW_TEXT);
      for (let n = walker.nextNode(); n; n = walker.nextNode())
        if (n.nodeValue.trim() === shown) { n.nodeValue = n.nodeValue.replace(shown, now); break; }
    }
  };
  const core = async () => {
    const url = performance.getEntriesByType('resource').map(r => r.name)
      .find(n => /\\/assets\\/core-[^\\/]+\\.js$/.test(n));
    return url ? import(url) : null;
  };
  window.mmSetLanguage = async (l, fromPicker) => {
    l = norm(l) || 'en';
    if (fromPicker && l !== window.mmLang) window.mmLangInLink = true;
    window.mmLang = l;
    remember(l);
    const mod = await core();
    if (mod && mod.changeLocale) mod.changeLocale(l);
    setTimeout(() => renameTabs(l), 50);
    if (window.mmLangInLink) history.replaceState(history.state, '', location.href);
    return l;
  };
})();
</script>""" % {"locales": json.dumps(list(LOCALES)), "cookie": json.dumps(COOKIE)}

# On load: the picker shows the language the page opens in, and the page switches to it
# (gradio itself picks only the browser's, and 'zh' alone would give English).
ON_LOAD_JS = "async () => { await window.mmSetLanguage(window.mmLang, false); return window.mmLang; }"
ON_PICK_JS = "async (l) => { await window.mmSetLanguage(l, true); return l; }"


def language_picker_events(demo: gr.Blocks, picker: gr.Radio) -> None:
    """Browser-only events (no server round trip): the page's language on load, a switch on
    input (a person's pick, not the load's own setting)."""
    demo.load(None, None, [picker], js=ON_LOAD_JS, queue=False)
    picker.input(None, [picker], [picker], js=ON_PICK_JS, queue=False)


def names_script(names: dict[str, dict[str, str]]) -> str:
    """The tab names and button texts in every language ({key: {locale: text}}): the page
    renames the tabs not yet drawn, and finds a tab or button by its English name whatever
    the language shown (window.mmEnglish, used by the link code)."""
    data = json.dumps(names, ensure_ascii=False).replace("</", "<\\/")    # no early </script>
    return "<script>window.mmNames = %s;</script>" % data
