"""The packages' layering, read from the source with `ast`. Pure.

`api` never imports `dashboards` (the pages use the API's services, not the reverse),
neither package imports the composition root, and only `fenlei/app.py` puts the API
and the pages together.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ("api", "dashboards", "fenlei", "ingest", "simulators", "deploy")
# The composition root and the command that serves it.
COMPOSITION = ("fenlei.app", "fenlei.serve")
IMPORTERS = {"import_module", "__import__"}


def imported_modules(source: str, package: str = "") -> Iterator[str]:
    """Every module `source` imports: at the top, inside functions, or by name at run time.

    `package` is the dotted name of the file's package, to resolve relative imports.
    Names imported from a module count as its submodules too (`from a import b` may
    import `a.b`).
    """
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                anchor = parts[: len(parts) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in IMPORTERS and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    yield first.value


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def imports_of(package: str) -> dict[str, set[str]]:
    """{module of `package`: the modules it imports}."""
    found = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        source = path.read_text(encoding="utf-8")
        found[module] = set(imported_modules(source, ".".join(parts[:-1])))
    assert found, f"no Python files under {package}/"
    return found


def violations(package: str, forbidden: tuple[str, ...]) -> list[str]:
    """`module imports name` for each import of `package` inside any of `forbidden`."""
    return [
        f"{module} imports {name}"
        for module, names in imports_of(package).items()
        for name in sorted(names)
        if any(_within(name, f) for f in forbidden)
    ]


@pytest.mark.parametrize(
    "source",
    [
        "import dashboards",
        "import dashboards.router as r",
        "from dashboards import overview",
        "from dashboards.settings import DashboardSettings",
        "def f():\n    from dashboards.router import router\n",
        "import importlib\nimportlib.import_module('dashboards.router')",
        "__import__('dashboards')",
    ],
)
def test_the_scanner_sees_every_kind_of_import(source: str) -> None:
    names = set(imported_modules(source, "api.routes"))
    assert any(_within(n, "dashboards") for n in names), names


def test_the_scanner_resolves_relative_imports() -> None:
    names = set(imported_modules("from ..metrics import service\nfrom . import deps", "api.routes"))
    assert names == {"api.metrics", "api.metrics.service", "api.routes", "api.routes.deps"}


def test_the_scanner_does_not_see_mentions() -> None:
    source = '"""Mounted next to `dashboards.router`."""\n# import dashboards\nx = "dashboards"\n'
    assert set(imported_modules(source, "api")) == set()


def closure(package: str) -> set[str]:
    """Project modules `package` imports, directly or through other project modules."""
    graph: dict[str, set[str]] = {}
    for p in PRODUCT:
        graph.update(imports_of(p))
    seen: set[str] = set()
    todo = [m for m in graph if _within(m, package)]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        todo += [n for n in graph.get(module, ()) if n in graph]
    return seen


def test_api_imports_nothing_from_dashboards_or_the_composition_root() -> None:
    assert violations("api", ("dashboards", *COMPOSITION)) == []


def test_nor_through_another_module() -> None:
    reached = closure("api")
    assert "api.metrics.service" in reached and "ingest.contract" in reached
    assert (
        sorted(m for m in reached if any(_within(m, f) for f in ("dashboards", *COMPOSITION))) == []
    )


def test_dashboards_do_not_import_the_composition_root() -> None:
    assert violations("dashboards", COMPOSITION) == []


def test_only_the_composition_root_mounts_the_pages_on_the_api() -> None:
    pages = ("dashboards.router", "dashboards.volunteer_pages.pages_router", "api.main")
    users = {
        module
        for package in PRODUCT
        for module, names in imports_of(package).items()
        if any(_within(n, p) for n in names for p in pages)
    }
    # dashboards/router.py is the pages' own router; fenlei.app composes.
    assert users - {"dashboards.router"} == {"fenlei.app"}
