"""From the caller's words ("similarity", "next_token", None...) to a Target object: the one
place that knows every target's name and which one a model's kind gets by default."""
from __future__ import annotations

from ...types import InputError
from .targets import SimilarityTarget, Target, ZeroShotTarget
from .task_targets import DEFAULT_FOR_KIND, TASK_TARGETS


def make_target(target=None, compare_to: str | None = None, labels=None, label: str | None = None,
                temperature: float = 0.05, *, kind: str = "embedding", token: str | None = None,
                mask: int = 0, output: str | None = None) -> Target:
    """A Target from the caller's words: a Target as-is; "similarity" / "zero_shot" for
    sentence-embedding models; "class" (label=...), "mask_fill" (token=..., mask=...) or
    "next_token" (token=...) for models with a head. None picks by the model's kind: the
    similarity if a second text is given, else zero-shot if labels are, else the model's own
    prediction (its top class, [MASK] filler or next token)."""
    if isinstance(target, Target):
        return target
    names = ("similarity", "zero_shot", *TASK_TARGETS)
    if target is not None and target not in names:
        raise InputError(f"Unknown target {target!r}: use one of {', '.join(names)} or a Target object.")
    if target is None and kind in DEFAULT_FOR_KIND:
        target = DEFAULT_FOR_KIND[kind]
    if target in TASK_TARGETS:
        opts = {"output": output} if output else {}
        if target == "class":
            return TASK_TARGETS[target](label=label, **opts)
        if target == "mask_fill":
            return TASK_TARGETS[target](token=token, mask=int(mask), **opts)
        return TASK_TARGETS[target](token=token, **opts)
    labels = [str(x).strip() for x in (labels or []) if str(x).strip()]
    if target in (None, "similarity") and isinstance(compare_to, str) and compare_to.strip():
        return SimilarityTarget(compare_to.strip())
    if target in (None, "zero_shot") and labels:
        return ZeroShotTarget(tuple(labels), (label or labels[0]).strip(), float(temperature))
    if target == "similarity":
        raise InputError("The similarity target needs a second text: pass compare_to='...'.")
    raise InputError("Say what to explain: a second text (compare_to='...') for the cosine "
                     "similarity, or labels=[...] and label='...' for a zero-shot score.")
