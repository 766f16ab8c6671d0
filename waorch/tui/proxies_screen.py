"""The proxies pane: load, health and cool-down, sticky phones; add and remove proxies."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial

from rich.text import Text
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.widgets import Footer

from waorch.control import Control
from waorch.core.proxy_pool import ProxyInfo
from waorch.core.reader import CoreReader
from waorch.tui.bindings import HELP, PANE_BINDINGS, QUIT
from waorch.tui.forms import Field, Form, Values
from waorch.tui.live_pane import LivePane
from waorch.tui.live_table import Cell, LiveTable
from waorch.tui.modals import Confirm
from waorch.tui.title_bar import TitleBar

COLUMNS = (
    ("endpoint", "proxy", 21),
    ("status", "status", 6),
    ("cooldown", "cool-down", 10),
    ("load", "load", 5),
    ("source", "from", 4),
    ("phones", "phones stuck to it", 54),
    ("reason", "why BAD", 30),
)


def proxy_cells(info: ProxyInfo, now_ms: float) -> tuple[Cell, ...]:
    """A proxy as a row: host:port only (never its credentials), BAD in red with the time left."""
    bad = info.status == "bad"
    left = f"{max(0, int((info.bad_until_ms - now_ms) / 1000))} s" if bad else "-"
    status = Text("BAD", style="bold red") if bad else Text("ok", style="green")
    return (
        info.endpoint,
        status,
        left,
        f"{len(info.sessions)}/{info.max_sessions}",
        info.source,
        ", ".join(info.phones) or "-",
        info.reason or "-",
    )


class ProxiesScreen(LivePane[list[ProxyInfo]]):
    """Every proxy in the pool, refreshed every second."""

    BINDINGS = [
        *PANE_BINDINGS,
        Binding("a", "add", "Add proxy"),
        Binding("ctrl+d", "remove", "Remove proxy"),
        HELP,
        QUIT,
    ]

    def __init__(self) -> None:
        super().__init__()
        self.proxies: dict[str, ProxyInfo] = {}

    def compose(self) -> ComposeResult:
        """Header, table, footer."""
        yield TitleBar()
        yield LiveTable(COLUMNS, id="proxies")
        yield Footer()

    @property
    def selected(self) -> ProxyInfo | None:
        """The proxy under the cursor."""
        key = self.query_one(LiveTable).selected_key
        return self.proxies.get(key) if key else None

    async def read(self, reader: CoreReader) -> list[ProxyInfo]:
        """Every proxy with its load and phones."""
        return await reader.pool.list()

    def show(self, data: list[ProxyInfo]) -> None:
        """Update the rows and the counts."""
        self.proxies = {info.id: info for info in data}
        now_ms = self.app.clock.now() * 1000
        self.query_one(LiveTable).apply({info.id: proxy_cells(info, now_ms) for info in data})
        bad = sum(info.status == "bad" for info in data)
        self.sub_title = f"{len(data)} prox{'y' if len(data) == 1 else 'ies'}" + (f", {bad} BAD" if bad else "")

    def action_add(self) -> None:
        """Ask for a proxy URL and add it to the pool."""
        control = self.app._allowed("adding a proxy")
        if control is not None:
            field = Field(
                "url", "Proxy URL (socks5h://user:pass@host:port)", placeholder="socks5h://host:port", password=True
            )
            self.app.push_screen(Form("Add a proxy", [field], "Add", partial(self._add, control)))

    async def _add(self, control: Control, values: Values) -> None:
        added = await control.add_proxy(values["url"])
        self.notify(f"Proxy {added.endpoint} added.")

    def action_remove(self) -> None:
        """Remove the proxy under the cursor, after confirmation."""
        control = self.app._allowed("removing a proxy")
        if control is None:
            return
        info = self.selected
        if info is None:
            self.notify("No proxy selected to remove.", severity="warning")
            return
        question = f"Remove proxy {info.endpoint} from the pool? Sessions on it must be moved or deleted first."
        self.app.push_screen(
            Confirm(question, "Remove"),
            partial(self.app._confirmed, f"Removing proxy {info.endpoint}", partial(self._remove, control, info)),
        )

    async def _remove(self, control: Control, info: ProxyInfo) -> None:
        await control.remove_proxy(info.id)
        self.notify(f"Proxy {info.endpoint} removed.")

    def commands(self) -> Iterable[SystemCommand]:
        """This pane's actions, for the command palette."""
        yield SystemCommand("Add a proxy", "Add a SOCKS5 proxy to the pool", self.action_add)
        if info := self.selected:
            yield SystemCommand(
                f"Remove proxy {info.endpoint}", "Remove it from the pool (asks first)", self.action_remove
            )
