"""The `mi.…` calls that reproduce a result, as text for the report. A caller that knows the
exact call (the CLI, the app) passes it; otherwise it is rebuilt from the result's fields,
and what a result does not record (an uploaded image, a target's labels) is said plainly."""
from __future__ import annotations

from ..types import (AttributionComparison, ClipView, Comparison, HeadTrace, PixelAttribution,
                     TextView, TokenAttribution)


def _args(**kwargs) -> str:
    return "".join(f", {k}={v!r}" for k, v in kwargs.items() if v not in (None, [], {}))


def reproduce(result) -> str:
    if isinstance(result, Comparison):          # each side's calls, then mi.compare
        return reproduce_comparison(result)
    lines = ["import mminspect as mi"]
    if isinstance(result, TextView):
        p = result.prediction
        lines += [f"model = mi.load({result.model_name!r})",
                  f"view = mi.inspect_text(model, {result.text!r}"
                  f"{_args(compare_to=p.compare_to, labels=list(p.labels) or None)}"
                  + (f", temperature={p.temperature!r}" if p.labels else "") + ")"]
    elif isinstance(result, (TokenAttribution, AttributionComparison)):
        first = result if isinstance(result, TokenAttribution) else result.results[0]
        methods = ([first.method] if isinstance(result, TokenAttribution)
                   else [a.method for a in result.results])
        lines += [f"model = mi.load({first.model_name!r})",
                  f"# target: {first.target} (pass it as compare_to= / labels=, label= / "
                  "target= as in attribute_text)"]
        if isinstance(result, TokenAttribution):
            lines.append(f"attr = mi.attribute_text(model, {first.text!r}, method={first.method!r}"
                         f"{_args(baseline=first.baseline, **first.params)}, ...)")
        else:
            lines.append(f"comp = mi.compare_attributions(model, {first.text!r}, methods={methods!r}"
                         f"{_args(baseline=first.baseline)}, ...)")
    elif isinstance(result, ClipView):
        lines += [f"model = mi.load({result.model_name!r})",
                  "image = PIL.Image.open(...)   # the image is embedded above, not in the code",
                  f"view = mi.inspect_clip(model, image, {list(result.prompts)!r}"
                  + (", maps=True" if result.maps is not None else "") + ")"]
    elif isinstance(result, PixelAttribution):
        lines += [f"model = mi.load({result.model_name!r})",
                  "image = PIL.Image.open(...)   # the image is embedded above, not in the code",
                  f"pix = mi.attribute_image(model, image, {result.prompt!r}, method={result.method!r}"
                  f"{_args(contrast=result.contrast, **result.params)})"]
    elif isinstance(result, HeadTrace):
        source = "image=image" if result.tower == "image" else "text"
        lines += [f"model = mi.load({result.model_name!r})",
                  "text = ...   # the text whose tokens are listed in the report" if source == "text"
                  else "image = PIL.Image.open(...)   # the image, not in the code",
                  f"trace = mi.trace_head(model, {source}, layer={result.layer}, head={result.head}"
                  + (f", tower={result.tower!r}" if result.tower == "image" else "") + ")"]
    return "\n".join(lines)


def reproduce_comparison(diff: Comparison) -> str:
    """Each side's calls (as its own report would give them), then the comparison."""
    lines = ["import mminspect as mi"]
    for name, side in (("a", diff.a), ("b", diff.b)):
        calls = reproduce(side).splitlines()[1:]                  # without the import line
        made = calls[-1].split("=")[0].strip() if calls else name
        lines += [f"# {name.upper()}", *calls, f"{name} = {made}"]
    return "\n".join(lines + ["diff = mi.compare(a, b)"])
