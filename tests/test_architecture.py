"""The rooms of ARCHITECTURE.md hold: data flows one way, and one module publishes commit points."""

from __future__ import annotations

import ast
from pathlib import Path

import semsearch

PACKAGE = Path(semsearch.__file__).parent
LOWER_ROOMS = ("ingest", "index", "store", "search", "text", "embedding")  # nothing here imports what serves them
UPPER = ("semsearch.service", "semsearch.cli", "semsearch.distributed", "semsearch.settings")


def _modules() -> dict[str, tuple[Path, set[str]]]:
    """module name -> (file, the semsearch modules and names it imports, at any level of the file)."""
    found: dict[str, tuple[Path, set[str]]] = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ["semsearch", *path.relative_to(PACKAGE).with_suffix("").parts]
        package = parts[:-1] if parts[-1] != "__init__" else parts[:-1]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        imported: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = package[: len(package) - node.level + 1] if node.level else []
                module = ".".join(base + ([node.module] if node.module else []))
                imported |= {module} | {f"{module}.{alias.name}" for alias in node.names}
            elif isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names}
        found[".".join(parts)] = (path, {m for m in imported if m.startswith("semsearch")})
    return found


def _room(module: str) -> str:
    return module.split(".")[1] if module.count(".") else ""


def test_the_offline_side_and_the_engine_never_import_the_service_or_the_settings():
    wrong = [
        (module, target)
        for module, (_, imported) in _modules().items()
        if _room(module) in LOWER_ROOMS
        for target in imported
        if any(target == upper or target.startswith(upper + ".") for upper in UPPER)
    ]
    assert wrong == []


def test_no_two_modules_import_each_other_even_through_others():
    modules = _modules()
    graph = {m: {t for t in imported if t in modules and t != m} for m, (_, imported) in modules.items()}
    cycles, index, low, stack, on_stack = [], {}, {}, [], set()

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    assert cycles == []


def test_only_the_commit_writer_builds_commit_points():
    builders = sorted(
        str(path.relative_to(PACKAGE))
        for path, _ in _modules().values()
        if "CommitPoint(" in path.read_text()
    )
    assert builders == ["store/commit_writer.py"]  # commit.py reads them back (CommitPoint.read)
