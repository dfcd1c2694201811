"""Where the bundled assets are: the repository's top-level `assets/` in a checkout, or
`mminspect/assets/` inside an installed package (pyproject.toml maps the one onto the other,
so `pip install .` carries the mini-CLIP weights and the lessons with the code)."""
from __future__ import annotations

import logging
import os
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]
# MMINSPECT_ASSETS: another folder of assets, looked in first (a host's own copy, or a test
# that removes one file to check the app still starts without it)
ROOTS = tuple(([Path(os.environ["MMINSPECT_ASSETS"])] if os.environ.get("MMINSPECT_ASSETS") else [])
              + [PACKAGE / "assets",             # installed: site-packages/mminspect/assets
                 PACKAGE.parent / "assets"])      # a checkout: <repo>/assets
log = logging.getLogger("mminspect")
MISSING: dict[str, str] = {}            # optional asset -> what is off without it (for the docs/UI)


def asset_dir(name: str) -> Path:
    """The folder of one asset kind ("miniclip", "lessons"); the checkout's path when neither
    exists, so a message names the place a developer would look."""
    for root in ROOTS:
        if (root / name).is_dir():
            return root / name
    return ROOTS[-1] / name


def optional_files(folder: Path, files: tuple[str, ...], what: str) -> bool:
    """True when every one of `files` is in `folder`. Otherwise the feature that needs them
    (`what`, e.g. "mini-CLIP 2's example scenes") is off: said once in the server log and
    kept in MISSING, and the rest of the app works."""
    absent = [f for f in files if not (Path(folder) / f).is_file()]
    if absent:
        key = f"{Path(folder).name}/{', '.join(absent)}"
        if key not in MISSING:
            MISSING[key] = what
            log.warning("%s are off: %s missing from the %s assets", what, ", ".join(absent),
                        Path(folder).name)
    return not absent
