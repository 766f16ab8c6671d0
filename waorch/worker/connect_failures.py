"""Why a connection to WhatsApp failed, in words a person acts on: one classifier for both engines.

A failed dial reaches a worker as one error text: neonize's Go error chain (``failed to dial
whatsapp web websocket: … Get "https://web.whatsapp.com/ws/chat": socks connect tcp
PROXY->web.whatsapp.com:443: CAUSE``) or the sim engine's aiohttp / aiohttp_socks message.
``classify`` (or ``proxy_failure``, for an error known to be the proxy's) maps it to a reason
code, what it means, what to check, and whether the proxy is at fault (then the event is a
``PROXY_ERROR``: the proxy is marked BAD and its sessions move). The event's ``detail`` is
``meaning: cause``, the cause being the end of the chain, where it says what went wrong
(``dial tcp: lookup web.whatsapp.com: no such host``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

Event = tuple[str, dict[str, Any]]


@dataclass(frozen=True)
class Kind:
    """A reason code's meaning and what a person checks."""

    meaning: str
    check: str


# The proxy's failures (the codes starting with proxy_) move its sessions to another proxy.
KINDS = {
    "dns": Kind(
        "WhatsApp's address could not be looked up (DNS)",
        "Check this machine's DNS and internet access "
        "(getent hosts web.whatsapp.com must print an address), or give the session a SOCKS5 proxy: the "
        "proxy looks the name up itself.",
    ),
    "network": Kind(
        "WhatsApp could not be reached (network)",
        "Check this machine's internet access: a firewall, "
        "a route, or outgoing port 443 blocked. Or give the session a SOCKS5 proxy.",
    ),
    "tls": Kind(
        "the secure connection to WhatsApp failed (TLS)",
        "Something on the way intercepts or breaks TLS (a "
        "filtering firewall or proxy), or this machine's clock is wrong.",
    ),
    "whatsapp_refused": Kind(
        "WhatsApp refused the connection",
        "WhatsApp (or a filter posing as it) turned the "
        "connection down; if it persists, check for a network filter or update waorch.",
    ),
    "proxy_refused": Kind(
        "the proxy refused the connection",
        "Nothing accepts connections at the proxy's host and "
        "port: check that the proxy runs there and that the port in its URL is right.",
    ),
    "proxy_unreachable": Kind(
        "the proxy could not be reached",
        "Check the proxy's host name (it must resolve on this machine) and the route to it.",
    ),
    "proxy_auth": Kind(
        "the proxy refused the user name or password",
        "Check the user name and password in the proxy URL (socks5h://user:pass@host:port).",
    ),
    "proxy_silent": Kind(
        "the proxy did not answer",
        "Something accepts connections at the proxy's address but never "
        "answers: check that it is a SOCKS5 proxy and that it is not overloaded.",
    ),
    "proxy_closed": Kind(
        "the proxy closed the connection",
        "The proxy hung up during the SOCKS5 handshake: check "
        "that it is a SOCKS5 proxy and that it lets this machine in.",
    ),
    "proxy_protocol": Kind(
        "the proxy does not speak SOCKS5",
        "The address answers, but not as a SOCKS5 proxy (an HTTP proxy?): use a SOCKS5 proxy's address.",
    ),
    "proxy_upstream": Kind(
        "the proxy could not reach WhatsApp",
        "The proxy works but cannot connect onwards: check the proxy's own internet access, DNS and rules.",
    ),
    "simulator_down": Kind(
        "the simulator does not answer", "Start it (waorch sim --port 4000) and check SIM_URL; the worker keeps trying."
    ),
    "connect_failed": Kind("could not connect to WhatsApp", "The worker's log has the whole error."),
}

# The wrapper neonize puts around every dial error; the cause follows it.
HTTP_WRAPPER = re.compile(r'Get "[^"]*": ')
# golang.org/x/net/proxy: a failure on the way to or through the SOCKS5 proxy.
GO_SOCKS = re.compile(r"socks connect tcp \S+->\S+: (?P<cause>.*)", re.DOTALL)
# (reason, marks): the first reason one of whose marks is in the lower-cased proxy-side cause.
PROXY_RULES = (
    ("proxy_auth", ("authentication fail", "no acceptable authentication")),
    ("proxy_protocol", ("unexpected protocol version", "unexpected socks version", "malformed", "invalid reply")),
    # SOCKS5 replies: the proxy answered, and could not connect onwards (Go says "unknown error <reply>").
    (
        "proxy_upstream",
        (
            "unknown error",
            "socks server failure",
            "not allowed by ruleset",
            "network unreachable",
            "host unreachable",
            "refused by destination",
            "ttl expired",
            "not supported",
        ),
    ),
    ("proxy_silent", ("proxy connection timed out", "i/o timeout", "timed out")),
    (
        "proxy_unreachable",
        (
            "lookup ",
            "name or service not known",
            "name resolution",
            "resolve address",
            "network is unreachable",
            "no route to host",
            "errno 101",
            "errno 113",
        ),
    ),
    ("proxy_refused", ("connection refused", "errno 111")),
    ("proxy_closed", ("eof", "connection reset", "closed unexpectedly", "broken pipe")),
)
DIRECT_RULES = (
    (
        "dns",
        (
            "lookup ",
            "no such host",
            "name or service not known",
            "name resolution",
            "server misbehaving",
            "no address associated",
            "resolve address",
        ),
    ),
    ("tls", ("tls:", "x509", "certificate", "[ssl", "response to https client")),
    ("whatsapp_refused", ("handshake response status", "noise handshake", "invalid response status", "bad handshake")),
    (
        "network",
        (
            "network is unreachable",
            "no route to host",
            "connection refused",
            "i/o timeout",
            "timed out",
            "connection reset",
            "eof",
            "cannot connect to host",
            "connect call failed",
        ),
    ),
)


@dataclass(frozen=True)
class ConnectFailure:
    """One failed connection: its reason code and the cause (the end of the error text)."""

    reason: str
    cause: str

    @property
    def kind(self) -> Kind:
        """What the reason code means."""
        return KINDS[self.reason]

    @property
    def proxy_fault(self) -> bool:
        """Whether the proxy is to blame (then it is marked BAD and its sessions move)."""
        return self.reason.startswith("proxy_")

    @property
    def detail(self) -> str:
        """``meaning: cause``, what the session's reason says after its code."""
        return f"{self.kind.meaning}: {self.cause}" if self.cause else self.kind.meaning

    def event(self) -> Event:
        """``PROXY_ERROR`` when the proxy is at fault (it drives failover), else ``DISCONNECTED``."""
        if self.proxy_fault:
            return "PROXY_ERROR", {"reason": self.reason, "error": self.detail, "hint": self.kind.check}
        return "DISCONNECTED", {
            "reason": self.reason,
            "loggedOut": False,
            "detail": self.detail,
            "hint": self.kind.check,
        }


def _first(rules: tuple[tuple[str, tuple[str, ...]], ...], text: str, otherwise: str) -> str:
    lowered = text.lower()
    return next((reason for reason, marks in rules if any(mark in lowered for mark in marks)), otherwise)


def classify(error: str) -> ConnectFailure:
    """What a failed dial's ``error`` (free of secrets) means; neonize's text says when the way to or
    through the proxy failed (``socks connect …``)."""
    cause = HTTP_WRAPPER.split(error)[-1].strip()
    through = GO_SOCKS.search(cause)
    if through is not None:
        return ConnectFailure(_first(PROXY_RULES, through.group("cause"), "proxy_closed"), cause)
    return ConnectFailure(_first(DIRECT_RULES, cause, "connect_failed"), cause)


def proxy_failure(error: str) -> ConnectFailure:
    """What ``error`` means when it is known to come from the proxy (the sim engine's aiohttp_socks errors)."""
    return ConnectFailure(_first(PROXY_RULES, error, "proxy_closed"), error.strip())


def no_answer(seconds: float, proxied: bool) -> ConnectFailure:
    """Nothing at all came within ``seconds`` of dialling (through the proxy: the proxy is silent)."""
    if proxied:
        return ConnectFailure("proxy_silent", f"no answer within {seconds:g} s")
    return ConnectFailure("network", f"no answer from WhatsApp within {seconds:g} s")
