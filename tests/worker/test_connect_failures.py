"""The connect-failure classifier on the error texts the engines really get.

The neonize texts were recorded with neonize 0.5.2 on this machine, every packet on loopback:
through SOCKS5 servers on 127.0.0.1 that refuse, want another password, answer each SOCKS5
failure reply, hang up, or are not SOCKS5 at all; through one that relays to a local TLS server
(unknown certificate, a 403 to the WebSocket upgrade, a WebSocket closed at once) or to a server
that answers in plain text or plain HTTP; and, for the
direct dials, in a network namespace of its own (``unshare -mn``) whose resolver is a local stub
answering NXDOMAIN, SERVFAIL, nothing, or 127.0.0.1 (nothing listening), or with no network at
all. The issue's text (``lookup web.whatsapp.com: no such host``, without ``on <server>``) is
Go's when the resolver comes from the system. The sim engine's texts are tested live, through
microsocks (refused, wrong password, no password, killed) and a server that hangs up, in
test_sim_engine.py; aiohttp_socks's texts are recorded here as well (a web server where the proxy
should be answers ``HTTP``: version 72).
"""

from __future__ import annotations

import pytest

from waorch.worker.connect_failures import KINDS, ConnectFailure, classify, no_answer, proxy_failure

DIAL = (
    "failed to dial whatsapp web websocket: failed to WebSocket dial: failed to send handshake request: "
    'Get "https://web.whatsapp.com/ws/chat": '
)
SOCKS = "socks connect tcp 127.0.0.1:37973->web.whatsapp.com:443: "

NEONIZE = [
    ("dial tcp: lookup web.whatsapp.com: no such host", "dns"),
    ("dial tcp: lookup web.whatsapp.com on 127.0.0.1:53: no such host", "dns"),
    ("dial tcp: lookup web.whatsapp.com on 127.0.0.1:53: server misbehaving", "dns"),
    ("dial tcp: lookup web.whatsapp.com on 127.0.0.1:53: read udp 127.0.0.1:38487->127.0.0.1:53: i/o timeout", "dns"),
    (
        "dial tcp: lookup web.whatsapp.com on 10.255.255.53:53: dial udp 10.255.255.53:53: "
        "connect: network is unreachable",
        "dns",
    ),
    ("dial tcp 127.0.0.1:443: connect: connection refused", "network"),
    ("EOF", "network"),
    ("tls: failed to verify certificate: x509: certificate signed by unknown authority", "tls"),
    ("tls: first record does not look like a TLS handshake", "tls"),
    ("http: server gave HTTP response to HTTPS client", "tls"),
    (SOCKS + "dial tcp 127.0.0.1:37973: connect: connection refused", "proxy_refused"),
    (
        "socks connect tcp proxy.invalid:1080->web.whatsapp.com:443: dial tcp: "
        "lookup proxy.invalid on 10.255.255.53:53: dial udp 10.255.255.53:53: connect: network is unreachable",
        "proxy_unreachable",
    ),
    (SOCKS + "username/password authentication failed", "proxy_auth"),
    (SOCKS + "no acceptable authentication methods", "proxy_auth"),
    (SOCKS + "unknown error general SOCKS server failure", "proxy_upstream"),
    (SOCKS + "unknown error connection not allowed by ruleset", "proxy_upstream"),
    (SOCKS + "unknown error network unreachable", "proxy_upstream"),
    (SOCKS + "unknown error host unreachable", "proxy_upstream"),
    (SOCKS + "unknown error connection refused", "proxy_upstream"),
    (SOCKS + "unknown error TTL expired", "proxy_upstream"),
    (SOCKS + "EOF", "proxy_closed"),
    (SOCKS + "unexpected protocol version 72", "proxy_protocol"),
]


@pytest.mark.parametrize(("cause", "reason"), NEONIZE, ids=[f"{reason}: {cause[-40:]}" for cause, reason in NEONIZE])
def test_a_failed_neonize_dial_is_classified_and_keeps_its_cause(cause: str, reason: str) -> None:
    failure = classify(DIAL + cause)
    assert (failure.reason, failure.cause) == (reason, cause)
    assert failure.detail == f"{KINDS[reason].meaning}: {cause}"


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (
            "failed to dial whatsapp web websocket: failed to WebSocket dial: "
            "expected handshake response status code 101 but got 403",
            "whatsapp_refused",
        ),
        (
            "noise handshake failed: failed to send handshake message: failed to write msg: "
            "use of closed network connection",
            "whatsapp_refused",
        ),
        ("unable to open database file: permission denied", "connect_failed"),
    ],
)
def test_failures_after_the_dial_or_outside_it(error: str, reason: str) -> None:
    failure = classify(error)
    assert (failure.reason, failure.cause) == (reason, error)


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (
            "socks5h://127.0.0.1:33341: [Errno 111] Couldn't connect to proxy 127.0.0.1:33341 "
            "[Connect call failed ('127.0.0.1', 33341)]",
            "proxy_refused",
        ),
        ("socks5h://127.0.0.1:36369: Username and password authentication failure", "proxy_auth"),
        ("socks5h://127.0.0.1:36307: No acceptable authentication methods were offered", "proxy_auth"),
        ("socks5h://127.0.0.1:43187: Proxy connection timed out: 10.0", "proxy_silent"),
        ("socks5h://127.0.0.1:41461: Unexpected SOCKS version number: 72", "proxy_protocol"),
        ("socks5h://127.0.0.1:40719: 0 bytes read on a total of 2 expected bytes", "proxy_closed"),
    ],
)
def test_the_sim_engines_proxy_errors(error: str, reason: str) -> None:
    failure = proxy_failure(error)
    assert (failure.reason, failure.cause) == (reason, error)


def test_proxy_failures_are_proxy_errors_and_the_rest_disconnects() -> None:
    proxy = classify(DIAL + SOCKS + "username/password authentication failed")
    kind, data = proxy.event()
    assert kind == "PROXY_ERROR"
    assert data == {"reason": "proxy_auth", "error": proxy.detail, "hint": KINDS["proxy_auth"].check}
    dns = classify(DIAL + "dial tcp: lookup web.whatsapp.com: no such host")
    assert dns.event() == (
        "DISCONNECTED",
        {"reason": "dns", "loggedOut": False, "detail": dns.detail, "hint": KINDS["dns"].check},
    )
    assert {reason for reason in KINDS if ConnectFailure(reason, "").proxy_fault} == {
        "proxy_refused",
        "proxy_unreachable",
        "proxy_auth",
        "proxy_silent",
        "proxy_closed",
        "proxy_protocol",
        "proxy_upstream",
    }


def test_every_reason_says_what_it_means_and_what_to_check() -> None:
    for reason, kind in KINDS.items():
        assert kind.meaning and kind.check.endswith("."), reason
        assert ConnectFailure(reason, "").detail == kind.meaning


def test_no_answer_blames_the_proxy_only_when_there_is_one() -> None:
    assert no_answer(3, proxied=True) == ConnectFailure("proxy_silent", "no answer within 3 s")
    assert no_answer(30, proxied=False) == ConnectFailure("network", "no answer from WhatsApp within 30 s")
