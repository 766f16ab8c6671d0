"""The one exception tree of waorch.

Every error that can reach a user carries a machine-readable ``code`` (the API returns it as
``{"error": code, "message": ...}``), an HTTP status for the API, and, where it concerns one
session, that session's id.
"""

from __future__ import annotations


class WaorchError(Exception):
    """Base of every waorch error."""

    code = "INTERNAL"
    status = 500

    def __init__(self, message: str, *, session_id: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.session_id = session_id
        if code is not None:
            self.code = code

    def to_dict(self) -> dict[str, str]:
        """The JSON body the API answers with."""
        body = {"error": self.code, "message": self.message}
        if self.session_id:
            body["sessionId"] = self.session_id
        return body

    def __str__(self) -> str:
        prefix = f"[{self.session_id}] " if self.session_id else ""
        return f"{prefix}{self.message}"


class ConfigError(WaorchError):
    """A configuration variable is missing or has a bad value (names the variable)."""

    code = "CONFIG_ERROR"

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable


class BadRequest(WaorchError):
    """The request itself is malformed (bad JSON, wrong types, unknown fields)."""

    code = "BAD_REQUEST"
    status = 400


class InvalidProxy(BadRequest):
    """A proxy URL is not ``socks5h://`` / ``socks5://`` with host and port."""

    code = "INVALID_PROXY"


class InvalidPhone(BadRequest):
    """A phone number could not be read as an E.164 number."""

    code = "INVALID_PHONE"


class Unauthorized(WaorchError):
    """Missing or wrong API key, or a webhook whose signature does not verify."""

    code = "UNAUTHORIZED"
    status = 401


class NotFound(WaorchError):
    """A resource that does not exist."""

    code = "NOT_FOUND"
    status = 404


class SessionNotFound(NotFound):
    """No session with this id."""

    code = "SESSION_NOT_FOUND"


class ProxyNotFound(NotFound):
    """No proxy with this id in the pool."""

    code = "PROXY_NOT_FOUND"


class Conflict(WaorchError):
    """The request conflicts with the current state (e.g. removing a proxy still in use)."""

    code = "CONFLICT"
    status = 409


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


class NoProxyCapacity(WaorchError):
    """Every usable proxy already carries ``MAX_SESSIONS_PER_PROXY`` sessions."""

    code = "NO_PROXY_CAPACITY"
    status = 503


class WorkerUnreachable(WaorchError):
    """A command could not be delivered to a session's worker."""

    code = "WORKER_UNREACHABLE"
    status = 503


class WorkerRefused(WaorchError):
    """The worker answered but refused the command (e.g. a pairing code outside the QR phase)."""

    code = "WORKER_REFUSED"
    status = 409


class RunnerError(WaorchError):
    """The runner could not start or stop a worker."""

    code = "RUNNER_ERROR"
    status = 503


class SignatureError(Unauthorized):
    """A signed request (webhook or worker command) failed verification."""

    code = "BAD_SIGNATURE"


class MethodNotAllowed(WaorchError):
    """The endpoint exists but not with this HTTP method."""

    code = "METHOD_NOT_ALLOWED"
    status = 405


class Unavailable(WaorchError):
    """A dependency (Redis) is unreachable right now; the request changed nothing."""

    code = "UNAVAILABLE"
    status = 503


class DailyLimit(WaorchError):
    """The session's daily limit is reached for that day (``Retry-After`` tells when it resets)."""

    code = "DAILY_LIMIT"
    status = 429

    def __init__(self, message: str, *, session_id: str | None = None, retry_after: int = 0) -> None:
        super().__init__(message, session_id=session_id)
        self.retry_after = retry_after


class SessionUnavailable(WaorchError):
    """The session cannot send (logged out, failed or stopped)."""

    code = "SESSION_UNAVAILABLE"
    status = 409


class MessageNotFound(NotFound):
    """No message with this id."""

    code = "MESSAGE_NOT_FOUND"


class EmptyMessage(BadRequest):
    """The message text is missing or blank."""

    code = "EMPTY_MESSAGE"


class MessageTooLong(BadRequest):
    """The message text is over 4096 characters."""

    code = "MESSAGE_TOO_LONG"


class NoCapacity(WaorchError):
    """No connected session has daily capacity left for this message."""

    code = "NO_CAPACITY"
    status = 503


class InvalidTiers(BadRequest):
    """The trust tier table is not valid (the message names the tier and field)."""

    code = "INVALID_TIERS"


class IdempotencyMismatch(WaorchError):
    """The key was used before with a different body."""

    code = "IDEMPOTENCY_MISMATCH"
    status = 422


class IdempotencyInProgress(Conflict):
    """A request with this key is still being handled."""

    code = "IDEMPOTENCY_IN_PROGRESS"


class RedisUnavailable(Unavailable):
    """Redis does not answer, or cannot take writes right now (restarting, loading, cannot persist).

    A write answered with this may or may not have been applied: retry it (a send with the same
    ``Idempotency-Key``)."""

    code = "REDIS_UNAVAILABLE"


class RedisFull(Unavailable):
    """Redis reached its ``maxmemory`` and refuses writes (nothing was changed)."""

    code = "REDIS_FULL"


class RedisRefused(WaorchError):
    """Redis answers but refuses us: wrong password or user, a database index it does not have."""

    code = "REDIS_REFUSED"


class CoreUnreachable(Unavailable):
    """The active core (this process is attached to it) did not answer."""

    code = "CORE_UNREACHABLE"


class InsecureCoreUrl(Unavailable):
    """The active core's API is neither on this machine nor https: the API key is not sent there."""

    code = "INSECURE_CORE_URL"


class CoreActive(WaorchError):
    """Another core already holds the lease on this Redis (a second one would double every send)."""

    code = "CORE_ACTIVE"
    status = 409


class Fenced(WaorchError):
    """This core's lease epoch is no longer current: another core took over; the write was refused."""

    code = "FENCED"
    status = 409
