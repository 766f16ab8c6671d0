"""The simulator's world: devices, pairing refs and codes, bans, and what phones sent.

Everything here is plain, synchronous bookkeeping with WhatsApp's rules (QR refs that expire,
four companion devices per phone, temporary bans). Talking to connected clients is the job of
:mod:`waorch.sim.network`.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from waorch.clock import Clock, SystemClock
from waorch.errors import InvalidPhone
from waorch.phones import parse_phone

if TYPE_CHECKING:
    from waorch.sim.link import Link

MAX_COMPANIONS = 4
CODE_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTVWXYZ"


class SimError(Exception):
    """A request the simulator refuses: a machine-readable code, an HTTP status, a message."""

    def __init__(self, code: str, message: str, status: int = 400, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.permanent = permanent

    def to_dict(self) -> dict[str, Any]:
        """The JSON body of an error answer."""
        return {"error": self.code, "message": self.message}


@dataclass
class QrRef:
    """One pairing ref handed to an unpaired device; valid while current and not expired."""

    value: str
    device_id: str
    expires_at: float


@dataclass
class PairCode:
    """A pairing code a device asked for: it links that device to that phone."""

    code: str
    device_id: str
    phone: str


@dataclass
class Device:
    """A companion device: unpaired while it shows QR codes, paired once linked to a phone.

    ``noise``, ``identity`` and ``adv`` are the client's public keys as it puts them in its QR
    payload. ``link`` is set while the paired device is connected; ``pairing`` resolves with the
    new login token when a scan or a pairing code links the device during its QR phase.
    """

    id: str
    keys: tuple[str, str, str]
    name: str
    phone: str | None = None
    token_hash: str | None = None
    qr: QrRef | None = None
    code: PairCode | None = None
    link: Link | None = None
    pairing: asyncio.Future[str] | None = None
    inbox: list[dict[str, Any]] = field(default_factory=list)

    @property
    def connected(self) -> bool:
        """Paired and holding a live connection."""
        return self.phone is not None and self.link is not None

    @property
    def qr_payload(self) -> str | None:
        """What the device's screen shows now: ``ref,noise,identity,adv``, or None."""
        return ",".join((self.qr.value, *self.keys)) if self.qr else None

    def summary(self) -> dict[str, Any]:
        """What ``GET /sim/devices`` shows (never the token)."""
        return {
            "id": self.id,
            "name": self.name,
            "phone": self.phone,
            "paired": self.phone is not None,
            "connected": self.connected,
            "qr": self.qr_payload,
        }


@dataclass(frozen=True)
class Ban:
    """A temporary ban of a phone: WhatsApp's reason code and when it ends."""

    code: int
    expires_at: float

    def to_message(self) -> dict[str, Any]:
        """The protocol message telling a client about the ban."""
        return {"type": "banned", "code": self.code, "expiresAt": self.expires_at}


def check_phone(phone: Any, field_name: str = "phone") -> str:
    """``phone``'s E.164 digits, read like every number waorch takes (``+972 50-…``, ``00972…`` or the
    digits alone; the simulator has no default region), else an ``INVALID_PHONE`` error."""
    try:
        return parse_phone(phone, None, field=field_name, valid_only=False)
    except InvalidPhone as error:
        raise SimError("INVALID_PHONE", error.message) from None


def hash_token(token: str) -> str:
    """The form a login token is kept in (the plain token lives only on the client)."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_wa_id() -> str:
    """A message id shaped like WhatsApp Web's (``3EB0`` + 18 hex digits)."""
    return "3EB0" + secrets.token_hex(9).upper()


class SimState:
    """Devices, refs, codes, bans, unregistered numbers and per-phone logs."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or SystemClock()
        self.devices: dict[str, Device] = {}
        self.refs: dict[str, QrRef] = {}
        self.codes: dict[str, PairCode] = {}
        self.bans: dict[str, Ban] = {}
        self.unregistered: set[str] = set()
        self.sent: dict[str, list[dict[str, Any]]] = {}
        self.presences: dict[str, list[dict[str, Any]]] = {}
        self.lookups: dict[str, list[dict[str, Any]]] = {}  # by the asking phone: the numbers it looked up

    def add_device(self, keys: tuple[str, str, str], name: str) -> Device:
        """Register a new, unpaired device that just said hello."""
        device = Device(f"dev-{secrets.token_hex(4)}", keys, name)
        self.devices[device.id] = device
        return device

    def login(self, token: str, identity: str) -> Device | None:
        """The paired device this token logs in, if it still exists and the identity matches."""
        wanted = hash_token(token)
        for device in self.devices.values():
            if device.token_hash == wanted and device.keys[1] == identity:
                return device
        return None

    def forget_unpaired(self, device: Device) -> None:
        """Drop a device that left without pairing (its refs and code die with it)."""
        self.end_qr_phase(device)
        if device.phone is None:
            self.devices.pop(device.id, None)

    def remove(self, device: Device) -> None:
        """Remove a device from its phone: its login is void."""
        self.devices.pop(device.id, None)

    def phone_devices(self, phone: str) -> list[Device]:
        """The devices paired with ``phone``."""
        return [device for device in self.devices.values() if device.phone == phone]

    def known_phone(self, phone: str) -> list[Device]:
        """The phone's devices, or ``PHONE_UNKNOWN`` if it has none."""
        phone = check_phone(phone)
        devices = self.phone_devices(phone)
        if not devices:
            raise SimError("PHONE_UNKNOWN", f"no device is paired with {phone}", 404)
        return devices

    def active_ban(self, phone: str) -> Ban | None:
        """The phone's ban if it has not ended yet."""
        ban = self.bans.get(phone)
        if ban is not None and ban.expires_at <= time.time():
            del self.bans[phone]
            return None
        return ban

    def issue_ref(self, device: Device, ttl: float) -> QrRef:
        """A fresh pairing ref for ``device``; the previous one stops being valid."""
        ref = QrRef("2@" + secrets.token_urlsafe(48), device.id, time.time() + ttl)
        self.refs[ref.value] = ref
        device.qr = ref
        return ref

    def end_qr_phase(self, device: Device) -> None:
        """No more scans or codes for ``device``."""
        device.qr = None
        device.code = None

    def issue_code(self, device: Device, phone: str) -> str:
        """An 8-character pairing code (``ABCD-EFGH``) that links ``device`` to ``phone``."""
        phone = check_phone(phone)
        if device.qr is None:
            raise SimError("NOT_IN_QR_PHASE", "pairing codes are only given while the device waits to be paired", 409)
        chars = "".join(secrets.choice(CODE_ALPHABET) for _ in range(8))
        device.code = PairCode(f"{chars[:4]}-{chars[4:]}", device.id, phone)
        self.codes[device.code.code] = device.code
        return device.code.code

    def scan(self, payload: str, phone: str) -> Device:
        """Pair the device showing QR ``payload`` with ``phone``."""
        phone = check_phone(phone)
        parts = payload.split(",")
        if len(parts) != 4:
            raise SimError("QR_INVALID", "a QR payload is ref,noise,identity,adv")
        device = self._current_device(self.refs.get(parts[0]))
        if tuple(parts[1:]) != device.keys:
            raise SimError("QR_MISMATCH", "the keys in the QR payload do not belong to the device showing it")
        self._pair(device, phone)
        return device

    def link_code(self, phone: str, code: str) -> Device:
        """Pair the device that asked for pairing code ``code`` with ``phone``."""
        phone = check_phone(phone)
        entry = self.codes.get(code.strip().upper())
        if entry is None or entry.phone != phone:
            raise SimError("CODE_UNKNOWN", "no pairing code like this was given for this phone", 404)
        device = self.devices.get(entry.device_id)
        if device is None or device.code is not entry:
            raise SimError("CODE_EXPIRED", "this pairing code is no longer valid", 410)
        self._pair(device, phone)
        return device

    def _current_device(self, ref: QrRef | None) -> Device:
        """The device whose current, unexpired ref is ``ref``."""
        if ref is None:
            raise SimError("QR_UNKNOWN", "no such QR code was ever shown", 404)
        device = self.devices.get(ref.device_id)
        if device is None or device.qr is not ref or ref.expires_at <= time.time():
            raise SimError("QR_EXPIRED", "this QR code has expired; scan the current one", 410)
        return device

    def _pair(self, device: Device, phone: str) -> None:
        """Link ``device`` to ``phone`` and hand the new login token to its QR phase."""
        if len(self.phone_devices(phone)) >= MAX_COMPANIONS:
            raise SimError("DEVICE_LIMIT", f"{phone} already has {MAX_COMPANIONS} companion devices", 409)
        token = secrets.token_urlsafe(32)
        self.end_qr_phase(device)
        device.phone = phone
        device.token_hash = hash_token(token)
        if device.pairing is not None and not device.pairing.done():
            device.pairing.set_result(token)

    def record(self, log: dict[str, list[dict[str, Any]]], phone: str, entry: dict[str, Any]) -> None:
        """Append ``entry`` (stamped with ``at``) to ``phone``'s list in ``log``."""
        log.setdefault(phone, []).append({**entry, "at": self.clock.now()})
