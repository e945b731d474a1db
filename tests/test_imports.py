"""No import cycles among mailflow's modules, and the settings object stops at the composition root."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "mailflow"


def module_imports() -> dict[str, set[str]]:
    """Each module's mailflow imports that run at import time (not those under TYPE_CHECKING or in functions)."""
    names = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph: dict[str, set[str]] = {name: set() for name in names}
    for name, path in names.items():
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mailflow"):
                graph[name] |= {f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in names}
                if node.module in names and not all(f"{node.module}.{a.name}" in names for a in node.names):
                    graph[name].add(node.module)
            elif isinstance(node, ast.Import):
                graph[name] |= {a.name for a in node.names if a.name in names}
    return graph


def cycle_from(start: str, graph: dict[str, set[str]]) -> list[str] | None:
    path: list[str] = []
    done: set[str] = set()

    def visit(node: str) -> list[str] | None:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return None
        path.append(node)
        for target in sorted(graph[node]):
            if found := visit(target):
                return found
        path.pop()
        done.add(node)
        return None

    return visit(start)


def test_no_module_imports_itself_round_about() -> None:
    graph = module_imports()
    for name in sorted(graph):
        assert cycle_from(name, graph) is None, " -> ".join(cycle_from(name, graph) or [])


def test_only_the_composition_root_and_the_command_line_read_the_settings() -> None:
    readers = {name for name, targets in module_imports().items() if "mailflow.config" in targets}
    allowed = {"mailflow.app"}
    assert {r for r in readers if not r.startswith("mailflow.cli")} <= allowed, readers


def test_the_command_line_loads_without_the_pdf_engine() -> None:
    """WeasyPrint loads Pango, which a machine that only answers mail need not have: every command but
    `journal build` must start without it."""
    import subprocess
    import sys

    code = "import sys, mailflow.cli, mailflow.app; print('weasyprint' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
