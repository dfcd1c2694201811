"""Where the bundled assets are: the repository's top-level `assets/` in a checkout, or
`mminspect/assets/` inside an installed package (pyproject.toml maps the one onto the other,
so `pip install .` carries the mini-CLIP weights and the lessons with the code)."""
from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]
ROOTS = (PACKAGE / "assets",            # installed: site-packages/mminspect/assets
         PACKAGE.parent / "assets")      # a checkout: <repo>/assets


def asset_dir(name: str) -> Path:
    """The folder of one asset kind ("miniclip", "lessons"); the checkout's path when neither
    exists, so a message names the place a developer would look."""
    for root in ROOTS:
        if (root / name).is_dir():
            return root / name
    return ROOTS[-1] / name
