"""What happens on the simulated network: devices come and go, messages travel, phones act."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from waorch.sim.link import Link
from waorch.sim.state import Ban, Device, SimError, SimState, new_wa_id

WIRE_PHONE = re.compile(r"\d{7,15}")  # a recipient as clients send it: already E.164 digits

log = logging.getLogger(__name__)

MAX_TEXT = 65536


class SimNetwork:
    """The state plus the live connections: deliveries, disconnects, logouts and bans."""

    def __init__(self, state: SimState, save: Callable[[], None]) -> None:
        self.state = state
        self.save = save
        self.links: set[Link] = set()

    async def go_online(self, device: Device, link: Link) -> None:
        """Make ``link`` the paired device's connection (replacing an older one) and catch it up."""
        old, device.link = device.link, link
        if old is not None and old is not link:
            await old.close({"type": "replaced"})
        await link.send({"type": "connected", "phone": device.phone, "deviceId": device.id})
        inbox, device.inbox = device.inbox, []
        for message in inbox:
            await link.send(message)
        log.info("device %s of %s connected", device.id, device.phone)

    def go_offline(self, device: Device, link: Link) -> None:
        """``link`` closed: the device is offline (and forgotten if it never paired)."""
        if device.link is link:
            device.link = None
        self.state.forget_unpaired(device)

    async def deliver(self, to: str, sender: str, text: str, wa_id: str) -> tuple[int, int]:
        """Hand a message to every device of ``to``: (delivered now, queued for offline devices)."""
        message = {
            "type": "message",
            "from": sender,
            "chat": sender,
            "text": text,
            "waId": wa_id,
            "timestamp": time.time(),
        }
        delivered = queued = 0
        for device in self.state.phone_devices(to):
            if device.link is not None:
                await device.link.send(message)
                delivered += 1
            else:
                device.inbox.append(message)
                queued += 1
        return delivered, queued

    async def send(self, device: Device, to: Any, text: Any, message_id: str | None) -> str:
        """A connected device sends ``text`` to ``to``: logged, delivered, WhatsApp's id returned."""
        sender = device.phone
        if sender is None or device.link is None:
            raise SimError("NOT_CONNECTED", "the device is not connected")
        _check_message(to, text)
        if to in self.state.unregistered:
            raise SimError("NOT_ON_WHATSAPP", f"{to} is not on WhatsApp", permanent=True)
        wa_id = new_wa_id()
        entry = {"waId": wa_id, "messageId": message_id, "from": sender, "to": to, "text": text}
        self.state.record(self.state.sent, sender, entry)
        await self.deliver(to, sender, text, wa_id)
        return wa_id

    async def disconnect(self, phone: str) -> int:
        """Drop the connections of ``phone``'s devices (they stay paired)."""
        links = [device.link for device in self.state.known_phone(phone) if device.link is not None]
        for link in links:
            await link.close()
        return len(links)

    async def logout(self, phone: str) -> int:
        """Remove every device of ``phone`` ("log out from all devices" on the phone)."""
        devices = self.state.known_phone(phone)
        for device in devices:
            await self.remove(device, "device_removed")
        return len(devices)

    async def remove(self, device: Device, reason: str) -> None:
        """Void the device's login and tell it, if connected, why."""
        self.state.remove(device)
        self.save()
        link, device.link = device.link, None
        if link is not None:
            await link.close({"type": "logged_out", "reason": reason})
        log.info("device %s of %s logged out (%s)", device.id, device.phone, reason)

    async def ban(self, phone: str, seconds: float, code: int) -> Ban:
        """Ban ``phone`` for ``seconds``: its connections end and are refused until then."""
        devices = self.state.known_phone(phone)
        ban = Ban(code, time.time() + seconds)
        self.state.bans[phone] = ban
        for device in devices:
            link, device.link = device.link, None
            if link is not None:
                await link.close(ban.to_message())
        return ban

    async def close_all(self) -> None:
        """Close every client connection (the simulator is shutting down)."""
        for link in list(self.links):
            await link.close()


def _check_message(to: Any, text: Any) -> None:
    """Refuse, permanently, a send that can never succeed (``to`` on the wire: E.164 digits)."""
    if not isinstance(to, str) or not WIRE_PHONE.fullmatch(to):
        raise SimError("INVALID_PHONE", "to must be 7-15 digits", permanent=True)
    if not isinstance(text, str) or not 0 < len(text) <= MAX_TEXT:
        raise SimError("INVALID_MESSAGE", f"text must be 1-{MAX_TEXT} characters", permanent=True)


NETWORK = web.AppKey("waorch.sim.network", SimNetwork)
