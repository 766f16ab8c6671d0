"""``waorch.core`` never imports textual (the control room is a client of the core)."""

from __future__ import annotations

import subprocess
import sys

# click is no dependency of waorch; where it is installed (the test extras bring it with schemathesis) httpx
# imports its own command line, and rich with it: hidden here, as in an install of waorch alone.
PROBE = """
import pkgutil, importlib, sys
sys.modules["click"] = None
import waorch.core
for module in pkgutil.walk_packages(waorch.core.__path__, "waorch.core."):
    importlib.import_module(module.name)
import waorch.service, waorch.webhook_server.app
print(sorted(m for m in sys.modules if m.split(".")[0] in ("textual", "rich")))
"""


def test_core_loads_without_textual() -> None:
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]"
