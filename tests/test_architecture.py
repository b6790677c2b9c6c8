"""The shape of the code: no import circles, no circle dodged inside a function, small modules.

The layers between apps are import-linter contracts in pyproject.toml (`make lint`); these tests
cover what a layer contract cannot see: circles between files of one app.
"""

from __future__ import annotations

import ast
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("playground", "fakegateway")
MAX_MODULE_LINES = 400


def sources() -> list[Path]:
    return [
        path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if "migrations" not in path.parts
    ]


def test_it_has_no_import_circle_between_modules():
    graph = grimp.build_graph(*PACKAGES, exclude_type_checking_imports=True)
    circles = []
    for module in sorted(graph.modules):
        for imported in graph.find_modules_directly_imported_by(module):
            if imported == module or not imported.startswith(PACKAGES):
                continue
            chain = graph.find_shortest_chain(importer=imported, imported=module)
            if chain:
                circles.append(" -> ".join((module, *chain)))
    assert circles == []


def test_it_imports_its_own_modules_at_the_top_of_a_file():
    """An import inside a function is how a circle hides; third-party lazy imports are fine."""
    hidden = []
    for path in sources():
        tree = ast.parse(path.read_text(), filename=str(path))
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(PACKAGES):
                    hidden.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.module}")
                if isinstance(node, ast.Import):
                    hidden += [
                        f"{path.relative_to(ROOT)}:{node.lineno} {alias.name}"
                        for alias in node.names
                        if alias.name.startswith(PACKAGES)
                    ]
    assert hidden == []


def test_it_keeps_every_module_of_the_product_under_400_lines():
    long = {
        str(path.relative_to(ROOT)): lines
        for path in sources()
        if path.parts[len(ROOT.parts)] == "playground"
        and (lines := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}
