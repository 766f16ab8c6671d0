"""The layers import one way: each package names only the layers below it (read from the source with ``ast``,
imports for type checking included)."""

from __future__ import annotations

import ast
from pathlib import Path

import waorch

PACKAGE = Path(waorch.__file__).parent
# Above the core: nothing in waorch.core may name these.
ABOVE_THE_CORE = (
    "waorch.api",
    "waorch.webhook_server",
    "waorch.tui",
    "waorch.control",
    "waorch.host",
    "waorch.service",
    "waorch.core_thread",
    "waorch.serve",
    "waorch.demo",
    "waorch.cli",
)
# The core modules the control room may name: its read model and the value types it shows. Everything
# else (Core, runners, dispatcher, lease, redis_server…) it reaches through the host and the control seam.
TUI_MAY_NAME = {
    "waorch.core.reader",
    "waorch.core.sessions",
    "waorch.core.tiers",
    "waorch.core.views",
    "waorch.core.activity",
    "waorch.core.messages",
    "waorch.core.proxy_pool",
    "waorch.core.pacing",
    "waorch.core.watchdog",
    "waorch.core.alerts",  # the signs alerts are shown with
    "waorch.core.jobs",  # JobView: the daily jobs' next run and last result
    "waorch.core.account_health",  # Report and the grades: the health score and its parts
}  # watchdog: its crash window, said on the session screen
TUI_MAY_NOT_NAME = ("waorch.service", "waorch.core_thread", "waorch.serve", "waorch.demo", "waorch.sim")


def imported_by(path: Path) -> set[str]:
    """Every module ``path`` names in an import, at run time or for type checking only."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
    return names


def imports_of(package: str) -> set[tuple[str, str]]:
    """(file, name) for every name the modules of ``package`` import."""
    root = PACKAGE / package
    return {(str(path.relative_to(PACKAGE)), name) for path in root.rglob("*.py") for name in imported_by(path)}


def core_module(name: str) -> str | None:
    """``waorch.core.x`` for a name inside the core package (``None`` for ``waorch.core`` alone or outside it)."""
    parts = name.split(".")
    return ".".join(parts[:3]) if parts[:2] == ["waorch", "core"] and len(parts) > 2 else None


def test_the_core_names_no_layer_above_it() -> None:
    assert {(path, name) for path, name in imports_of("core") if name.startswith(ABOVE_THE_CORE)} == set()


def test_the_control_room_reads_the_core_only_through_its_read_model_and_value_types() -> None:
    offending = {
        (path, name)
        for path, name in imports_of("tui")
        if (core_module(name) or "waorch.core.reader") not in TUI_MAY_NAME or name.startswith(TUI_MAY_NOT_NAME)
    }
    assert offending == set()


def test_the_worker_and_the_simulator_name_nothing_of_the_core() -> None:
    offending = {
        (path, name)
        for package in ("worker", "sim")
        for path, name in imports_of(package)
        if name == "waorch.core" or name.startswith("waorch.core.")
    }
    assert offending == set()
