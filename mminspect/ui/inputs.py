"""Parsing what people type into the text boxes, shared by the tabs."""
from __future__ import annotations

import re


def parse_labels(text: str | None) -> list[str]:
    """Labels typed one per line or separated by commas."""
    return [p.strip() for p in re.split(r"[\n,]", text or "") if p.strip()]


def parse_prompts(text: str | None) -> list[str]:
    """One prompt per line; empty lines dropped (the API says what else it changed)."""
    return [p for p in (text or "").splitlines() if p.strip()]
