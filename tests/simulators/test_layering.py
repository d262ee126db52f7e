"""The simulators stand where a real installer's tool would: on the device contract.

They may import the standard library, third-party packages, each other,
`ingest.contract` and the ground every part shares (`fenlei.errors`, `fenlei.env`,
`fenlei.logs`, `fenlei.broker_url`) — and nothing else of the project, directly or
through those modules: no API, dashboards, deploy, ingester internals, `fenlei.demo`
or `fenlei.app`. The source is scanned with `ast` (imports inside functions and
`TYPE_CHECKING` blocks count too), so no service is needed.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

import simulators

ROOT = Path(simulators.__file__).resolve().parent.parent
# The project's top-level packages (pyproject's packages, the tests and benchmarks).
PROJECT = {"fenlei", "ingest", "api", "dashboards", "simulators", "deploy", "tests", "bench"}
# Project modules outside `simulators` that the simulators may stand on (packages
# included: importing `ingest.contract` runs `ingest/__init__.py`).
ALLOWED = {
    "ingest",
    "ingest.contract",
    "fenlei",
    "fenlei.errors",
    "fenlei.env",
    "fenlei.logs",
    "fenlei.broker_url",
}


def module_path(name: str) -> Path | None:
    """The source file of project module ``name``, or None if there is none."""
    base = ROOT.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def imported_modules(source: str, module: str, is_package: bool = False) -> set[str]:
    """Project modules that ``source`` (module ``module``) imports, anywhere in it."""
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            target = node.module or ""
            if node.level:  # relative: `..` is the package above this module's package
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*parts, target] if target else parts)
            if target:
                found.add(target)
            # `from pkg import name`: name may be a submodule, imported as well.
            prefix = f"{target}." if target else ""
            found.update(
                prefix + alias.name
                for alias in node.names
                if module_path(prefix + alias.name) is not None
            )
    return {name for name in found if name.split(".")[0] in PROJECT}


def with_parents(names: Iterable[str]) -> set[str]:
    """Each module and the packages whose ``__init__`` importing it runs."""
    out: set[str] = set()
    for name in names:
        parts = name.split(".")
        out.update(".".join(parts[: i + 1]) for i in range(len(parts)))
    return out


def allowed(name: str) -> bool:
    return name == "simulators" or name.startswith("simulators.") or name in ALLOWED


def import_graph(start: Iterable[str]) -> dict[str, set[str]]:
    """Project module → project modules it imports, for what is reachable from ``start``.

    A module the simulators may not reach is a leaf: the first bad edge is the news.
    """
    graph: dict[str, set[str]] = {}
    todo = sorted(with_parents(start))
    while todo:
        name = todo.pop()
        if name in graph:
            continue
        path = module_path(name)
        if path is None or not allowed(name):
            graph[name] = set()
            continue
        deps = with_parents(
            imported_modules(path.read_text(encoding="utf-8"), name, path.name == "__init__.py")
        )
        graph[name] = deps
        todo.extend(sorted(deps - graph.keys()))
    return graph


def violations(graph: dict[str, set[str]]) -> list[str]:
    """Edges ``a -> b`` where ``b`` is a project module the simulators may not reach."""
    return sorted(
        f"{src} -> {dst}" for src, deps in graph.items() for dst in deps if not allowed(dst)
    )


def simulator_modules() -> list[str]:
    names = []
    for path in sorted((ROOT / "simulators").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def test_the_simulators_reach_only_the_contract_and_the_ground() -> None:
    modules = simulator_modules()
    assert {"simulators.simulate", "simulators.scale", "simulators.steps"} <= set(modules)
    graph = import_graph(modules)
    assert "ingest.contract" in graph, "the scan follows imports out of simulators"
    assert violations(graph) == []


def test_the_ground_and_the_contract_import_no_part() -> None:
    graph = import_graph(ALLOWED)
    assert violations(graph) == []
    assert all(deps <= ALLOWED for deps in graph.values()), graph


def test_simulate_and_scale_do_not_import_each_other() -> None:
    graph = import_graph(simulator_modules())
    assert "simulators.simulate" not in graph["simulators.scale"]
    assert "simulators.demo" not in graph  # the demo is the top, in fenlei/demo.py


def test_the_scan_sees_imports_anywhere_in_a_module() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "import numpy\n"
        "if TYPE_CHECKING:\n"
        "    from fenlei.demo import run_demo\n"
        "def f():\n"
        "    import api.cli\n"
        "    from .. import deploy\n"
        "    from ..ingest import payload\n"
        "    from . import estate\n"
    )
    found = imported_modules(source, "simulators.x")
    assert found >= {"fenlei.demo", "api.cli", "deploy", "ingest.payload", "simulators.estate"}
    assert "numpy" not in found and "typing" not in found
    bad = violations({"simulators.x": with_parents(found)})
    assert "simulators.x -> api.cli" in bad
    assert "simulators.x -> fenlei.demo" in bad
    assert "simulators.x -> ingest.payload" in bad
    assert "simulators.x -> simulators.estate" not in bad
