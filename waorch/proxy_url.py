"""SOCKS5 proxy URLs: parsing, validation and redaction (user names are credentials too: many
providers put the account's token there)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

from waorch.errors import InvalidProxy
from waorch.redis_url import redact_url

SCHEMES = ("socks5h", "socks5")


@dataclass(frozen=True)
class ProxyURL:
    """A validated ``socks5h://`` or ``socks5://`` proxy with optional user and password."""

    scheme: str
    host: str
    port: int
    username: str | None = None
    password: str | None = None

    @property
    def url(self) -> str:
        """The full URL, password included (never log or display this)."""
        auth = ""
        if self.username is not None:
            auth = quote(self.username, safe="")
            if self.password is not None:
                auth += ":" + quote(self.password, safe="")
            auth += "@"
        return f"{self.scheme}://{auth}{self.endpoint}"

    @property
    def redacted(self) -> str:
        """The URL fit for any output: user and password become ``***``."""
        return redact_url(self.url)

    def scrub(self, text: str) -> str:
        """``text`` (an error message, say) with this proxy's password and user name, plain or
        URL-encoded, as ``***`` wherever one stands as a token of its own (see ``_scrub``)."""
        for secret in (self.password, self.username):
            for form in _written(secret):
                text = _scrub(text, form)
        return text

    @property
    def endpoint(self) -> str:
        """``host:port`` for display."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def _written(secret: str | None) -> list[str]:
    """How a credential may appear in text: as it is and URL-encoded (longest first)."""
    return sorted({secret, quote(secret, safe="")}, key=len, reverse=True) if secret else []


# An escape that may stand right before a credential in text: ``%3A`` of a URL-encoded URL,
# ``\x04`` or ``\n`` of a repr (the SOCKS5 handshake puts the password's length before it).
_ESCAPE_AT_END = re.compile(
    r"(?:%[0-9A-Fa-f]{2}|\\(?:x[0-9A-Fa-f]{2}|u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|[0-7]{1,3}|[abfnrtv]))\Z"
)


def _scrub(text: str, secret: str) -> str:
    r"""``text`` with every occurrence of ``secret`` that is not part of a longer word as ``***``:
    a short password leaves "unable" readable, yet goes wherever punctuation, an escape or the
    text's ends bound it (``user:ab@host``, ``password=ab``, ``'ab'``, ``%3Aab%40``, ``\x02ab``)."""
    parts, start, at = [], 0, text.find(secret)
    while at != -1:
        if _stands_alone(text, at, at + len(secret)):
            parts += [text[start:at], "***"]
            start = at + len(secret)
        at = text.find(secret, max(start, at + 1))  # one glued to a word may overlap one that is not
    return "".join(parts) + text[start:]


def _stands_alone(text: str, begin: int, end: int) -> bool:
    """Whether ``text[begin:end]`` is not glued to letters or digits that would make it a longer word."""
    before = text[:begin]
    glued_before = text[begin].isalnum() and before[-1:].isalnum() and not _ESCAPE_AT_END.search(before[-10:])
    glued_after = text[end - 1].isalnum() and text[end : end + 1].isalnum()
    return not glued_before and not glued_after


def parse_proxy_url(raw: object) -> ProxyURL:
    """Validate a proxy URL; raise ``InvalidProxy`` with what is wrong."""
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidProxy("proxy must be a non-empty string like socks5h://user:pass@host:port")
    if not raw.strip().isprintable():  # control characters, bytes that are not UTF-8 (surrogate escapes)
        raise InvalidProxy("proxy URL must be printable text")
    try:
        parts = urlsplit(raw.strip())
    except ValueError:  # e.g. an unclosed [ of an IPv6 address (the message would show the URL: not kept)
        raise InvalidProxy("proxy URL cannot be read (a malformed [IPv6] address, e.g. an unclosed [?)") from None
    if parts.scheme.lower() not in SCHEMES:
        raise InvalidProxy(f"proxy scheme must be socks5h:// or socks5://, got {parts.scheme or 'none'}://")
    try:
        port = parts.port
    except ValueError:
        raise InvalidProxy("proxy port must be a number between 1 and 65535") from None
    if not parts.hostname or not port:
        raise InvalidProxy("proxy needs a host and a port, like socks5h://host:1080")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise InvalidProxy("proxy URL must not have a path, query or fragment")
    username = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    return ProxyURL(parts.scheme.lower(), parts.hostname, port, username, password)
