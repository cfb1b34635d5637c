"""Print the import graph between Doorstep's apps, and fail if it has a cycle.

Only imports that run when a module is loaded count (module level, not inside a
function, not under ``if TYPE_CHECKING:``): those are what tie apps together. Imports
inside functions are listed separately with ``--inner``, so each can be checked for a
reason in a comment next to it.

    python tools/app_graph.py            # the graph and any cycle; exit 1 on a cycle
    python tools/app_graph.py --inner    # also list the imports inside functions
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIP_DIRS = {"migrations", "tests", "__pycache__", "templates", "static"}


def apps() -> list[str]:
    """Top-level packages of the project (folders with an ``__init__.py``)."""
    return sorted(
        p.name
        for p in ROOT.iterdir()
        if (p / "__init__.py").exists() and p.name not in {"tests", "bench", "chaos", "tools"}
    )


def modules(app: str) -> Iterator[Path]:
    for path in sorted((ROOT / app).rglob("*.py")):
        if SKIP_DIRS.isdisjoint(path.relative_to(ROOT).parts):
            yield path


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(path: Path, package: str) -> Iterator[tuple[str, int, bool]]:
    """(imported module, line, at module level?) for every import in ``path``."""
    tree = ast.parse(path.read_text(), str(path))

    def walk(node: ast.AST, top: bool) -> Iterator[tuple[str, int, bool]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                continue
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield alias.name, child.lineno, top
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")[: len(package.split(".")) - child.level + 1]
                    name = ".".join(base + ([child.module] if child.module else []))
                else:
                    name = child.module or ""
                yield name, child.lineno, top
            inner = top and not isinstance(
                child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
            )
            yield from walk(child, inner)

    yield from walk(tree, True)


def build() -> tuple[dict[str, set[str]], list[tuple[str, int, str]]]:
    names = set(apps())
    graph: dict[str, set[str]] = {app: set() for app in names}
    inner: list[tuple[str, int, str]] = []
    for app in names:
        for path in modules(app):
            rel = path.relative_to(ROOT)
            package = ".".join(rel.with_suffix("").parts[:-1])
            for target, line, top in imports(path, package):
                other = target.split(".")[0]
                if other not in names or other == app:
                    continue
                if top:
                    graph[app].add(other)
                else:
                    inner.append((str(rel), line, target))
    return graph, inner


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one app (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inner", action="store_true", help="list imports inside functions")
    args = parser.parse_args()
    graph, inner = build()
    for app in sorted(graph):
        print(f"{app:12} -> {', '.join(sorted(graph[app])) or '(nothing)'}")
    if args.inner:
        print(f"\n{len(inner)} imports of other apps inside functions:")
        for rel, line, target in inner:
            print(f"  {rel}:{line}  {target}")
    found = cycles(graph)
    if found:
        for component in found:
            print(f"\nCYCLE between {len(component)} apps: {', '.join(component)}")
        return 1
    print("\nNo import cycle between apps.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
