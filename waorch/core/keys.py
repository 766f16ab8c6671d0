"""Redis key names, in one place (every key starts with ``waorch:``)."""

from __future__ import annotations

PREFIX = "waorch:"
SESSION_COUNTER = PREFIX + "session:counter"
SESSIONS = PREFIX + "sessions"
PROXIES = PREFIX + "proxies"
PROVISION_QUEUE = PREFIX + "provision:queue"
EVENTS_CHANNEL = PREFIX + "events"
ACTIVITY = PREFIX + "activity"  # stream of what happened (core/activity.py)
CORE_LEASE = PREFIX + "core:lease"  # hash: the active core (owner, epoch, url, host, pid, since), with a TTL
CORE_EPOCH = PREFIX + "core:epoch"  # counter: the fencing epoch, raised by every new active core


def session(session_id: str) -> str:
    """Hash with one session's state."""
    return f"{PREFIX}session:{session_id}"


def proxy(proxy_id: str) -> str:
    """Hash with one proxy's URL and health."""
    return f"{PREFIX}proxy:{proxy_id}"


def proxy_sessions(proxy_id: str) -> str:
    """Set of session ids on one proxy."""
    return f"{PREFIX}proxy:{proxy_id}:sessions"


def webhook_seen(message_id: str) -> str:
    """Marker of a webhook message id already accepted (replay guard)."""
    return f"{PREFIX}webhook:seen:{message_id}"
