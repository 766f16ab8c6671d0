"""``waorch demo``: the control room on a simulated network, for a first look without a phone.

Everything runs on this machine and stops on quit: the WhatsApp simulator, three SOCKS5 proxies
(:mod:`waorch.sim.socks`), a private embedded Redis and the workers, all under a data dir of
their own that is deleted afterwards; the user's real fleet is never touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from waorch.cancel import cancel_and_wait
from waorch.config import Settings, load_settings
from waorch.control import Control
from waorch.core.sessions import Session, Status
from waorch.core.tiers import DEFAULT_TIERS
from waorch.errors import WaorchError
from waorch.logs import log_to_file
from waorch.sim.server import SimOptions, SimServer
from waorch.sim.socks import SocksServer

if TYPE_CHECKING:
    from waorch.tui.app import ControlRoom, Scanner

PROXIES = 3
SESSIONS = 4
PHONES = tuple(f"97250000000{n}" for n in range(1, 10))  # the simulated accounts' numbers
# A newcomer reads before scanning: codes live 2 min, then 1 min, 8 of them (≈ 9 min per session).
QR_FIRST_TTL, QR_TTL, QR_COUNT = 120.0, 60.0, 8
TITLE = "SIMULATION (tiers active all day)"  # in every title of the demo's control room
QUIT_NOTE = "The simulated network and its sessions are removed."  # what quitting the demo also does


@dataclass
class Simulation:
    """The simulated network the demo fleet lives in, and the settings of that fleet."""

    sim: SimServer
    proxies: list[SocksServer]
    settings: Settings

    async def scan(self, session: Session) -> str:
        """A simulated phone scans ``session``'s QR code through the simulator's control API; the phone.

        The phone is the session's own, or one derived from its id. No QR code shown, or a refusal
        by the simulator (an expired code), is a ``WaorchError``.
        """
        if session.status != Status.QR_READY or not session.qr:
            raise WaorchError(f"{session.id} shows no QR code to scan (status {session.status})", session_id=session.id)
        phone = session.phone or f"97259{int(''.join(filter(str.isdigit, session.id)) or 0):07d}"
        async with httpx.AsyncClient(base_url=self.sim.url, trust_env=False, timeout=10) as client:
            answer = await client.post("/sim/scan", json={"qr": session.qr, "phone": phone})
        if answer.status_code == 200:
            return phone
        problem = answer.json() if answer.headers.get("content-type", "").startswith("application/json") else {}
        raise WaorchError(
            f"the simulator refused the scan: {problem.get('message', answer.text)}",
            code=problem.get("error", "SIM_REFUSED"),
        )

    async def scan_notice(self, session: Session) -> str:
        """``scan``, and what to tell the user about it (the control room's x)."""
        phone = await self.scan(session)
        return f"{session.id}: the simulated phone {phone} scanned the QR code; connecting…"

    def scanner(self) -> Scanner:
        """The control room's x: a simulated phone scans the session's QR code."""
        from waorch.tui.app import Scanner

        return Scanner(
            self.scan_notice,
            "SIMULATION: press x and a simulated phone scans it.",
            "session screen: a simulated phone scans the QR code (waorch demo only)",
        )

    async def populate(self, control: Control, count: int = SESSIONS) -> list[str]:
        """Use tiers active all day (a rehearsal must not wait for 09:00), then provision ``count``
        sessions with the demo phones (each gets a proxy of the pool); their ids."""
        await control.replace_tiers([replace(tier, hours_start="00:00", hours_end="24:00") for tier in DEFAULT_TIERS])
        return [await control.provision(phone, None) for phone in PHONES[:count]]


def demo_environment(data_dir: Path, sim: SimServer, proxies: list[SocksServer], orch_port: int) -> dict[str, str]:
    """The variables of the demo fleet: its own data dir and embedded Redis, the simulator, the local proxies."""
    env = {
        "DATA_DIR": str(data_dir),
        "WORKER_ENGINE": "sim",
        "SIM_URL": sim.url,
        "ORCH_PORT": str(orch_port),
        "API_KEY": secrets.token_urlsafe(24),
        "WEBHOOK_SECRET": secrets.token_urlsafe(24),
        "PROVISIONING_INTERVAL_MS": "500",
    }
    env |= {f"PROXY_URL_{n}": proxy.url() for n, proxy in enumerate(proxies, 1)}
    return env


@contextlib.asynccontextmanager
async def simulation(data_dir: Path, orch_port: int = 0) -> AsyncIterator[Simulation]:
    """Start the simulator and the proxies on loopback; yield them with the fleet's settings; stop them."""
    sim = SimServer(SimOptions(qr_first_ttl=QR_FIRST_TTL, qr_ttl=QR_TTL, qr_count=QR_COUNT))
    proxies = [SocksServer(f"demo{n}", secrets.token_urlsafe(12)) for n in range(1, PROXIES + 1)]
    async with contextlib.AsyncExitStack() as stack:
        await sim.start()
        stack.push_async_callback(sim.stop)
        for proxy in proxies:
            await proxy.start()
            stack.push_async_callback(proxy.close)
        env = demo_environment(data_dir, sim, proxies, orch_port or free_port())
        yield Simulation(sim, proxies, load_settings(env))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (for the demo's HTTP API)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def run_demo(sessions: int = SESSIONS) -> None:
    """Run the control room on a simulated fleet of ``sessions`` until the user quits; then remove it all."""
    with tempfile.TemporaryDirectory(prefix="waorch-demo-") as data:
        async with simulation(Path(data)) as world:
            log_to_file(world.settings.data_dir)
            app = demo_room(world)
            fleet = asyncio.create_task(populate_when_ready(app, world, sessions))
            try:
                await app.run_async()
            finally:
                await cancel_and_wait(fleet)


def demo_room(world: Simulation) -> ControlRoom:
    """The control room on ``world``'s fleet: says it is a simulation, x scans, quitting removes it all."""
    from waorch.tui.app import ControlRoom

    return ControlRoom(
        world.settings, stop_workers=True, title_suffix=TITLE, scanner=world.scanner(), quit_note=QUIT_NOTE
    )


async def populate_when_ready(app: ControlRoom, world: Simulation, sessions: int) -> None:
    """Once the control room's core runs, provision the demo sessions through it."""
    while (control := app.control) is None:  # noqa: ASYNC110 (the app has no "core is up" event to wait on)
        await asyncio.sleep(0.1)
    await app.call(world.populate(control, sessions))
    app.notify(
        "Nothing here reaches WhatsApp: the phones, the network and the proxies run on this machine, and "
        "the trust tiers are active all day. Open a session (enter) and press x: a simulated phone scans its QR code.",
        title="This is a simulation",
        timeout=20,
    )
