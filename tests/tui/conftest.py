"""Fixtures for the control room: the real app, hosting a real core on the shared Redis, driven by Pilot."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from tui_support import SIZE, Terminal, until

from waorch.config import Settings
from waorch.sim.server import SimServer
from waorch.tui.app import ControlRoom


@pytest.fixture
def control_room(make_settings: Callable[..., Settings], sim: SimServer, redis: Any) -> Callable[..., Any]:
    """Factory: ``async with control_room(readonly=False) as pilot`` runs the app with its core started
    (``toasts``: notices drawn on the screen, as in a terminal, not only kept)."""

    @contextlib.asynccontextmanager
    async def run(
        *, readonly: bool = False, size: tuple[int, int] = SIZE, toasts: bool = False, **overrides: str
    ) -> AsyncIterator[Pilot[Any]]:
        app = ControlRoom(make_settings(**{"SIM_URL": sim.url, **overrides}), readonly=readonly, stop_workers=True)
        async with app.run_test(size=size, notifications=toasts) as pilot:
            await until(pilot, lambda: app.reader is not None)
            yield pilot

    return run


@pytest.fixture
def terminal(tmp_path: Path, sim: SimServer) -> Iterator[Terminal]:
    """The control room in tmux, on its own embedded Redis, against the simulator."""
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    data = tmp_path / "data"
    data.mkdir()
    term = Terminal(data, sim.url)
    yield term
    term.close()
