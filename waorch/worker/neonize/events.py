"""What neonize's events mean for a session: pure functions from neonize objects to ``Outcome``.

The engine registers one handler per neonize event type; each handler asks this module what the
event means (events to emit, the session's new state, whether ``run()`` ends) and applies it.
Event shapes are those of the sim engine. ``run()`` ends with one of these reasons:

- ``stopped``: ``stop()`` was called (the login is kept).
- ``logged_out``: the device was removed (``LoggedOutEv`` or ``logout()``); the auth data is deleted.
- ``qr_timeout``: the QR phase ended without a scan (whatsmeow disconnects silently; own timer).
- ``auth_failure``: pairing failed (``PairStatusEv`` with an error).
- ``proxy_error``: the connection through the proxy failed.
- ``hung``: nothing answered within the connect bound (the process is then ended hard).
- ``stream_replaced``: another connection with this login took over (no reconnect).
- ``temporary_ban``: WhatsApp banned the account for a while; returned once the ban is over.
- ``client_outdated``: WhatsApp refuses this client version.
- ``connect_failure``: WhatsApp refused the connection for another reason, or it could not be made.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper

from waorch.worker.connect_failures import ConnectFailure, classify, no_answer
from waorch.worker.engine import SendResult
from waorch.worker.neonize.lib import extract_text, pb

Event = tuple[str, dict[str, Any]]

QR_FIRST_TTL = 60.0
QR_NEXT_TTL = 20.0
USER_SERVER = "s.whatsapp.net"
REACHOUT_TIMELOCK = 463
SERVER_ERROR = re.compile(r"server returned error (\d+)")


@dataclass(frozen=True)
class Outcome:
    """What one event means: events to emit, the session's new state, and whether ``run()`` ends."""

    emit: tuple[Event, ...] = ()
    final: str | None = None
    online: bool | None = None
    phone: str | None = None
    resume_at: float | None = None
    forget_login: bool = False


def _enum_name(enum: EnumTypeWrapper, value: int) -> str:
    try:
        return str(enum.Name(value)).lower()
    except ValueError:
        return str(value)


def _disconnected(reason: str, detail: str, *, logged_out: bool = False, **extra: Any) -> Event:
    return "DISCONNECTED", {"reason": reason, "loggedOut": logged_out, "detail": detail, **extra}


def qr_ttl(index: int) -> float:
    """Seconds the ``index``-th QR code of a login lives (the first 60, later ones 20)."""
    return QR_FIRST_TTL if index == 0 else QR_NEXT_TTL


def qr_code(payload: bytes, index: int, now: float) -> Event:
    """``QR_CODE`` for the ``index``-th payload neonize's QR callback got."""
    ttl = qr_ttl(index)
    return "QR_CODE", {"qr": payload.decode(), "expiresAt": now + ttl, "ttl": ttl}


def qr_timeout() -> Outcome:
    """The last QR code expired unscanned."""
    failure = {"reason": "qr_timeout", "detail": "no QR code was scanned in time"}
    return Outcome(emit=(("AUTH_FAILURE", failure),), final="qr_timeout")


def phone_of(device: pb.Device | None) -> str | None:
    """The account's phone number from neonize's ``Device`` (``client.me``), if known."""
    return (device.JID.User or None) if device is not None else None


def connected(phone: str) -> Outcome:
    """``ConnectedEv`` (or a restored keepalive) for the account ``phone``."""
    return Outcome(emit=(("CONNECTED", {"phoneNumber": phone}),), online=True, phone=phone)


def pair_status(event: pb.PairStatus) -> Outcome:
    """``PairStatusEv``: success tells the phone number; an error ends the login attempt."""
    if event.Status == pb.PairStatus.SUCCESS:
        return Outcome(phone=event.ID.User)
    failure = {"reason": "auth_failure", "detail": f"pairing failed: {event.Error or 'no reason given'}"}
    return Outcome(emit=(("AUTH_FAILURE", failure),), final="auth_failure")


def logged_out(event: pb.LoggedOut) -> Outcome:
    """``LoggedOutEv``: the device was removed; forget the login."""
    reason = _enum_name(pb.ConnectFailureReason, event.Reason)
    when = " while connecting" if event.OnConnect else ""
    detail = f"logged out by WhatsApp ({reason}){when}"
    return Outcome(
        emit=(_disconnected("logged_out", detail, logged_out=True),),
        final="logged_out",
        online=False,
        forget_login=True,
    )


def logged_out_here() -> Outcome:
    """``logout()`` succeeded: this device removed itself."""
    event = _disconnected("logged_out", "logged out from this device", logged_out=True)
    return Outcome(emit=(event,), final="logged_out", online=False, forget_login=True)


def disconnected(online: bool) -> Outcome:
    """``DisconnectedEv``: whatsmeow reconnects by itself; report it once per connection."""
    if not online:
        return Outcome()
    event = _disconnected("connection_lost", "the connection to WhatsApp was lost; reconnecting")
    return Outcome(emit=(event,), online=False)


def stream_replaced() -> Outcome:
    """``StreamReplacedEv``: another client with this login took over; whatsmeow does not reconnect."""
    event = _disconnected("stream_replaced", "another connection with this login replaced this one")
    return Outcome(emit=(event,), final="stream_replaced", online=False)


def temporary_ban(event: pb.TemporaryBan, now: float) -> Outcome:
    """``TemporaryBanEv``: ``Expire`` is the ban's remaining seconds; ``run()`` returns after it."""
    expires_at = now + event.Expire
    detail = f"temporary ban ({_enum_name(pb.TemporaryBan.TempBanReason, event.Code)}) for {event.Expire} s"
    disconnect = _disconnected("temporary_ban", detail, code=int(event.Code), expiresAt=expires_at)
    return Outcome(emit=(disconnect,), final="temporary_ban", online=False, resume_at=expires_at)


def connect_failure(event: pb.ConnectFailure) -> Outcome:
    """``ConnectFailureEv``: a refusal whatsmeow does not retry (logouts and bans have own events)."""
    reason = _enum_name(pb.ConnectFailureReason, event.Reason)
    refused = ConnectFailure("whatsapp_refused", f"{reason} ({event.Message or 'no message'})")
    return Outcome(emit=(refused.event(),), final="connect_failure", online=False)


def keepalive_timeout(event: pb.KeepAliveTimeout, online: bool) -> Outcome:
    """``KeepAliveTimeoutEv``: WhatsApp stopped answering pings; report it once."""
    if not online:
        return Outcome()
    detail = f"{event.ErrorCount} keepalive pings unanswered (last answer at unix {event.LastSuccess})"
    return Outcome(emit=(_disconnected("keepalive_timeout", detail),), online=False)


def keepalive_restored(phone: str | None, online: bool) -> Outcome:
    """``KeepAliveRestoredEv``: after a keepalive timeout, the same connection works again."""
    return connected(phone) if phone and not online else Outcome()


def client_outdated() -> Outcome:
    """``ClientOutdatedEv``: WhatsApp refuses this client version until neonize is updated."""
    event = _disconnected("client_outdated", "WhatsApp refuses this client version (update neonize)")
    return Outcome(emit=(event,), final="client_outdated", online=False)


def _address(jid: pb.JID, alternative: pb.JID | None = None) -> str:
    """Digits for a phone-number JID (or its phone-number alternative); ``user@server`` otherwise."""
    if jid.Server != USER_SERVER and alternative is not None and alternative.Server == USER_SERVER:
        jid = alternative
    return jid.User if jid.Server == USER_SERVER else f"{jid.User}@{jid.Server}"


def message_received(event: pb.Message) -> Outcome:
    """``MessageEv``: an incoming text (own messages, status updates and non-text are skipped)."""
    source = event.Info.MessageSource
    text = extract_text(event.Message)
    if source.IsFromMe or not text or source.Chat.Server == "broadcast":
        return Outcome()
    sender = _address(source.Sender, source.SenderAlt)
    chat = _address(source.Chat) if source.IsGroup else sender
    data = {"from": sender, "chat": chat, "text": text, "waId": event.Info.ID, "timestamp": event.Info.Timestamp / 1000}
    return Outcome(emit=(("MESSAGE_RECEIVED", data),))


def connect_error(message: str) -> Outcome:
    """neonize's connect task raised (``message`` already free of secrets): what failed, in words."""
    kind, data = classify(message).event()
    return Outcome(emit=((kind, data),), final="proxy_error" if kind == "PROXY_ERROR" else "connect_failure")


def hung(seconds: float, proxied: bool) -> Outcome:
    """Nothing (no QR code, no connection, no error) came within ``seconds`` of connecting."""
    return Outcome(emit=(no_answer(seconds, proxied).event(),), final="hung")


def recipient(responses: Iterable[pb.IsOnWhatsAppResponse]) -> pb.JID | None:
    """The JID WhatsApp knows a number by (from ``is_on_whatsapp``), or ``None`` if it is not on WhatsApp."""
    return next((response.JID for response in responses if response.IsIn), None)


def not_on_whatsapp() -> SendResult:
    """A send to a number that is not on WhatsApp: never retried."""
    return SendResult(ok=False, error="NOT_ON_WHATSAPP", permanent=True)


def send_failure(message: str) -> tuple[SendResult, Event | None]:
    """A failed ``send_message`` (transient), and ``SEND_RESTRICTED`` for WhatsApp's reach-out time-lock."""
    match = SERVER_ERROR.search(message)
    if match is None:
        return SendResult(ok=False, error="SEND_FAILED"), None
    code = int(match.group(1))
    if code != REACHOUT_TIMELOCK:
        return SendResult(ok=False, error=f"SERVER_ERROR_{code}"), None
    detail = f"WhatsApp refuses messages to new contacts for now (error {code}: reach-out time-lock)"
    restricted = {"reason": "reachout_timelock", "detail": detail, "until": None}
    return SendResult(ok=False, error="reachout_timelock"), ("SEND_RESTRICTED", restricted)
