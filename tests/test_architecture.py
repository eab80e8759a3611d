"""Imports point one way (docs/architecture.md): built from the source with ``ast``, no new dependency.

The leaves (``contract``, ``redaction``, ``shards``) import nothing of Winnow's above them; models
(``classifiers``) never know about stages; the framework (``pipeline``) never imports a concrete
operator; the trainer reads shards only; ``jobs`` sits at the edge.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("contract", "redaction", "shards", "classifiers", "operators", "pipeline", "trainer", "jobs")

# What each package may import (besides itself). Everything else is a violation.
ALLOWED: dict[str, set[str]] = {
    "contract": set(),
    "redaction": set(),
    "shards": set(),
    "classifiers": {"contract"},
    "operators": {"contract", "redaction", "shards", "classifiers"},
    "pipeline": {"contract", "redaction", "shards"},
    "trainer": {"shards"},
    "jobs": set(PACKAGES) - {"jobs"},
}
# The arrows the architecture issue names explicitly; they must stay forbidden whatever ALLOWED says.
FORBIDDEN = {("pipeline", "operators"), ("pipeline", "jobs"), ("classifiers", "operators"),
             ("trainer", "operators"), ("operators", "trainer")}


def imported_modules(path: Path) -> set[str]:
    """Every absolute module a file imports, at top level or inside functions."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    mods: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            mods.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            mods.add(node.module)
            mods.update(f"{node.module}.{a.name}" for a in node.names)
    return mods


def import_graph(root: Path = ROOT) -> dict[tuple[str, str], list[str]]:
    """(importer package, imported package) -> the files that make that arrow."""
    edges: dict[tuple[str, str], list[str]] = {}
    for pkg in PACKAGES:
        for f in sorted((root / pkg).rglob("*.py")):
            for mod in imported_modules(f):
                top = mod.split(".")[0]
                if top in PACKAGES and top != pkg:
                    edges.setdefault((pkg, top), []).append(f"{f.relative_to(root)}: {mod}")
    return edges


def find_cycle(edges) -> list[str] | None:
    graph: dict[str, set[str]] = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if state.get(m) is None and (c := visit(m)):
                return c
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if state.get(n) is None and (c := visit(n)):
            return c
    return None


def test_the_checker_sees_a_cycle_and_a_forbidden_arrow(tmp_path):
    """The checker itself: a planted pipeline -> operators -> pipeline cycle is found."""
    for pkg in PACKAGES:
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "__init__.py").write_text("")
    (tmp_path / "pipeline" / "runner.py").write_text("def f():\n    from operators.base import Operator\n")
    (tmp_path / "operators" / "base.py").write_text("from pipeline.runner import f\n")
    edges = import_graph(tmp_path)
    assert ("pipeline", "operators") in edges and ("pipeline", "operators") in FORBIDDEN
    assert find_cycle(edges) in (["operators", "pipeline", "operators"], ["pipeline", "operators", "pipeline"])


def test_no_cycle_between_packages():
    cycle = find_cycle(import_graph())
    assert cycle is None, f"import cycle: {' -> '.join(cycle)}"


@pytest.mark.parametrize("pkg", PACKAGES)
def test_imports_point_one_way(pkg):
    bad = {edge: files for edge, files in import_graph().items()
           if edge[0] == pkg and (edge[1] not in ALLOWED[pkg] or edge in FORBIDDEN)}
    assert not bad, "\n".join(f"{a} -> {b}:\n  " + "\n  ".join(files) for (a, b), files in bad.items())


def test_pipeline_names_stages_by_string_only():
    """The registry maps stage names to ``module:callable`` strings; nothing imports them eagerly."""
    from pipeline.registry import STAGES

    assert all(isinstance(v, str) and ":" in v for v in STAGES.values())
    assert not any(m.startswith("operators") for m in imported_modules(ROOT / "pipeline" / "registry.py"))
