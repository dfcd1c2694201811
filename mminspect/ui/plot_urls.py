"""Keep plotly's figures drawn when the app rewrites the address bar.

Why: gradio's page has a `<base href>`, and with one plotly.js writes every internal
reference of a figure as an absolute URL of the page at drawing time:
`clip-path="url('http://host/?tab=text#clip…xyplot')"` (the plot area's clip), and the same
for colour bars' gradient fills. The app writes each view into the address bar
(`history.replaceState`, share.py); from then on those URLs point at another document, and
the browser draws the clipped parts as nothing. Seen: after "Try it in How attention works"
(which draws the softmax step, then writes the link) the bars vanished, axes and title stayed.

The script below wraps `history.replaceState` / `pushState`: after each change it re-points
every such reference inside the page's plotly figures at the new address. Plotly offers no
setting for this (its base URL is read from `location.href` when a figure is drawn), so it is
written by hand.
"""
from __future__ import annotations

HEAD = """<script>
(() => {
  const ATTRS = ['clip-path', 'fill', 'stroke', 'mask', 'filter', 'style'];
  const WITH_URL = ATTRS.map(a => '[' + a + '*="url("]').join(', ');
  const REF = /url\\((['"]?)[^#'")]*#/g;
  const repoint = () => {
    const here = location.href.split('#')[0];
    const fix = (v) => v.replace(REF, (m, q) => 'url(' + q + here + '#');
    for (const gd of document.querySelectorAll('.js-plotly-plot')) {
      // only the elements that hold a url(...) reference (a native selector: a slider step
      // changes the address, and a heatmap has thousands of elements)
      for (const el of gd.querySelectorAll(WITH_URL)) {
        for (const attr of ATTRS) {
          const v = el.getAttribute(attr);
          if (v && v.includes('url(')) { const f = fix(v); if (f !== v) el.setAttribute(attr, f); }
        }
      }
      if (gd._context && gd._context._baseUrl) gd._context._baseUrl = here;
    }
  };
  for (const name of ['replaceState', 'pushState']) {
    const original = history[name].bind(history);
    history[name] = (...args) => { const out = original(...args); repoint(); return out; };
  }
})();
</script>"""
