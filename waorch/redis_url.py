"""Redis URLs as a user writes them in ``REDIS_URL``, shown anywhere without their credentials."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit

CREDENTIAL_PARAMS = frozenset({"password", "username", "user"})


def redact_url(url: str) -> str:
    """``url`` fit for any output: user and password (in the authority or the query) become ``***``."""
    try:
        parts = urlsplit(url)
        host = parts.netloc.rpartition("@")[2]
    except ValueError:
        return f"{url.partition(':')[0]}://(unreadable URL)"
    netloc = f"***@{host}" if "@" in parts.netloc else host
    query = urlencode(
        [
            (key, "***" if key.lower() in CREDENTIAL_PARAMS else value)
            for key, value in parse_qsl(parts.query, keep_blank_values=True)
        ],
        safe="*/",
    )
    return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")  # (urlunsplit drops unix:'s //)
