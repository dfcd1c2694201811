"""What a text attribution explains, as the tabs ask for it: the target choices, the keyword
arguments of `api.attribute_text` they become, and whether the chosen model can explain them.
One rule for the Attributions tab, its trust panel and the Text tab's causal lab."""
from __future__ import annotations

from ..types import InputError
from .inputs import parse_labels

TARGETS = {"similarity": "Cosine similarity to the second text",
           "zero_shot": "Zero-shot score of one label against the others",
           "prediction": "The model's own prediction (its class, [MASK] filler or next token)"}


def target_kwargs(target_kind, compare, labels_text, label, choice="") -> dict:
    choice = (choice or "").strip() or None
    if target_kind == "prediction":
        # None lets the model's kind pick (class / mask_fill / next_token); the box names the
        # class or token to explain instead of the model's top choice.
        return {"target": None, "label": choice, "token": choice}
    if target_kind == "similarity":
        if not (compare or "").strip():
            raise InputError("Type a second text: the map explains the cosine similarity to it.")
        return {"target": "similarity", "compare_to": compare}
    labels = parse_labels(labels_text)
    return {"target": "zero_shot", "labels": labels, "label": (label or "").strip() or None}


def check_target_fits(model, target_kind: str, label: str) -> None:
    embedding = model.kind == "embedding"
    if embedding and target_kind == "prediction":
        raise InputError(f"{label} is a sentence-embedding model with no prediction head: "
                         "explain the similarity to a second text or a zero-shot label.")
    if not embedding and target_kind != "prediction":
        raise InputError(f"{label} is a {model.kind.replace('_', ' ')} model: choose "
                         f"“{TARGETS['prediction']}” as what to explain.")
