"""A screen that reads from the core off the render path, every ``REFRESH_S`` while it is visible."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Generic, TypeVar

import redis.asyncio as aioredis
from textual import work
from textual.css.query import NoMatches
from textual.screen import Screen

from waorch.core.reader import CoreReader
from waorch.errors import WaorchError

if TYPE_CHECKING:
    from waorch.tui.app import ControlRoom

log = logging.getLogger("waorch.tui")
T = TypeVar("T")


class LivePane(Screen[None], Generic[T]):
    """Subclasses say what to ``read`` from the core and how to ``show`` it; hidden panes do not read."""

    REFRESH_S = 1.0
    app: ControlRoom

    def on_mount(self) -> None:
        """Start the live refresh."""
        self.follow()

    async def read(self, reader: CoreReader) -> T:
        """Everything the pane shows, read from the core's stores."""
        raise NotImplementedError

    def show(self, data: T) -> None:
        """Bring the widgets up to date with what ``read`` returned."""
        raise NotImplementedError

    @work(exclusive=True, group="pane")
    async def follow(self) -> None:
        """Read and show, again and again, while the screen exists."""
        while True:
            try:
                await self.refresh_now()
            except NoMatches:  # the screen closed while it was read
                return
            await asyncio.sleep(self.REFRESH_S)

    async def refresh_now(self) -> None:
        """One read and show (skipped while another screen covers this one)."""
        reader = self.app.reader
        if reader is None:
            self.sub_title = self.app.core_state
        elif self.is_current:
            try:
                data = await self.app.call(self.read(reader))
            except (aioredis.RedisError, OSError) as error:
                log.warning("%s refresh failed: %s", type(self).__name__, error)
                self.sub_title = "Redis unavailable; retrying"
                self.app.show_redis(False)
                return
            except WaorchError as error:
                self.sub_title = error.message
                return
            self.app.show_redis(True)
            self.show(data)
