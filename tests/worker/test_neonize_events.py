"""neonize's own event objects (its protobuf types, as its Go core sends them) → waorch events."""

from __future__ import annotations

import pytest

from waorch.worker.engine import SendResult
from waorch.worker.neonize import events
from waorch.worker.neonize.events import Outcome
from waorch.worker.neonize.lib import Message, pb

NOW = 1_800_000_000.0
PHONE = "972501234567"
QR = b"https://wa.me/settings/linked_devices#2@ref,noise,identity,adv,1"


def arrived(event: pb.Message) -> pb.Message:
    """``event`` as neonize's dispatcher gets it: bytes from the Go core, parsed by the event's class.

    (The Go core fills every required field; those a test leaves out parse as their defaults.)
    """
    return type(event).FromString(event.SerializePartialToString())


def user(number: str, server: str = events.USER_SERVER) -> pb.JID:
    return pb.JID(User=number, Server=server)


def incoming(
    text: str = "hello",
    *,
    chat: pb.JID | None = None,
    sender: pb.JID | None = None,
    sender_alt: pb.JID | None = None,
    from_me: bool = False,
    group: bool = False,
) -> pb.Message:
    sender = sender or user(PHONE)
    source = pb.MessageSource(Chat=chat or sender, Sender=sender, IsFromMe=from_me, IsGroup=group)
    if sender_alt is not None:
        source.SenderAlt.CopyFrom(sender_alt)
    info = pb.MessageInfo(MessageSource=source, ID="3EB0ABCDEF", Timestamp=1_800_000_000_500)
    return arrived(pb.Message(Info=info, Message=Message(conversation=text)))


def test_qr_codes_rotate_60_s_first_then_20_s() -> None:
    assert events.qr_code(QR, 0, NOW) == ("QR_CODE", {"qr": QR.decode(), "expiresAt": NOW + 60, "ttl": 60.0})
    assert events.qr_code(QR, 3, NOW) == ("QR_CODE", {"qr": QR.decode(), "expiresAt": NOW + 20, "ttl": 20.0})


def test_the_qr_phase_ending_unscanned_is_an_auth_failure() -> None:
    outcome = events.qr_timeout()
    assert outcome.final == "qr_timeout"
    assert outcome.emit == (("AUTH_FAILURE", {"reason": "qr_timeout", "detail": "no QR code was scanned in time"}),)


def test_successful_pairing_tells_the_phone_number() -> None:
    event = arrived(
        pb.PairStatus(ID=pb.JID(User=PHONE, Device=12, Server=events.USER_SERVER), Status=pb.PairStatus.SUCCESS)
    )
    assert events.pair_status(event) == Outcome(phone=PHONE)


def test_failed_pairing_ends_the_login_attempt() -> None:
    event = arrived(pb.PairStatus(Status=pb.PairStatus.ERROR, Error="pair-device-sign mismatch"))
    outcome = events.pair_status(event)
    assert outcome.final == "auth_failure"
    assert outcome.emit == (
        ("AUTH_FAILURE", {"reason": "auth_failure", "detail": "pairing failed: pair-device-sign mismatch"}),
    )


def test_connected_reports_the_phone_number_digits() -> None:
    me = arrived(pb.Device(JID=pb.JID(User=PHONE, Device=7, Server=events.USER_SERVER)))
    phone = events.phone_of(me)
    assert phone == PHONE
    assert events.connected(phone) == Outcome(emit=(("CONNECTED", {"phoneNumber": PHONE}),), online=True, phone=PHONE)
    assert events.phone_of(arrived(pb.Device())) is None and events.phone_of(None) is None


@pytest.mark.parametrize("reason", [pb.LOGGED_OUT, pb.MAIN_DEVICE_GONE, pb.UNKNOWN_LOGOUT])
def test_logged_out_forgets_the_login(reason: int) -> None:
    outcome = events.logged_out(arrived(pb.LoggedOut(OnConnect=True, Reason=reason)))
    assert outcome.final == "logged_out" and outcome.forget_login and outcome.online is False
    ((kind, data),) = outcome.emit
    assert kind == "DISCONNECTED" and data["reason"] == "logged_out" and data["loggedOut"] is True
    assert pb.ConnectFailureReason.Name(reason).lower() in data["detail"] and "while connecting" in data["detail"]


def test_logging_out_from_here_forgets_the_login() -> None:
    outcome = events.logged_out_here()
    assert outcome.final == "logged_out" and outcome.forget_login
    assert outcome.emit[0][1] == {"reason": "logged_out", "loggedOut": True, "detail": "logged out from this device"}


def test_a_lost_connection_is_reported_once_and_not_final() -> None:
    assert isinstance(arrived(pb.Disconnected(status=True)), pb.Disconnected)
    outcome = events.disconnected(online=True)
    assert outcome.final is None and outcome.online is False
    assert outcome.emit[0] == (
        "DISCONNECTED",
        {
            "reason": "connection_lost",
            "loggedOut": False,
            "detail": "the connection to WhatsApp was lost; reconnecting",
        },
    )
    assert events.disconnected(online=False) == Outcome()


def test_a_replaced_stream_ends_the_session() -> None:
    arrived(pb.StreamReplaced())
    outcome = events.stream_replaced()
    assert outcome.final == "stream_replaced"
    assert outcome.emit[0][1]["reason"] == "stream_replaced" and outcome.emit[0][1]["loggedOut"] is False


def test_a_temporary_ban_tells_its_code_and_end() -> None:
    event = arrived(pb.TemporaryBan(Code=pb.TemporaryBan.SEND_TO_TOO_MANY_PEOPLE, Expire=3600))
    outcome = events.temporary_ban(event, NOW)
    assert outcome.final == "temporary_ban" and outcome.resume_at == NOW + 3600 and not outcome.forget_login
    ((kind, data),) = outcome.emit
    assert kind == "DISCONNECTED"
    assert data == {
        "reason": "temporary_ban",
        "loggedOut": False,
        "code": 1,
        "expiresAt": NOW + 3600,
        "detail": "temporary ban (send_to_too_many_people) for 3600 s",
    }


def test_a_connect_failure_ends_the_session() -> None:
    event = arrived(pb.ConnectFailure(Reason=pb.BAD_USER_AGENT, Message="bad user agent"))
    outcome = events.connect_failure(event)
    assert outcome.final == "connect_failure"
    ((kind, data),) = outcome.emit
    assert kind == "DISCONNECTED" and data["reason"] == "whatsapp_refused" and data["hint"]
    assert data["detail"] == "WhatsApp refused the connection: bad_user_agent (bad user agent)"


def test_a_keepalive_timeout_is_reported_once_and_its_recovery_reconnects() -> None:
    event = arrived(pb.KeepAliveTimeout(ErrorCount=3, LastSuccess=int(NOW)))
    outcome = events.keepalive_timeout(event, online=True)
    assert outcome.final is None and outcome.online is False
    assert outcome.emit[0][1]["reason"] == "keepalive_timeout" and "3 keepalive pings" in outcome.emit[0][1]["detail"]
    assert events.keepalive_timeout(event, online=False) == Outcome()
    assert events.keepalive_restored(PHONE, online=False) == events.connected(PHONE)
    assert events.keepalive_restored(PHONE, online=True) == Outcome()


def test_an_outdated_client_ends_the_session() -> None:
    arrived(pb.ClientOutdated())
    outcome = events.client_outdated()
    assert outcome.final == "client_outdated" and outcome.emit[0][1]["reason"] == "client_outdated"


def test_an_incoming_text_is_received() -> None:
    outcome = events.message_received(incoming("hello there"))
    assert outcome.emit == (
        (
            "MESSAGE_RECEIVED",
            {"from": PHONE, "chat": PHONE, "text": "hello there", "waId": "3EB0ABCDEF", "timestamp": NOW + 0.5},
        ),
    )


def test_a_sender_known_by_lid_is_reported_by_phone_number() -> None:
    lid = user("123456789012345", "lid")
    data = events.message_received(incoming(sender=lid, sender_alt=user(PHONE))).emit[0][1]
    assert data["from"] == PHONE and data["chat"] == PHONE
    assert events.message_received(incoming(sender=lid)).emit[0][1]["from"] == "123456789012345@lid"


def test_a_group_text_names_the_group() -> None:
    group = user("120363000000000000", "g.us")
    data = events.message_received(incoming(chat=group, group=True)).emit[0][1]
    assert data["from"] == PHONE and data["chat"] == "120363000000000000@g.us"


@pytest.mark.parametrize(
    "message",
    [
        incoming(from_me=True),
        incoming(""),
        incoming(chat=user("status", "broadcast")),
    ],
    ids=["own", "not text", "status"],
)
def test_other_messages_are_skipped(message: pb.Message) -> None:
    assert events.message_received(message) == Outcome()


def test_a_failed_dial_through_the_proxy_is_a_proxy_error_that_says_what_failed() -> None:
    message = (
        "failed to dial whatsapp web websocket: failed to WebSocket dial: failed to send handshake request: "
        'Get "https://web.whatsapp.com/ws/chat": socks connect tcp 127.0.0.1:9->web.whatsapp.com:443: '
        "dial tcp 127.0.0.1:9: connect: connection refused"
    )
    outcome = events.connect_error(message)
    assert outcome.final == "proxy_error"
    ((kind, data),) = outcome.emit
    assert kind == "PROXY_ERROR" and data["reason"] == "proxy_refused"
    assert data["error"] == (
        "the proxy refused the connection: socks connect tcp 127.0.0.1:9->web.whatsapp.com:443: "
        "dial tcp 127.0.0.1:9: connect: connection refused"
    )


def test_a_failed_lookup_says_dns_and_keeps_the_cause() -> None:
    message = (
        "failed to dial whatsapp web websocket: failed to WebSocket dial: failed to send handshake request: "
        'Get "https://web.whatsapp.com/ws/chat": dial tcp: lookup web.whatsapp.com: no such host'
    )
    outcome = events.connect_error(message)
    assert outcome.final == "connect_failure"
    ((kind, data),) = outcome.emit
    assert kind == "DISCONNECTED" and data["reason"] == "dns" and data["loggedOut"] is False
    assert data["detail"] == (
        "WhatsApp's address could not be looked up (DNS): dial tcp: lookup web.whatsapp.com: no such host"
    )
    assert "DNS" in data["hint"]


def test_a_failure_that_is_not_the_proxys_is_no_proxy_error() -> None:
    outcome = events.connect_error("unable to open database file: permission denied")
    assert outcome.final == "connect_failure" and outcome.emit[0][0] == "DISCONNECTED"
    assert outcome.emit[0][1]["reason"] == "connect_failed"
    assert (
        outcome.emit[0][1]["detail"] == "could not connect to WhatsApp: unable to open database file: permission denied"
    )


def test_a_hanging_connect_blames_the_proxy_it_went_through() -> None:
    ((kind, data),) = events.hung(3.0, proxied=True).emit
    assert events.hung(3.0, proxied=True).final == "hung"
    assert (kind, data["reason"], data["error"]) == (
        "PROXY_ERROR",
        "proxy_silent",
        "the proxy did not answer: no answer within 3 s",
    )
    direct = events.hung(30.0, proxied=False)
    assert direct.final == "hung"
    assert direct.emit[0][0] == "DISCONNECTED" and direct.emit[0][1]["reason"] == "network"
    assert direct.emit[0][1]["detail"] == "WhatsApp could not be reached (network): no answer from WhatsApp within 30 s"


def test_the_recipient_is_the_jid_whatsapp_knows_the_number_by() -> None:
    jid = user("5511987654321")
    known = [arrived(pb.IsOnWhatsAppResponse(Query="+551187654321", JID=jid, IsIn=True))]
    assert events.recipient(known) == jid
    assert events.recipient([arrived(pb.IsOnWhatsAppResponse(Query="+15550000", IsIn=False))]) is None
    assert events.not_on_whatsapp() == SendResult(ok=False, error="NOT_ON_WHATSAPP", permanent=True)


def test_error_463_is_the_reachout_timelock() -> None:
    result, restricted = events.send_failure("server returned error 463")
    assert result == SendResult(ok=False, error="reachout_timelock", permanent=False)
    assert restricted is not None and restricted[0] == "SEND_RESTRICTED"
    assert restricted[1]["reason"] == "reachout_timelock" and restricted[1]["until"] is None
    assert "463" in restricted[1]["detail"]


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ("server returned error 479", "SERVER_ERROR_479"),
        ("websocket not connected", "SEND_FAILED"),
    ],
)
def test_other_send_errors_are_transient(message: str, error: str) -> None:
    assert events.send_failure(message) == (SendResult(ok=False, error=error, permanent=False), None)
