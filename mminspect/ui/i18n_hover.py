"""The words a figure shows besides its titles, in the page's language: its hover tooltips
(plotly's `hovertemplate`, and hover texts the app wrote), and the method names on its
ticks ("Integrated Gradients" under a bar). Called from i18n_outputs.localize_figure on its
copy of the figure's JSON.

A hover template mixes the app's words with plotly's places ("query %{y}<br>key %{x}<br>
weight %{z:.3f}<extra></extra>"): the places and tags are kept as they are, and each piece
of words between them is translated alone. A tick value or a hover text is data (a token, a
prompt) unless every one of its kind is a text the app knows: all the values of an axis are
method names, all the hover texts of a trace are sentences of several words the language's
file knows ("layer 2, head 3"); a token list never is, so tokens stay as they are.
"""
from __future__ import annotations

import functools
import re

from .i18n import catalog

# plotly's places (%{y}, %{z:.3f}, %{customdata[0]:+.2f}) and tags (<br>, <extra>, <sup>).
_PLACE = re.compile(r"(%\{[^}]*\})")
_TAG = re.compile(r"(<[^>]*>)")
# What stands for a place while a line is looked up whole.
_MARK = "⟦{}⟧"
# The punctuation and numbers around a piece's words ("‖sum‖ = ", ", column ").
_EDGES = re.compile(r"^([^A-Za-z]*)(.*?)([^A-Za-z]*)$", re.S)
_LATIN = re.compile("[A-Za-z]")
_PUNCT = " =:;,·\u00a0"
# A method's name with its number on the agreement heatmap's rows: "Saliency (2)".
_NUMBERED = re.compile(r"^(.*\S) \((\d+)\)$")


def translate_hover(template: str, locale: str) -> str:
    """A hover template in `locale`, line by line (between its tags): a line known whole with
    its places standing for values ("layer %{y}, head %{x}" as "layer {layer}, head {head}"),
    else each piece of words between the places alone ("query %{y}")."""
    out = []
    for line in _TAG.split(template):
        if line.startswith("<") or not _LATIN.search(line):
            out.append(line)
            continue
        places = _PLACE.findall(line)
        masked = _PLACE.sub(lambda m: _MARK.format(places.index(m.group(0))), line)
        found = catalog(locale).lookup(masked.strip())
        if found is not None and all(_MARK.format(i) in found for i in range(len(places))):
            for i, place in enumerate(places):
                found = found.replace(_MARK.format(i), place)
            out.append(line.replace(line.strip(), found))
        else:
            out.append("".join(p if p.startswith("%{") else _piece(p, locale)
                               for p in _PLACE.split(line)))
    return "".join(out)


def _piece(part: str, locale: str) -> str:
    """Words between two places, their punctuation kept: ", column " → "，列 "."""
    cat = catalog(locale)
    if not _LATIN.search(part):
        return part
    for bare in (part.strip(), part.strip(_PUNCT)):     # "attention (share) = " whole
        found = cat.lookup(bare) if bare else None
        if found is not None:
            return part.replace(bare, found)
    before, words, after = _EDGES.match(part).groups()
    found = cat.lookup(words)
    if found is None and " · " in words:                  # "Saliency: FAIL · same map for …"
        found = " · ".join(cat.lookup(w) or w for w in words.split(" · "))
    return part if found is None else before + found + after


@functools.lru_cache(maxsize=1)
def method_names() -> frozenset[str]:
    """The attribution methods' names as the figures show them (English)."""
    from .. import api                      # at first use: the page's words load without it
    return frozenset(m["label"] for m in api.list_attribution_methods())


def translate_method(text: str, locale: str) -> str | None:
    """A method's name (or "name (n)") in `locale`; None when `text` is not a method's name."""
    m = _NUMBERED.match(text)
    name, tail = (m.group(1), f" ({m.group(2)})") if m else (text, "")
    if name not in method_names():
        return None
    found = catalog(locale).lookup(name)
    return None if found is None else found + tail


def _strings(values):
    """The strings of a list or a list of lists, flat."""
    for v in values:
        if isinstance(v, list):
            yield from _strings(v)
        else:
            yield v


def _mapped(values, fn):
    return [_mapped(v, fn) if isinstance(v, list) else fn(v) for v in values]


def _all_or_none(values, translate, locale):
    """`values` with every string translated, or None unless every string with a letter is
    known (one unknown: they are data, and all stay)."""
    if not isinstance(values, list) or not values:
        return None
    words = [s for s in _strings(values) if isinstance(s, str) and _LATIN.search(s)]
    if not words or any(not isinstance(s, (str, int, float)) for s in _strings(values)):
        return None
    found = {s: translate(s, locale) for s in set(words)}
    if any(f is None for f in found.values()):
        return None
    return _mapped(values, lambda s: found.get(s, s) if isinstance(s, str) else s)


def _sentence(text: str, locale: str) -> str | None:
    """A hover text of the app's: each line of several words known, else None."""
    lines = text.split("<br>")
    out = []
    for line in lines:
        if not _LATIN.search(line):
            out.append(line)
            continue
        found = catalog(locale).lookup(line) if " " in line.strip() else None
        if found is None:
            return None
        out.append(found)
    return "<br>".join(out)


def localize_extras(data: dict, locale: str) -> bool:
    """Hover templates, the app's hover texts and method names on ticks of a figure's JSON
    `data` (a copy) put in `locale`, in place; whether anything changed."""
    changed = False
    for trace in data.get("data") or ():
        template = trace.get("hovertemplate")
        if isinstance(template, str) and _LATIN.search(template):
            new = translate_hover(template, locale)
            changed |= new != template
            trace["hovertemplate"] = new
        for key, translate in (("text", _sentence), ("hovertext", _sentence),
                               ("x", translate_method), ("y", translate_method),
                               ("customdata", translate_method)):
            new = _all_or_none(trace.get(key), translate, locale)
            if new is not None and new != trace[key]:
                trace[key], changed = new, True
    layout = data.get("layout") or {}
    for name, axis in layout.items():
        if name.startswith(("xaxis", "yaxis")) and isinstance(axis, dict):
            new = _all_or_none(axis.get("ticktext"), translate_method, locale)
            if new is not None and new != axis["ticktext"]:
                axis["ticktext"], changed = new, True
    return changed
