"""``waorch.core`` is the bottom layer: it never imports textual, nor the layers that use it (the REST API,
the worker webhook receiver, the control room, the control seam)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import waorch.core

ABOVE_THE_CORE = ("waorch.api", "waorch.webhook_server", "waorch.tui", "waorch.control")
# click is no dependency of waorch; where it is installed (the test extras bring it with schemathesis) httpx
# imports its own command line, and rich with it: hidden here, as in an install of waorch alone.
PROBE = """
import pkgutil, importlib, sys
sys.modules["click"] = None
import waorch.core
for module in pkgutil.walk_packages(waorch.core.__path__, "waorch.core."):
    importlib.import_module(module.name)
above = sorted(m for m in sys.modules if m.startswith({above!r}))
import waorch.service, waorch.api.app, waorch.webhook_server.receiver
print(above, sorted(m for m in sys.modules if m.split(".")[0] in ("textual", "rich")))
""".replace("{above!r}", repr(ABOVE_THE_CORE))


def test_core_loads_without_textual_or_the_layers_above_it() -> None:
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[] []"


def imported_by(path: Path) -> set[str]:
    """Every module ``path`` names in an import, at run time or for type checking only."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
    return names


def test_no_core_module_names_a_layer_above_it() -> None:
    core = Path(waorch.core.__file__).parent
    offending = {f"{path.relative_to(core)}: {name}" for path in core.rglob("*.py") for name in imported_by(path)
                 if name.startswith(ABOVE_THE_CORE)}
    assert offending == set()
