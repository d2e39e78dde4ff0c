"""The direction of imports (docs/ARCHITECTURE.md, "Packages and the direction of imports"),
checked on the source: ``launcher -> nas -> (slurm, store)``, ``analysis -> (store, nas)``;
``slurm`` and ``store`` never import ``nas``, ``launcher`` or ``analysis``; ``nas`` never
imports ``launcher`` or ``analysis``; and no circle between modules at import time.

This is what issue 22 asks ``farm-studio look`` to show (0 circles, 0 upward arrows); the
tool is not installable here, so the same two facts are read from the AST. An import inside a
function (a lazy import) counts for the direction, not for circles (it runs after both
modules are loaded). ``from pkg import sub`` where ``pkg.sub`` is a module is an edge to the
submodule (Python loads the parent package first in any case)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("launcher", "nas", "slurm", "store", "analysis")
# which packages each may import (besides itself)
ALLOWED = {
    "launcher": {"nas", "slurm", "store", "analysis"},
    "analysis": {"nas", "store"},
    "nas": {"slurm", "store"},
    "slurm": set(),
    "store": set(),
}
# test scaffolding the launcher loads lazily, only when ARCHLAB_TEST_EVALUATOR is set
LAZY_TEST_HOOKS = {("launcher.build", "tests.support.counting_evaluator")}


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for f in (ROOT / pkg).rglob("*.py"):
            parts = f.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            out[name] = f
    return out


def _imports(name: str, f: Path, known: dict[str, Path]) -> list[tuple[str, bool]]:
    """(imported module, runs when ``f`` is imported) for each import of ``f``: imports in
    functions and under ``if TYPE_CHECKING`` do not run then."""
    tree = ast.parse(f.read_text(encoding="utf-8"))
    top = {id(n) for n in tree.body} - _type_checking_nodes(tree)
    is_pkg = f.name == "__init__.py"
    out: list[tuple[str, bool]] = []
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_pkg else 0)]
                mod = ".".join([*base, *([node.module] if node.module else [])])
            else:
                mod = node.module or ""
            subs = [f"{mod}.{a.name}" for a in node.names if f"{mod}.{a.name}" in known]
            targets = subs if len(subs) == len(node.names) else [mod, *subs]
        for t in targets:
            out.append((t, id(node) in top))
    return out


def _type_checking_nodes(tree: ast.Module) -> set[int]:
    ids: set[int] = set()
    for n in tree.body:
        if isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test):
            ids |= {id(x) for x in ast.walk(n)}
    return ids


def _graph() -> tuple[dict[str, set[str]], list[tuple[str, str]]]:
    """(module-level edges between product modules, every edge with a package crossing)."""
    known = _modules()
    edges: dict[str, set[str]] = defaultdict(set)
    crossings: list[tuple[str, str]] = []
    for name, f in known.items():
        for target, module_level in _imports(name, f, known):
            head = target.split(".")[0]
            if head not in PACKAGES and head != "tests":
                continue  # the standard library and third parties
            if head != name.split(".")[0]:
                crossings.append((name, target))
            resolved = target
            while resolved and resolved not in known:
                resolved = resolved.rpartition(".")[0]
            if module_level and resolved and resolved != name:
                edges[name].add(resolved)
    return edges, crossings


def test_no_import_goes_up_a_floor() -> None:
    _, crossings = _graph()
    assert crossings, "the walk found no import between packages"
    upward = [
        (a, b)
        for a, b in crossings
        if (a, b) not in LAZY_TEST_HOOKS and b.split(".")[0] not in ALLOWED[a.split(".")[0]]
    ]
    assert not upward, upward


def test_no_circle_between_modules() -> None:
    edges, _ = _graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    circles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                circles.append(sorted(comp))

    for v in sorted(_modules()):
        if v not in index:
            visit(v)
    assert len(index) > 150
    assert not circles, circles
