"""``waorch.core`` is the bottom layer: loading it loads neither textual nor the layers that use it (the REST API,
the worker webhook receiver, the control room, the control seam, the host); the host loads no UI. What its
source names: tests/test_layers.py."""

from __future__ import annotations

import subprocess
import sys

ABOVE_THE_CORE = ("waorch.api", "waorch.webhook_server", "waorch.tui", "waorch.control", "waorch.host")
# click is no dependency of waorch; where it is installed (the test extras bring it with schemathesis) httpx
# imports its own command line, and rich with it: hidden here, as in an install of waorch alone.
PROBE = """
import pkgutil, importlib, sys
sys.modules["click"] = None
import waorch.core
for module in pkgutil.walk_packages(waorch.core.__path__, "waorch.core."):
    importlib.import_module(module.name)
above = sorted(m for m in sys.modules if m.startswith({above!r}))
import waorch.service, waorch.api.app, waorch.webhook_server.receiver, waorch.host  # no UI below the control room
print(above, sorted(m for m in sys.modules if m.split(".")[0] in ("textual", "rich")))
""".replace("{above!r}", repr(ABOVE_THE_CORE))


def test_core_loads_without_textual_or_the_layers_above_it() -> None:
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[] []"
