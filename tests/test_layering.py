"""The one-way import rule of DESIGN.md, checked by parsing every module's imports."""
import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "mminspect"
HEAVY = {"torch", "transformers", "open_clip", "captum", "bertviz", "torchvision"}
# layer -> mminspect subpackages it must never import
FORBIDDEN = {
    "types": {"models", "capture", "explain", "api", "figures", "ui"},
    "explain": {"api", "figures", "ui"},
    "capture": {"api", "figures", "ui"},
    "models": {"api", "figures", "ui"},
    "figures": {"models", "capture", "explain", "api", "ui"},
    "api": {"ui", "figures"},
}


def imports_of(path: Path) -> set[str]:
    """Absolute module names imported by a file (relative imports resolved)."""
    tree = ast.parse(path.read_text())
    pkg = path.relative_to(PKG.parent).with_suffix("").parts
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg[: len(pkg) - node.level]
                mod = ".".join(base + ((node.module,) if node.module else ()))
                out |= {mod} | {f"{mod}.{a.name}" for a in node.names}
            else:
                out.add(node.module)
    return out


def layer_of(path: Path) -> str:
    parts = path.relative_to(PKG).parts
    return parts[0] if len(parts) > 1 else parts[0].removesuffix(".py")


FILES = sorted(PKG.rglob("*.py"))


def test_the_parser_sees_relative_imports():
    assert "mminspect.types" in imports_of(PKG / "explain" / "attention.py")


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PKG)))
def test_imports_point_down(path):
    layer, mods = layer_of(path), imports_of(path)
    inner = {m.split(".")[1] for m in mods if m.startswith("mminspect.") and m.count(".") >= 1}
    bad = inner & FORBIDDEN.get(layer, set())
    assert not bad, f"{path.relative_to(PKG)} ({layer}) imports {bad}"
    if layer in ("figures", "ui"):
        heavy = {m.split(".")[0] for m in mods} & HEAVY
        assert not heavy, f"{path.relative_to(PKG)} must not import {heavy}: go through mminspect.api"
    if layer != "ui":
        assert "mminspect.ui" not in {m[:12] for m in mods}, "nothing but app.py imports the ui"
