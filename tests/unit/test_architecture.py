"""The module graph of `src/videopipe`: no import cycles, and storage below the pipeline."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

import videopipe

ROOT = Path(videopipe.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _imports(name: str, path: Path) -> set[str]:
    """Every videopipe module `name` imports: at the top, in functions, under TYPE_CHECKING."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "videopipe")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            if target.split(".")[0] != "videopipe":
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in MODULES else target)
    found.discard(name)
    return {m for m in found if m in MODULES}


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def test_the_module_graph_was_read() -> None:
    """Guards the guard: the graph holds the edges everyone knows are there."""
    assert "videopipe._pipeline" in GRAPH["videopipe"]
    assert "videopipe._models" in GRAPH["videopipe._pipeline"]
    assert "videopipe._exceptions" in GRAPH["videopipe.storage._sqlite._connection"]


def test_no_import_cycles() -> None:
    """A cycle makes import order matter and hides layering; function-level imports count."""
    try:
        tuple(graphlib.TopologicalSorter(GRAPH).static_order())
    except graphlib.CycleError as exc:
        pytest.fail(f"import cycle: {' -> '.join(exc.args[1])}")


def _reachable(start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for nxt in GRAPH[todo.pop()] - seen:
            seen.add(nxt)
            todo.append(nxt)
    return seen


@pytest.mark.parametrize("module", [m for m in MODULES if m.startswith("videopipe.storage")])
def test_storage_imports_nothing_above_it(module: str) -> None:
    """Storage never embeds a query or chooses a provider: it cannot reach them."""
    above = {"videopipe.providers", "videopipe._pipeline", "videopipe._search", "videopipe.stages"}
    reached = {m for m in _reachable(module) if any(m.startswith(a) for a in above)}
    assert not reached


def _function_level_imports(path: Path) -> list[str]:
    functions = [
        f
        for f in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)
    ]
    return [
        f"{path.name}:{node.lineno} from {'.' * node.level}{node.module}"
        for function in functions
        for node in ast.walk(function)
        if isinstance(node, ast.ImportFrom) and node.level and node.module != "_version"
    ]


def test_no_function_level_imports_of_videopipe_modules() -> None:
    """Such an import is how a cycle hides; lazy imports of third-party packages are fine."""
    assert [hit for path in MODULES.values() for hit in _function_level_imports(path)] == []
