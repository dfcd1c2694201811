"""The shipped sanity table (assets/sanity/sanity.json, written by
`python -m mminspect.lab.sanity_table`): is it still current for these weights and this code,
and what does it say about one method on one bundled model.

It goes stale when the bundled weights differ from the ones it recorded, or when its figures
would change with this code: api.shipped re-runs `sanity_probe` (a small fixed piece of the
table's work) after a recorded source file changed, and compares it with the recorded figures.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..explain.sanity import PASS_BELOW, SAME_MAP_ABOVE
from ..models.assets import asset_dir
from .shipped import PROBES, code_staleness, stale_reason
from .trust import sanity_check

SANITY_TABLE = asset_dir("sanity") / "sanity.json"      # in a checkout or installed
CODE_ROOT = Path(__file__).resolve().parents[2]         # the table names its files from here


def bundled_weights() -> dict[str, str]:
    """SHA-256 of the weights the bundled models load now (MiniLM is verified against its
    hash at load; each mini-CLIP's card names its file's): what a shipped table was measured
    on. A mini-CLIP whose card is missing or unreadable is left out (its tables then read as
    stale, and loading it gives its own message): the app still starts."""
    from ..models import miniclip_adapter
    from ..models.bundled import MINILM_SHA256
    from ..models.registry import scene_models
    found = {name: miniclip_adapter.shipped_sha256(name) for name in scene_models()}
    return {"minilm": MINILM_SHA256, **{k: v for k, v in found.items() if v is not None}}


def _stale_reasons(rec: dict, wait: bool = True) -> list[str]:
    """Why a shipped table no longer describes this code and these weights (empty: current).
    The hashes are compared through models.bundled (the one place that hashes)."""
    why = []
    weights = rec.get("weights_sha256")
    if not weights:
        why.append("it records no hash of the weights it was measured on")
    else:
        now = bundled_weights()
        gone = sorted(m for m in weights if m not in now)
        other = sorted(m for m, h in weights.items() if m in now and now[m] != h)
        if gone:
            why.append(f"the weights of {', '.join(gone)} cannot be read here (a missing or "
                       "damaged model card)")
        if other:
            why.append(f"measured on other weights of {', '.join(other)}")
    code = code_staleness(rec, CODE_ROOT, wait)   # its figures would change (api.shipped)
    return why + ([code] if code else [])


SANITY_PROBE_TEXT = ("The cat sat on the mat near the door.", "A kitten rested on a rug.")


def sanity_probe() -> dict[str, list[float]]:
    """The sanity table's probe (api.shipped), a small fixed piece of its work: every
    method's map of the trained model on one input per bundled model (the table's first text
    pair, float32; each mini-CLIP's first example) as [sum, sum of |.|, max, argmax], and one
    cheap method's cascade per model (the re-initialisation the table runs), ρ per step."""
    from .attribution import attribute_text
    from .clip import attribute_image, list_image_methods
    from .examples import probe_example
    from ..explain.attribution import METHODS
    from ..models import load
    from ..models.registry import scene_models

    def summary(scores) -> list[float]:
        p = np.asarray(scores, np.float64)
        return [p.sum(), np.abs(p).sum(), p.max(), float(p.argmax())]

    a, b = SANITY_PROBE_TEXT
    text, inf = load("minilm"), float("inf")
    out = {f"minilm/{m}": summary(attribute_text(text, a, method=m, compare_to=b, budget_s=inf,
                                                 faithfulness=False, precision="float32").scores)
           for m in METHODS}
    out["minilm/cascade:saliency"] = sanity_check(text, a, method="saliency", compare_to=b,
                                                  data=False, budget_s=inf).spearman
    for model in scene_models():
        adapter, (image, prompt, _) = load(model), probe_example(model)
        for m in list_image_methods():
            out[f"{model}/{m['name']}"] = summary(
                attribute_image(adapter, image, prompt, method=m["name"]).patch_scores)
        out[f"{model}/cascade:raw_attention"] = sanity_check(
            adapter, image=image, prompt=prompt, method="raw_attention", data=False,
            budget_s=inf).spearman
    return out


PROBES["sanity"] = sanity_probe


def shipped_sanity(path: Path | str | None = None, wait: bool = True) -> dict | None:
    """The shipped sanity table (python -m mminspect.lab.sanity_table), or None if absent,
    with `current` (False when the bundled weights differ from the ones it recorded, or its
    figures would change with this code: api.shipped) and `stale_reason` (None when current).
    wait=False: a re-check not yet run goes to the background (a page must not wait)."""
    p = Path(path) if path else SANITY_TABLE
    if not p.exists():
        return None
    with open(p) as f:
        rec = json.load(f)
    why = _stale_reasons(rec, wait)
    return {**rec, "current": not why, "stale_reason": stale_reason(why, rec.get("command"))}


def shipped_verdict(model_name: str, method: str, table: dict | None = None) -> dict | None:
    """{score, passed, threshold, n, data_score, data_threshold, current} for a method on a
    bundled model from the shipped table."""
    table = shipped_sanity(wait=False) if table is None else table   # a badge never waits
    if not table:
        return None
    row = table.get("results", {}).get(model_name, {}).get(method)
    if row is None:
        return None
    return {**row, "threshold": table.get("threshold", PASS_BELOW),
            "data_score": row.get("data_score", row.get("data_spearman")),
            "data_threshold": table.get("data_threshold", SAME_MAP_ABOVE),
            "current": table.get("current", True)}
