"""``waorch`` with no subcommand, and ``waorch tui [--readonly]``, open the control room."""

from __future__ import annotations

from pathlib import Path

import pytest

from waorch import cli
from waorch.config import Settings


@pytest.mark.parametrize(("argv", "readonly"), [([], False), (["tui"], False), (["tui", "--readonly"], True)])
def test_bare_waorch_and_tui_open_the_control_room(argv: list[str], readonly: bool, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[tuple[Settings, bool]] = []
    monkeypatch.setattr("waorch.tui.app.run", lambda settings, *, readonly: opened.append((settings, readonly)))
    monkeypatch.chdir(tmp_path)
    for name, value in {"DATA_DIR": str(tmp_path / "data"), "API_KEY": "k" * 24, "WEBHOOK_SECRET": "s" * 24}.items():
        monkeypatch.setenv(name, value)
    assert cli.main(argv) == 0
    [(settings, flag)] = opened
    assert flag is readonly and settings.data_dir == tmp_path / "data"
