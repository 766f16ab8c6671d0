"""The one exception tree of waorch.

Every error that can reach a user carries a machine-readable ``code`` and, where it concerns one
session, that session's id. The classes say what kind of refusal it is (bad input, not found, a
conflict with the current state, unavailable right now); the HTTP layer answers each kind with its
status (``waorch.api.statuses``), so every conflict subclasses ``Conflict`` and everything that is
unavailable right now subclasses ``Unavailable``.
"""

from __future__ import annotations


class WaorchError(Exception):
    """Base of every waorch error."""

    code = "INTERNAL"

    def __init__(self, message: str, *, session_id: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.session_id = session_id
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        prefix = f"[{self.session_id}] " if self.session_id else ""
        return f"{prefix}{self.message}"


class ConfigError(WaorchError):
    """A configuration variable is missing or has a bad value (names the variable)."""

    code = "CONFIG_ERROR"

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable


# Bad input: the request itself is wrong; nothing was changed.


class BadRequest(WaorchError):
    """The request itself is malformed (bad JSON, wrong types, unknown fields)."""

    code = "BAD_REQUEST"


class InvalidProxy(BadRequest):
    """A proxy URL is not ``socks5h://`` / ``socks5://`` with host and port."""

    code = "INVALID_PROXY"


class InvalidPhone(BadRequest):
    """A phone number could not be read as an E.164 number."""

    code = "INVALID_PHONE"


class EmptyMessage(BadRequest):
    """The message text is missing or blank."""

    code = "EMPTY_MESSAGE"


class MessageTooLong(BadRequest):
    """The message text is over 4096 characters."""

    code = "MESSAGE_TOO_LONG"


class InvalidTiers(BadRequest):
    """The trust tier table is not valid (the message names the tier and field)."""

    code = "INVALID_TIERS"


class InvalidBackupName(BadRequest):
    """A backup name that is not a file name of the backups dir (``*.tar.gz``, no path)."""

    code = "INVALID_BACKUP_NAME"


class InvalidBackup(BadRequest):
    """An archive that cannot be restored; nothing was changed (the subclasses say why)."""

    code = "INVALID_BACKUP"


class BackupCorrupt(InvalidBackup):
    """The archive is truncated, unreadable, or a member does not match its checksum."""

    code = "BACKUP_CORRUPT"


class BackupForeign(InvalidBackup):
    """The file is not a waorch backup (no waorch manifest, members waorch does not write)."""

    code = "BACKUP_FOREIGN"


class BackupTooNew(InvalidBackup):
    """The archive was written in a newer backup format than this waorch reads."""

    code = "BACKUP_TOO_NEW"


class BackupUnsafe(InvalidBackup):
    """A member would leave the archive's directory (absolute, ``..``) or is no regular file (link, device)."""

    code = "BACKUP_UNSAFE"


class IdempotencyMismatch(WaorchError):
    """The key was used before with a different body."""

    code = "IDEMPOTENCY_MISMATCH"


class MethodNotAllowed(WaorchError):
    """The endpoint exists but not with this HTTP method."""

    code = "METHOD_NOT_ALLOWED"


# Not allowed: who asks cannot prove who they are.


class Unauthorized(WaorchError):
    """Missing or wrong API key, or a webhook whose signature does not verify."""

    code = "UNAUTHORIZED"


class SignatureError(Unauthorized):
    """A signed request (webhook or worker command) failed verification."""

    code = "BAD_SIGNATURE"


# Not found.


class NotFound(WaorchError):
    """A resource that does not exist."""

    code = "NOT_FOUND"


class SessionNotFound(NotFound):
    """No session with this id."""

    code = "SESSION_NOT_FOUND"


class ProxyNotFound(NotFound):
    """No proxy with this id in the pool."""

    code = "PROXY_NOT_FOUND"


class MessageNotFound(NotFound):
    """No message with this id."""

    code = "MESSAGE_NOT_FOUND"


class BackupNotFound(NotFound):
    """No backup with this name in ``BACKUPS_DIR``."""

    code = "BACKUP_NOT_FOUND"


# Conflicts: the request is fine but the current state does not allow it; nothing was changed.


class Conflict(WaorchError):
    """The request conflicts with the current state (e.g. removing a proxy still in use)."""

    code = "CONFLICT"


class ProxyInUse(Conflict):
    """The proxy still carries sessions."""

    code = "PROXY_IN_USE"


class ProxyExists(Conflict):
    """The proxy is already in the pool."""

    code = "PROXY_EXISTS"


class NotPairable(Conflict):
    """A pairing code was asked for a session that is not showing a QR (the message says its status and what to do)."""

    code = "NOT_PAIRABLE"


class PhoneLimit(Conflict):
    """The phone already has ``MAX_SESSIONS_PER_PHONE`` sessions."""

    code = "PHONE_LIMIT"


class WorkerRefused(Conflict):
    """The worker answered but refused the command (e.g. a pairing code outside the QR phase)."""

    code = "WORKER_REFUSED"


class SessionUnavailable(Conflict):
    """The session cannot send (logged out, failed or stopped)."""

    code = "SESSION_UNAVAILABLE"


class IdempotencyInProgress(Conflict):
    """A request with this key is still being handled."""

    code = "IDEMPOTENCY_IN_PROGRESS"


class CoreActive(Conflict):
    """Another core already holds the lease on this Redis (a second one would double every send)."""

    code = "CORE_ACTIVE"


class Fenced(Conflict):
    """This core's lease epoch is no longer current: another core took over; the write was refused."""

    code = "FENCED"


class FleetNotEmpty(Conflict):
    """A restore onto a fleet that has sessions, without being told to replace them."""

    code = "FLEET_NOT_EMPTY"


class DailyLimit(WaorchError):
    """The session's daily limit is reached for that day (``Retry-After`` tells when it resets)."""

    code = "DAILY_LIMIT"

    def __init__(
        self, message: str, *, session_id: str | None = None, code: str | None = None, retry_after: int = 0
    ) -> None:
        super().__init__(message, session_id=session_id, code=code)
        self.retry_after = retry_after


# Unavailable right now: capacity, a worker, Redis, the active core; trying again later can work.


class Unavailable(WaorchError):
    """Something the request needs is not available right now; the request changed nothing."""

    code = "UNAVAILABLE"


class NoProxyCapacity(Unavailable):
    """Every usable proxy already carries ``MAX_SESSIONS_PER_PROXY`` sessions."""

    code = "NO_PROXY_CAPACITY"


class NoCapacity(Unavailable):
    """No connected session has daily capacity left for this message."""

    code = "NO_CAPACITY"


class WorkerUnreachable(Unavailable):
    """A command could not be delivered to a session's worker."""

    code = "WORKER_UNREACHABLE"


class RunnerError(Unavailable):
    """The runner could not start or stop a worker."""

    code = "RUNNER_ERROR"


class RedisUnavailable(Unavailable):
    """Redis does not answer, or cannot take writes right now (restarting, loading, cannot persist).

    A write answered with this may or may not have been applied: retry it (a send with the same
    ``Idempotency-Key``)."""

    code = "REDIS_UNAVAILABLE"


class RedisFull(Unavailable):
    """Redis reached its ``maxmemory`` and refuses writes (nothing was changed)."""

    code = "REDIS_FULL"


class CoreUnreachable(Unavailable):
    """The active core (this process is attached to it) did not answer."""

    code = "CORE_UNREACHABLE"


class InsecureCoreUrl(Unavailable):
    """The active core's API is neither on this machine nor https: the API key is not sent there."""

    code = "INSECURE_CORE_URL"


class BackupFailed(Unavailable):
    """A backup could not be written (the disk is full or refuses); nothing was kept of it."""

    code = "BACKUP_FAILED"


# Faults: neither the request nor the moment, but the setup.


class RedisRefused(WaorchError):
    """Redis answers but refuses us: wrong password or user, a database index it does not have."""

    code = "REDIS_REFUSED"
