"""Every Redis key waorch uses, in one place (every key starts with ``waorch:``).

Key names are what a running fleet has stored: renaming one would strand the data of every
user's Redis, so a name here never changes without a migration at start.

Scripts get their keys from here too, never spelled in their Lua: as ``KEYS[]`` when the keys are
known before the call, or, when a script finds the id of a key in the data it reads (the
sessions of a proxy it picks, the recipient of a message it settles), as a *template* argument:
the key function given ``SLOT`` (``session(SLOT)`` is ``waorch:session:{}``), which the script
fills with ``LUA_KEY``'s ``key(template, id)``.
"""

from __future__ import annotations

import hashlib

PREFIX = "waorch:"
SLOT = "{}"  # the place of the id in a key template
# Lua: the key of ``id`` in a template passed as an argument.
LUA_KEY = f"""
local function key(template, id)
  local at = string.find(template, '{SLOT}', 1, true)
  return string.sub(template, 1, at - 1) .. id .. string.sub(template, at + {len(SLOT)})
end
"""

# ---- the fleet --------------------------------------------------------------------------------
SESSION_COUNTER = PREFIX + "session:counter"  # counter: the number of the last session id (worker_<n>)
SESSIONS = PREFIX + "sessions"  # sorted set: every session id, scored by its number
PROXIES = PREFIX + "proxies"  # sorted set: the pool's proxy ids, in the order they were added
PROVISION_QUEUE = PREFIX + "provision:queue"  # sorted set: sessions waiting for a worker start, by ms
EVENTS_CHANNEL = PREFIX + "events"  # pub/sub: session changes, for live views
ACTIVITY = PREFIX + "activity"  # stream of what happened (core/activity.py)
CORE_LEASE = PREFIX + "core:lease"  # hash: the active core (owner, epoch, url, host, pid, since), with a TTL
CORE_EPOCH = PREFIX + "core:epoch"  # counter: the fencing epoch, raised by every new active core
TIERS = PREFIX + "tiers"  # string: the tier table (JSON), the defaults while absent
RESTARTS = ":restarts"  # the end of a session's restarts key


def session(session_id: str) -> str:
    """Hash with one session's state."""
    return f"{PREFIX}session:{session_id}"


def session_history(session_id: str) -> str:
    """List: a session's newest history entries (JSON), newest first."""
    return f"{PREFIX}session:{session_id}:history"


def session_restarts(session_id: str) -> str:
    """Sorted set: a session's recent worker restarts (the watchdog's crash-loop window)."""
    return f"{PREFIX}session:{session_id}{RESTARTS}"


def session_inbox(session_id: str) -> str:
    """Sorted set: a session's incoming messages (JSON) scored by their id."""
    return f"{PREFIX}session:{session_id}:inbox"


def session_inbox_ids(session_id: str) -> str:
    """Sorted set: the WhatsApp ids in a session's inbox, scored like the messages."""
    return f"{PREFIX}session:{session_id}:inbox:ids"


def session_forwarded(session_id: str) -> str:
    """String: the last ``status|reason`` forwarded for a session."""
    return f"{PREFIX}session:{session_id}:forwarded"


def session_keys(session_id: str) -> list[str]:
    """Every key named after the session itself (deleted with it)."""
    return [
        session(session_id),
        session_history(session_id),
        session_restarts(session_id),
        session_inbox(session_id),
        session_inbox_ids(session_id),
        session_forwarded(session_id),
    ]


def proxy(proxy_id: str) -> str:
    """Hash with one proxy's URL and health."""
    return f"{PREFIX}proxy:{proxy_id}"


def proxy_sessions(proxy_id: str) -> str:
    """Set of session ids on one proxy."""
    return f"{PREFIX}proxy:{proxy_id}:sessions"


def phone_sessions(phone: str) -> str:
    """Set of the session ids linked to one phone (at most ``MAX_SESSIONS_PER_PHONE``)."""
    return f"{PREFIX}phone:{phone}:sessions"


def phone_proxy(phone: str) -> str:
    """String: the proxy id a phone sticks to."""
    return f"{PREFIX}phone:{phone}:proxy"


def webhook_seen(message_id: str) -> str:
    """Marker of a webhook message id already accepted (replay guard)."""
    return f"{PREFIX}webhook:seen:{message_id}"


def idempotency(key: str) -> str:
    """Hash: the claim and the answer of one ``Idempotency-Key`` (by its hash: a key may be any text)."""
    return f"{PREFIX}idem:{hashlib.sha256(key.encode()).hexdigest()}"


# ---- messages (core/messages.py) --------------------------------------------------------------
SCHEDULED = PREFIX + "outbox"  # sorted set: scheduled message ids by send time (named before the event outbox)
QUEUES = PREFIX + "queues"  # set: sessions that have (or had) queued or in-flight messages
DEAD = PREFIX + "dead"  # list: ids of messages given up after their attempts (the newest kept)
UNKNOWN = PREFIX + "unknown"  # list: ids of messages whose outcome is unknown (the newest kept)


def message(message_id: str) -> str:
    """Hash: one message (its text, status and times)."""
    return f"{PREFIX}msg:{message_id}"


def queue(session_id: str) -> str:
    """List: a session's waiting message ids, head first."""
    return f"{PREFIX}queue:{session_id}"


def inflight(session_id: str) -> str:
    """List: a session's message ids whose send was started and not yet settled."""
    return f"{PREFIX}inflight:{session_id}"


def counts(session_id: str, day: str) -> str:
    """Hash: a session's counters of one local day (queued, sent, failed, unknown; new_contacts: recipients
    reached that day that it had never written to and that had never written to it; the health score's
    awaited, replied, disconnects, bans and breaker_trips)."""
    return f"{PREFIX}count:{session_id}:{day}"


def done(session_id: str) -> str:
    """Sorted set: a session's sends of the last hour, scored by when they finished."""
    return f"{PREFIX}done:{session_id}"


def recipient_sends(session_id: str, to: str) -> str:
    """Sorted set: a session's sends to one recipient in the last 24 hours (ids scored by when they finished)."""
    return f"{PREFIX}rcpt:{session_id}:{to}"


def awaiting_reply(session_id: str) -> str:
    """Sorted set: recipients a session wrote to in the last 24 hours who have not written back since, scored by
    the send (the health score's reply rate: core/account_health.py)."""
    return f"{PREFIX}awaiting:{session_id}"


def breaker_signs(session_id: str) -> str:
    """Sorted set: a session's bad signs of the breaker's window (``kind:what`` scored by when)."""
    return f"{PREFIX}breaker:{session_id}"


def pace(session_id: str) -> str:
    """Hash: when a session's last send finished and the gap drawn for the next one."""
    return f"{PREFIX}pace:{session_id}"


def contact(to: str) -> str:
    """String: the session that last sent to a recipient (forgotten after a while)."""
    return f"{PREFIX}contact:{to}"


def contacted(session_id: str) -> str:
    """Sorted set: a session's newest recipients, scored by the last send."""
    return f"{PREFIX}contacted:{session_id}"


def contacts_uncapped(session_id: str) -> str:
    """Set: a session's recipients as versions before the cap kept them (only ever deleted)."""
    return f"{PREFIX}contacts:{session_id}"


# ---- events forwarded to EVENTS_WEBHOOK_URL (core/outbox.py) ----------------------------------
FORWARD_DUE = PREFIX + "outbox:due"  # sorted set: session lanes by the ms they are due
FORWARD_ATTEMPTS = PREFIX + "outbox:attempts"  # hash: failed attempts of each lane's head
FORWARD_FAILED = PREFIX + "outbox:failed"  # list: deliveries given up (JSON), newest first


def forward_lane(session_id: str) -> str:
    """List: a session's events waiting to be forwarded, oldest first."""
    return f"{PREFIX}outbox:lane:{session_id}"


# ---- alerts sent to Telegram (core/alerts.py) -------------------------------------------------
ALERT_COUNTER = PREFIX + "alerts:counter"  # counter: the id of the newest alert
ALERTS = PREFIX + "alerts"  # hash: alert id → the alert (JSON) with its delivery state; the newest kept
ALERTS_PENDING = PREFIX + "alerts:pending"  # sorted set: ids of alerts waiting to be sent, scored by id
ALERT_SUBJECTS = PREFIX + "alerts:subjects"  # hash: subject → its cool-down (JSON: due, held, last)
ALERTS_DROPPED = PREFIX + "alerts:dropped"  # counter: alerts dropped from a full queue, not yet reported


# ---- the daily jobs (core/jobs.py) ------------------------------------------------------------
JOBS = PREFIX + "jobs"  # hash: job name → its last result (JSON: slot, at, ok, did)
JOBS_PLAN = PREFIX + "jobs:plan"  # hash: names (JSON list of the jobs in order), since (first start, unix s)


def summary_sent(day: str) -> str:
    """String: the daily summary of local ``day`` was raised (expires after a week)."""
    return f"{PREFIX}jobs:summary:{day}"


# ---- what a backup leaves out (core/backup_redis.py) ----------------------------------------------
# A backup holds the fleet's state; not the running core's lease and epoch, the activity log and alerts,
# replay guards, the daily jobs' state, queued worker starts (a restore queues its own) or restart windows of
# the old machine.
BACKUP_SKIPPED_PREFIXES = (
    PREFIX + "core:",
    ACTIVITY,
    ALERTS,  # the start of every alerts key
    PREFIX + "webhook:seen:",
    PROVISION_QUEUE,
    JOBS,  # the start of every jobs key: the old machine's schedule and its results
)
BACKUP_SKIPPED_SUFFIXES = (RESTARTS,)
