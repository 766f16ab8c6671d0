"""``waorch`` with no subcommand, and ``waorch tui [--readonly]``, open the control room."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest

from waorch import cli
from waorch.config import Settings
from waorch.logs import log_to_file


@pytest.mark.parametrize(("argv", "readonly"), [([], False), (["tui"], False), (["tui", "--readonly"], True)])
def test_bare_waorch_and_tui_open_the_control_room(
    argv: list[str], readonly: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[tuple[Settings, bool]] = []
    monkeypatch.setattr("waorch.tui.app.run", lambda settings, *, readonly: opened.append((settings, readonly)))
    monkeypatch.chdir(tmp_path)
    for name, value in {"DATA_DIR": str(tmp_path / "data"), "API_KEY": "k" * 24, "WEBHOOK_SECRET": "s" * 24}.items():
        monkeypatch.setenv(name, value)
    assert cli.main(argv) == 0
    [(settings, flag)] = opened
    assert flag is readonly and settings.data_dir == tmp_path / "data"


def test_the_control_room_logs_to_a_file_in_the_data_dir_and_never_to_the_terminal(tmp_path: Path) -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    (tmp_path / "data").mkdir(mode=0o755)  # as an older version left it: readable by everyone
    (tmp_path / "data" / "waorch.log").touch(mode=0o644)
    os.chmod(tmp_path / "data", 0o755)
    os.chmod(tmp_path / "data" / "waorch.log", 0o644)
    try:
        log_to_file(tmp_path / "data")
        assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o700
        assert stat.S_IMODE((tmp_path / "data" / "waorch.log").stat().st_mode) == 0o600
        logging.getLogger("waorch.core").warning("a line for the file")
        assert not any(type(handler) is logging.StreamHandler for handler in root.handlers)
        for handler in root.handlers:
            handler.flush()
        assert "a line for the file" in (tmp_path / "data" / "waorch.log").read_text()
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
            handler.close()
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
