"""The README's first command: ``scripts/start.sh`` sets up what is missing and runs ``waorch``."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_start_script_runs_waorch_after_the_setup(tmp_path: Path) -> None:
    # The test setup (`scripts/test.sh`) has just installed everything: the app's setup finds it done.
    result = subprocess.run(
        [str(ROOT / "scripts" / "start.sh"), "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: waorch") and "demo" in result.stdout
