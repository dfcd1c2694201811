"""The one-way import rule (ui -> api -> models/capture/explain -> types), checked by parsing every module's imports (those
inside functions too), with a rule for every package and no cycle between packages."""
import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "mminspect"
HEAVY = {"torch", "transformers", "open_clip", "captum", "bertviz", "torchvision"}
PACKAGES = {"types", "miniclip", "fusion", "models", "capture", "explain", "api", "figures", "ui", "lab",
            "report", "cli"}
# "__init__" is the facade `import mminspect as mi`; "bench" the `python -m mminspect.bench` shim;
# "__main__" the `python -m mminspect` command line.
TOP_LEVEL = {"__init__", "bench", "__main__"}
# part -> the parts it may import (besides itself and third-party libraries).
ALLOWED = {
    "types": set(),
    "miniclip": {"types"},                               # the model and its data, under models
    # capture holds the temporary library patches an adapter opens internals with (open_clip's
    # attention), so it sits under models and knows no adapter.
    "capture": {"types"},
    "fusion": {"types", "miniclip"},                     # the fusion models and their words, under models
    "models": {"types", "miniclip", "fusion", "capture"},
    "explain": {"types", "models", "capture"},
    "api": {"types", "miniclip", "fusion", "models", "capture", "explain"},
    "figures": {"types"},
    "ui": {"types", "api", "figures", "report"},           # report: the Save report button
    # the offline report: figures of a result plus the model's hash (api); a program's tool.
    "report": {"types", "api", "figures"},
    "lab": (PACKAGES | {"__init__"}) - {"ui"},           # programs: anything but the UI
    "__init__": {"types", "api", "explain", "figures", "report"},
    "bench": {"lab"},
    "cli": (PACKAGES | {"__init__"}) - {"ui", "lab"},    # the command line: a program
    "__main__": {"cli"},
}


def imports_of(source: str, module: tuple[str, ...]) -> set[str]:
    """Absolute module names imported by `source`, the module at dotted path `module` (its
    relative imports resolved; `from x import y` gives x and x.y, since y may be a module).
    Also `importlib.import_module("mminspect...")` / `__import__` with a literal name and
    "mminspect.pkg.mod:Class" entry-point strings, the lazy forms this code base uses."""
    out = set()
    for node in ast.walk(ast.parse(source)):              # every scope, function bodies too
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = module[: len(module) - node.level] if node.level else ()
            mod = ".".join(base + ((node.module,) if node.module else ()))
            if mod != "mminspect":                        # `from mminspect import x`: x is the target
                out.add(mod)
            out |= {f"{mod}.{a.name}" for a in node.names}
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and getattr(node.func, "attr", getattr(node.func, "id", "")) in
              ("import_module", "__import__")):
            out.add(node.args[0].value)
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str)
              and node.value.startswith("mminspect.") and ":" in node.value
              and " " not in node.value):
            out.add(node.value.split(":")[0])
    return out


def part_of(name: str) -> str | None:
    """The package (or top-level module) an absolute name belongs to; None outside mminspect."""
    parts = name.split(".")
    if parts[0] != "mminspect":
        return None
    if len(parts) == 1:
        return "__init__"
    return parts[1] if parts[1] in PACKAGES | TOP_LEVEL else "__init__"   # mminspect.load etc.


def module_of(path: Path, pkg: Path = PKG) -> tuple[str, ...]:
    """("mminspect", "api", "clip") for api/clip.py; a package's __init__ keeps its "__init__"
    part, so that `from . import x` in it resolves to the package itself, as Python does."""
    return path.relative_to(pkg.parent).with_suffix("").parts


def file_part(path: Path, pkg: Path = PKG) -> str:
    parts = path.relative_to(pkg).parts
    return parts[0] if len(parts) > 1 else parts[0].removesuffix(".py")


def violations(part: str, imports: set[str]) -> set[str]:
    """The mminspect parts `imports` reach that `part` must not import."""
    used = {p for p in map(part_of, imports) if p and p != part}
    return used - ALLOWED[part]


def package_graph(pkg: Path = PKG) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in sorted(pkg.rglob("*.py")):
        part = file_part(path, pkg)
        uses = {p for p in map(part_of, imports_of(path.read_text(), module_of(path, pkg))) if p}
        graph.setdefault(part, set()).update(uses - {part})
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as [a, b, ..., a], or None (depth-first search, three colours)."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


FILES = sorted(PKG.rglob("*.py"))


def test_every_package_and_top_level_module_has_a_rule():
    parts = {file_part(p) for p in FILES}
    assert parts <= set(ALLOWED), f"no layering rule for {parts - set(ALLOWED)}"
    assert PACKAGES <= parts, f"a package named in the rules is gone: {PACKAGES - parts}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PKG)))
def test_imports_point_down(path):
    part, mods = file_part(path), imports_of(path.read_text(), module_of(path))
    bad = violations(part, mods)
    assert not bad, f"{path.relative_to(PKG)} ({part}) imports {sorted(bad)}; allowed: {sorted(ALLOWED[part])}"
    if part in ("figures", "ui"):
        heavy = {m.split(".")[0] for m in mods} & HEAVY
        assert not heavy, f"{path.relative_to(PKG)} must not import {heavy}: go through mminspect.api"


def test_nothing_imports_the_ui_and_only_the_bench_shim_imports_lab():
    graph = package_graph()
    assert {p for p, uses in graph.items() if "ui" in uses} <= {"ui"}
    assert {p for p, uses in graph.items() if "lab" in uses} <= {"lab", "bench"}


def test_the_packages_form_no_cycle():
    graph = package_graph()
    assert find_cycle(graph) is None, f"import cycle between packages: {find_cycle(graph)}"


# --- the checker itself: it sees what it must see ------------------------------------------

def test_the_parser_resolves_relative_and_package_imports():
    mods = imports_of((PKG / "explain" / "attention.py").read_text(), ("mminspect", "explain", "attention"))
    assert any(part_of(m) == "types" for m in mods)
    assert part_of("mminspect.api.clip") == "api" and part_of("mminspect") == "__init__"
    assert imports_of("from .. import api", ("mminspect", "ui", "x")) == {"mminspect.api"}
    assert imports_of("from .attention import x", module_of(PKG / "explain" / "__init__.py")) \
        >= {"mminspect.explain.attention"}


def test_a_lazy_back_arrow_inside_a_function_is_caught():
    # The shape mini-CLIP's training once had: it reached up into models lazily.
    src = "import torch\n\ndef main():\n    from ..models.miniclip_adapter import MINICLIP_DIR\n"
    mods = imports_of(src, ("mminspect", "miniclip", "train"))
    assert violations("miniclip", mods) == {"models"}
    assert violations("explain", imports_of("def f():\n    from ..api import load\n",
                                            ("mminspect", "explain", "x"))) == {"api"}


def test_string_imports_and_the_facade_count():
    src = ("import importlib\nimport mminspect as mi\n"
           "M = importlib.import_module('mminspect.ui.app')\nF = {'a': 'mminspect.lab.bench:main'}\n")
    assert violations("api", imports_of(src, ("mminspect", "api", "x"))) == {"__init__", "ui", "lab"}


def test_a_cycle_between_packages_is_found(tmp_path):
    pkg = tmp_path / "mminspect"
    for part, src in {"models": "from ..explain import x\n", "explain": "from ..api import y\n",
                      "api": "from ..models import z\n"}.items():
        (pkg / part).mkdir(parents=True)
        (pkg / part / "m.py").write_text(src)
    cycle = find_cycle(package_graph(pkg))
    assert cycle and cycle[0] == cycle[-1] and set(cycle) == {"models", "explain", "api"}
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


# --- no circle between the modules of mminspect/api ---------------------------------------
# A circle between two files of one package runs only because one side imports inside a
# function; it hides which file stands on which and invites private helpers to travel. The
# package graph above cannot see it (both ends are "api"), so the files are checked here.

def module_imports(source: str, module: tuple[str, ...], known: set[str]) -> set[str]:
    """The modules of `known` (dotted names) that `source` imports, at any depth: `from .x
    import y` is the module x.y when that is one, else x; `import a.b` is the longest known
    prefix of a.b."""
    out = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            base = module[: len(module) - node.level] if node.level else ()
            mod = ".".join(base + ((node.module,) if node.module else ()))
            for alias in node.names:
                out.add(f"{mod}.{alias.name}" if f"{mod}.{alias.name}" in known else mod)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                out |= next(({".".join(parts[:i])} for i in range(len(parts), 0, -1)
                             if ".".join(parts[:i]) in known), set())
    return out & known


def module_graph(package: Path, pkg: Path = PKG) -> dict[str, set[str]]:
    """{module: modules of the same package it imports}; a package's __init__ is the package's
    own name, as `from . import x` in a sibling reaches it."""
    names = {}
    for path in sorted(package.rglob("*.py")):
        parts = module_of(path, pkg)
        names[path] = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
    known = set(names.values())
    return {name: module_imports(path.read_text(), module_of(path, pkg), known) - {name}
            for path, name in names.items()}


def test_the_modules_of_api_form_no_cycle():
    graph = module_graph(PKG / "api")
    assert len(graph) > 10 and graph["mminspect.api.causal"], "the api graph was not read"
    assert find_cycle(graph) is None, f"import cycle between api modules: {find_cycle(graph)}"


SUBPACKAGES = sorted(str(p.relative_to(PKG)) for p in PKG.rglob("*")
                  if p.is_dir() and (p / "__init__.py").is_file())


@pytest.mark.parametrize("package", SUBPACKAGES)
def test_the_modules_of_every_package_form_no_cycle(package):
    """The same for every package (cli, report, lab, ...): type-only imports count too, as
    the structure drawing counts them."""
    graph = module_graph(PKG / package)
    assert graph, f"{package}: nothing read"
    assert find_cycle(graph) is None, f"import cycle in {package}: {find_cycle(graph)}"


def test_a_cycle_between_modules_hidden_in_a_function_is_found(tmp_path):
    # The shape the causal lab once had: a.py imports b at the top, b reaches back lazily.
    api = tmp_path / "mminspect" / "api"
    api.mkdir(parents=True)
    (api / "__init__.py").write_text("from .a import f\n")
    (api / "a.py").write_text("from .b import g\nfrom . import c\n")
    (api / "b.py").write_text("import torch\n\ndef g():\n    from .a import f\n    return f\n")
    (api / "c.py").write_text("import mminspect.api.b\n")
    graph = module_graph(api, tmp_path / "mminspect")
    assert graph["mminspect.api.a"] == {"mminspect.api.b", "mminspect.api.c"}
    assert graph["mminspect.api.c"] == {"mminspect.api.b"}
    cycle = find_cycle(graph)
    assert cycle and set(cycle) == {"mminspect.api.a", "mminspect.api.b"}
    (api / "b.py").write_text("import torch\n\ndef g():\n    return 1\n")
    assert find_cycle(module_graph(api, tmp_path / "mminspect")) is None
