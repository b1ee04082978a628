"""The rules the tree keeps: three programs, imports that point one way, small modules, no cycles.

The agent (``agent/`` and the design card's agent modules) and the server (``server/``, ``app.py``,
``auth_manager.py``, ``migrations/``) both import the contract (``contract/``, ``time_manager.py``)
and never each other. Every import counts, including those inside functions and under
``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
PACKAGES = ("contract", "agent", "server")
CARD_MODULES = {
    "main", "app", "screenshot_manager", "activity_tracker", "auth_manager", "battery_manager",
    "config_updater", "time_manager",
}
AGENT_TOP = {"main", "screenshot_manager", "activity_tracker", "battery_manager", "config_updater"}
SERVER_TOP = {"app", "auth_manager"}
CONTRACT_TOP = {"time_manager"}
MAX_MODULE_LINES = 400
SERVER_ONLY_LIBRARIES = {"flask", "werkzeug", "sqlalchemy", "alembic", "waitress", "psycopg", "click"}
AGENT_ONLY_LIBRARIES = {"tkinter", "pynput", "schedule"}
FORBIDDEN_NAMES = {"utils", "helpers", "misc", "util", "helper", "common"}


@dataclass(frozen=True, slots=True)
class Module:
    """One project module: its dotted name, file and the program it belongs to."""

    name: str
    path: Path
    side: str  # "agent", "server" or "contract"


def _side(name: str) -> str:
    top = name.split(".")[0]
    if top in ("agent", *AGENT_TOP):
        return "agent"
    if top in ("server", "migrations", *SERVER_TOP):
        return "server"
    return "contract"


def project_modules() -> list[Module]:
    """Every module of the three programs (tests, benchmarks and scripts are not programs)."""
    paths = sorted(PROJECT.glob("*.py"))
    for folder in (*PACKAGES, "migrations"):
        paths += sorted((PROJECT / folder).rglob("*.py"))
    modules = []
    for path in paths:
        parts = list(path.relative_to(PROJECT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        name = ".".join(parts)
        modules.append(Module(name, path, _side(name)))
    return modules


MODULES = project_modules()
BY_NAME = {module.name: module for module in MODULES}


def imported_names(path: Path) -> Iterator[str]:
    """Every module an import statement in ``path`` names (``from a.b import c`` gives a.b and a.b.c)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def project_imports(module: Module) -> set[str]:
    """The project modules ``module`` imports."""
    found = set()
    for name in imported_names(module.path):
        if name in BY_NAME and name != module.name:
            found.add(name)
    return found


def library_imports(module: Module) -> set[str]:
    """The top-level names of the libraries ``module`` imports."""
    tops = {name.split(".")[0] for name in imported_names(module.path)}
    return {top for top in tops if top not in BY_NAME and top not in PACKAGES and top != "migrations"}


def test_the_tree_finds_every_program() -> None:
    sides = {module.side for module in MODULES}
    assert sides == {"agent", "server", "contract"}
    assert {"main", "app", "agent.engine", "contract.errors"} <= set(BY_NAME)


def test_the_top_level_holds_the_design_card_modules_and_at_most_two_others() -> None:
    top = {path.stem for path in PROJECT.glob("*.py")}
    assert CARD_MODULES <= top
    assert len(top - CARD_MODULES) <= 2, sorted(top - CARD_MODULES)


@pytest.mark.parametrize("module", MODULES, ids=lambda module: module.name)
def test_a_module_imports_only_its_own_side_and_the_contract(module: Module) -> None:
    allowed = {"contract", module.side}
    crossing = sorted(name for name in project_imports(module) if BY_NAME[name].side not in allowed)
    assert crossing == [], f"{module.name} ({module.side}) imports {crossing}"


@pytest.mark.parametrize("module", MODULES, ids=lambda module: module.name)
def test_a_module_imports_no_library_of_the_other_program(module: Module) -> None:
    forbidden = {
        "agent": SERVER_ONLY_LIBRARIES,
        "server": AGENT_ONLY_LIBRARIES,
        "contract": SERVER_ONLY_LIBRARIES | AGENT_ONLY_LIBRARIES,
    }[module.side]
    assert sorted(library_imports(module) & forbidden) == []


def test_migrations_carry_their_own_tables_and_never_import_the_live_models() -> None:
    for module in MODULES:
        if module.name.startswith("migrations"):
            assert sorted(name for name in project_imports(module) if name.startswith("server")) == []


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for neighbour in sorted(graph[node]):
            if neighbour not in index:
                visit(neighbour)
                low[node] = min(low[node], low[neighbour])
            elif neighbour in on_stack:
                low[node] = min(low[node], index[neighbour])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_between_project_modules() -> None:
    graph = {module.name: project_imports(module) for module in MODULES}
    # A package's __init__ is imported whenever one of its modules is; it imports nothing itself.
    assert _cycles(graph) == []


@pytest.mark.parametrize("module", MODULES, ids=lambda module: module.name)
def test_no_module_is_over_four_hundred_lines(module: Module) -> None:
    lines = len(module.path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_MODULE_LINES, f"{module.name} has {lines} lines: split it by job"


def test_no_grab_bag_modules() -> None:
    names = {part for module in MODULES for part in module.name.split(".")}
    assert sorted(names & FORBIDDEN_NAMES) == []


def _loaded_after_import(modules: list[str]) -> set[str]:
    """The top-level names in sys.modules after importing ``modules`` in a fresh interpreter."""
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(' '.join(sorted({name.split('.')[0] for name in sys.modules})))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(PROJECT)}, check=False,
    )
    assert result.returncode == 0, result.stderr
    return set(result.stdout.split())


def test_importing_the_whole_agent_loads_no_server_library() -> None:
    agent = [module.name for module in MODULES if module.side in ("agent", "contract")]
    loaded = _loaded_after_import(agent)
    assert "tkinter" in loaded  # the check sees what the window imports
    assert sorted(loaded & SERVER_ONLY_LIBRARIES) == []


def test_importing_the_whole_server_loads_no_agent_library() -> None:
    server = [
        module.name for module in MODULES
        if module.side in ("server", "contract") and not module.name.startswith("migrations")
    ]
    loaded = _loaded_after_import(server)
    assert "flask" in loaded and "sqlalchemy" in loaded
    assert sorted(loaded & AGENT_ONLY_LIBRARIES) == []


def test_importing_any_module_opens_no_socket_database_or_window() -> None:
    names = [module.name for module in MODULES if not module.name.startswith("migrations")]
    code = (
        "import importlib, socket, sqlite3, tkinter\n"
        "def refuse(*args, **kwargs):\n"
        "    raise AssertionError('opened at import time')\n"
        "socket.socket.connect = refuse\n"
        "socket.socket.bind = refuse\n"
        "sqlite3.connect = refuse\n"
        "tkinter.Tk.__init__ = refuse\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(PROJECT)}, check=False,
    )
    assert result.returncode == 0, result.stderr
