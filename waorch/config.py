"""Configuration: one validated object built at the edge from the environment and ``.env``.

Nothing else in waorch reads ``os.environ``. ``load_settings`` turns a mapping of variables into a
frozen ``Settings``; the first bad value raises ``ConfigError`` naming the variable.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers

from waorch.errors import ConfigError, WaorchError
from waorch.private_files import create_private, private_dir
from waorch.proxy_url import ProxyURL, parse_proxy_url
from waorch.redis_url import redact_url

T = TypeVar("T")

ENGINES = ("neonize", "sim")
RUNNERS = ("process", "docker", "swarm")
PROXY_VAR = re.compile(r"^PROXY_URL_(\d+)$")
MIN_SECRET_LENGTH = 16


@dataclass(frozen=True)
class ContainerSettings:
    """How the docker runner starts a session's worker container (``RUNNER=docker``)."""

    image: str = "waorch-worker:latest"
    network: str = "host"  # a network name (the compose network), or host networking
    deployment: str = "waorch"  # the label that tells this deployment's containers from any other's
    memory_mb: int = 512
    pids_limit: int = 512
    sessions_volume: str | None = None  # a named volume holding SESSIONS_DIR, mounted at the same path
    sessions_host_dir: Path | None = None  # else SESSIONS_DIR's path on the Docker host (bind mounts)
    remove_orphans: bool = False  # remove containers of this deployment no session knows (else report them)
    docker_host: str | None = None  # DOCKER_HOST; unset: the local socket

    @property
    def prefix(self) -> str:
        """What container names start with: ``wa_session_<id>`` for the default deployment."""
        return "wa_session_" if self.deployment == "waorch" else f"{self.deployment}_wa_session_"


@dataclass(frozen=True)
class Settings:
    """Everything waorch is configured with (see the README's table)."""

    api_key: str
    webhook_secret: str
    redis_url: str | None
    data_dir: Path
    sessions_dir: Path
    backups_dir: Path
    orch_host: str = "127.0.0.1"
    orch_port: int = 3001
    webhook_url: str = ""
    max_sessions_per_proxy: int = 4
    max_sessions_per_phone: int = 4
    provisioning_interval_ms: int = 2000
    monitor_interval_ms: int = 30000
    watchdog_interval_ms: int = 60000
    ping_timeout_ms: int = 180000
    core_lease_ms: int = 10000
    ping_interval_ms: int = 30000
    worker_connect_timeout_ms: int = 30000
    proxy_cooldown_ms: int = 300000
    proxies: tuple[ProxyURL, ...] = ()
    telegram_bot_token: str | None = None
    telegram_chat_id: str | None = None
    telegram_api_url: str = "https://api.telegram.org"
    max_backups: int = 7
    worker_engine: str = "neonize"
    sim_url: str | None = None
    runner: str = "process"
    sessions_per_worker: int = 1  # density mode above 1: that many sessions per worker process (process runner)
    containers: ContainerSettings = field(default_factory=ContainerSettings)
    device_name: str = "waorch"
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    default_region: str | None = None
    restrict_new_contacts_ms: int = 86_400_000
    # The failure breaker (core/breaker.py): bad signs weighing BREAKER_THRESHOLD (0: off) within the window hold
    # the session's sending for the cool-off.
    breaker_threshold: int = 8
    breaker_window_ms: int = 1_800_000
    breaker_cooloff_ms: int = 3_600_000
    inbox_limit: int = 1000
    events_webhook_url: str = ""
    events_webhook_secret: str = ""
    events_webhook_max_attempts: int = 300
    # What Redis keeps: finished messages expire; the embedded server refuses writes past its memory limit.
    message_retention_s: int = 7 * 86400
    redis_maxmemory_mb: int = field(default_factory=lambda: default_maxmemory_mb())
    jobs_at_minute: int = 3 * 60 + 30  # the daily jobs' local time (JOBS_AT, HH:MM in TIMEZONE), minutes
    metrics_host: str = "127.0.0.1"  # with METRICS_PORT: /metrics alone, without the API key, on its own address
    metrics_port: int = 0  # 0: /metrics only on the API's port, behind X-API-Key
    generated_secrets: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        """No secret too short to keep anyone out, whichever way it came (an empty API key would let
        every request in, an empty webhook secret let anyone derive worker keys)."""
        _long_enough("API_KEY", self.api_key)
        _long_enough("WEBHOOK_SECRET", self.webhook_secret)
        if self.events_webhook_url or self.events_webhook_secret:
            _long_enough("EVENTS_WEBHOOK_SECRET", self.events_webhook_secret)
        if self.telegram_bot_token and not self.telegram_chat_id:
            raise ConfigError("TELEGRAM_CHAT_ID", "is required with TELEGRAM_BOT_TOKEN (the chat alerts go to)")

    @property
    def base_url(self) -> str:
        """URL of the orchestrator's HTTP server as seen from this machine."""
        return f"http://{_connect_host(self.orch_host)}:{self.orch_port}"

    def worker_host(self, session_id: str) -> str | None:
        """The host name besides loopback a session's worker may be reached at: its container's (or service's)
        name, when containers are on a network of their own; ``None`` otherwise."""
        if self.runner in ("docker", "swarm") and self.containers.network != "host":
            return f"{self.containers.prefix}{session_id}".lower()
        return None

    @property
    def worker_webhook_url(self) -> str:
        """URL workers post their events to."""
        return self.webhook_url or f"{self.base_url}/webhook"


def _connect_host(host: str) -> str:
    if host in ("0.0.0.0", "", "::"):
        return "127.0.0.1" if host != "::" else "[::1]"
    return f"[{host}]" if ":" in host else host


def read_dotenv(path: Path) -> dict[str, str]:
    """Parse a ``.env`` file: ``KEY=value`` lines, ``#`` comments, optional quotes and ``export``."""
    values: dict[str, str] = {}
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.removeprefix("export ").partition("=")
        if not sep or not key.strip().isidentifier():
            raise ConfigError(f"{path.name} line {number}", "expected KEY=value")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def _integer(env: Mapping[str, str], name: str, default: int, low: int, high: int = 2**31) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(name, f"must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(name, f"must be between {low} and {high}, got {value}")
    return value


def _days_in_seconds(env: Mapping[str, str], name: str, default_days: float, high_days: int) -> int:
    """A number of days (decimals allowed: ``0.5`` is 12 hours) as whole seconds, at least one."""
    raw = env.get(name, "").strip()
    try:
        days = float(raw) if raw else default_days
    except ValueError:
        raise ConfigError(name, f"must be a number of days, got {raw!r}") from None
    if not 1 / 86400 <= days <= high_days:  # also refuses nan
        raise ConfigError(name, f"must be between 1 second (0.0000116) and {high_days} days, got {raw}")
    return round(days * 86400)


def default_maxmemory_mb() -> int:
    """A quarter of this machine's memory (at least 64 MB): the embedded Redis's default ``maxmemory``."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return max(64, total // 4 // 2**20)


def _choice(env: Mapping[str, str], name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = env.get(name, "").strip() or default
    if value not in allowed:
        raise ConfigError(name, f"must be one of {', '.join(allowed)}, got {value!r}")
    return value


def _http_url(env: Mapping[str, str], name: str, schemes: tuple[str, ...] = ("http", "https")) -> str | None:
    value = env.get(name, "").strip()
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.hostname:
        raise ConfigError(name, f"must be a {'/'.join(schemes)} URL with a host, got {value!r}")
    return value


def _redis_url(env: Mapping[str, str]) -> str | None:
    """``redis://``, ``rediss://`` or ``unix://``; errors show the URL without its credentials."""
    value = env.get("REDIS_URL", "").strip()
    if not value:
        return None
    shown = redact_url(value)
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise ConfigError(
            "REDIS_URL", f"is not a URL waorch can read (a port or an IPv6 address?), got {shown}"
        ) from None
    if parts.scheme == "unix":
        if not parts.path:
            raise ConfigError("REDIS_URL", f"unix:// URL needs a socket path, got {shown}")
    elif parts.scheme not in ("redis", "rediss") or not parts.hostname:
        raise ConfigError("REDIS_URL", f"must be a redis://, rediss:// or unix:// URL with a host, got {shown}")
    elif port == 0:
        raise ConfigError("REDIS_URL", f"port must be between 1 and 65535, got {shown}")
    return value


def _proxies(env: Mapping[str, str]) -> tuple[ProxyURL, ...]:
    found = sorted((int(m.group(1)), name) for name in env if (m := PROXY_VAR.match(name)))
    proxies = []
    for _, name in found:
        try:
            proxies.append(parse_proxy_url(env[name]))
        except WaorchError as error:
            raise ConfigError(name, error.message) from None
    return tuple(proxies)


def _long_enough(name: str, value: str) -> str:
    if len(value) < MIN_SECRET_LENGTH:
        raise ConfigError(name, f"must be at least {MIN_SECRET_LENGTH} characters")
    return value


def _secret(env: Mapping[str, str], name: str, data_dir: Path, generated: list[str]) -> str:
    """The variable if set; else the file ``DATA_DIR/secrets/<name>``, generated on first start."""
    value = env.get(name, "").strip()
    if value:
        return _long_enough(name, value)
    path = data_dir / "secrets" / name.lower()
    if not path.exists():
        private_dir(data_dir)
        private_dir(path.parent)
        if create_private(path, secrets.token_urlsafe(32) + "\n"):
            generated.append(name)
    return _stored_secret(name, path)


def _stored_secret(name: str, path: Path) -> str:
    """A stored secret; one too short (emptied, cut short) is refused, never silently replaced."""
    try:
        value = path.read_text().strip()
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(name, f"cannot read {path} ({type(error).__name__}): delete it, or set {name}") from None
    if len(value) < MIN_SECRET_LENGTH:
        raise ConfigError(
            name,
            f"{path} holds {len(value)} characters, fewer than {MIN_SECRET_LENGTH}: "
            f"delete it to have a new one generated, or set {name}",
        )
    return value


def _machine_zone() -> ZoneInfo:
    """The machine's zone: the zoneinfo key /etc/localtime points to, else UTC."""
    target = str(Path("/etc/localtime").resolve())
    key = target.partition("zoneinfo/")[2]
    try:
        return ZoneInfo(key) if key else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _timezone(env: Mapping[str, str]) -> ZoneInfo:
    value = env.get("TIMEZONE", "").strip()
    if not value:
        return _machine_zone()
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError("TIMEZONE", f"must be an IANA zone like Asia/Jerusalem, got {value!r}") from None


def _region(env: Mapping[str, str]) -> str | None:
    value = env.get("DEFAULT_REGION", "").strip().upper()
    if value and value not in phonenumbers.SUPPORTED_REGIONS:
        raise ConfigError("DEFAULT_REGION", f"must be a two-letter region like IL or US, got {value!r}")
    return value or None


def _default_data_dir(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_DATA_HOME") or str(Path(env.get("HOME", ".")) / ".local" / "share")
    return Path(base) / "waorch"


def _path(env: Mapping[str, str], name: str, default: Path) -> Path:
    value = env.get(name, "").strip()
    return Path(value).expanduser().resolve() if value else default


def _time_of_day(env: Mapping[str, str], name: str, default: str) -> int:
    """``HH:MM`` (00:00 to 23:59) as minutes after midnight."""
    raw = env.get(name, "").strip() or default
    match = re.fullmatch(r"([01][0-9]|2[0-3]):([0-5][0-9])", raw)
    if not match:
        raise ConfigError(name, f"must be a time of day HH:MM (00:00 to 23:59), got {raw!r}")
    return int(match.group(1)) * 60 + int(match.group(2))


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw not in ("", "0", "1", "true", "false", "yes", "no"):
        raise ConfigError(name, f"must be true or false, got {raw!r}")
    return raw in ("1", "true", "yes")


def _sessions_per_worker(env: Mapping[str, str]) -> int:
    per_worker = _integer(env, "SESSIONS_PER_WORKER", 1, 1, 100)
    if per_worker > 1 and (env.get("RUNNER", "").strip() or "process") != "process":
        raise ConfigError("SESSIONS_PER_WORKER", "above 1 needs RUNNER=process (a container runs one session)")
    return per_worker


def _containers(env: Mapping[str, str]) -> ContainerSettings:
    deployment = env.get("DEPLOYMENT", "").strip() or "waorch"
    if not re.fullmatch(r"[a-z0-9][a-z0-9_.-]{0,31}", deployment):
        raise ConfigError(
            "DEPLOYMENT", f"must be 1 to 32 of a-z 0-9 _ . - (a label and a name prefix), got {deployment!r}"
        )
    host_dir = env.get("SESSIONS_HOST_DIR", "").strip()
    if host_dir and not host_dir.startswith("/"):
        raise ConfigError("SESSIONS_HOST_DIR", f"must be an absolute path on the Docker host, got {host_dir!r}")
    return ContainerSettings(
        image=env.get("WORKER_IMAGE", "").strip() or "waorch-worker:latest",
        network=env.get("DOCKER_NETWORK", "").strip() or "host",
        deployment=deployment,
        memory_mb=_integer(env, "WORKER_MEMORY_MB", 512, 64, 65536),
        pids_limit=_integer(env, "WORKER_PIDS_LIMIT", 512, 32, 65536),
        sessions_volume=env.get("SESSIONS_VOLUME", "").strip() or None,
        sessions_host_dir=Path(host_dir) if host_dir else None,
        remove_orphans=_flag(env, "REMOVE_ORPHANS"),
        docker_host=env.get("DOCKER_HOST", "").strip() or None,
    )


def _optional(env: Mapping[str, str], name: str, check: Callable[[str], bool], problem: str) -> str | None:
    value = env.get(name, "").strip()
    if value and not check(value):
        raise ConfigError(name, problem)
    return value or None


def load_settings(env: Mapping[str, str]) -> Settings:
    """Validate ``env`` (environment merged over ``.env``) into ``Settings``."""
    data_dir = _path(env, "DATA_DIR", _default_data_dir(env))
    generated: list[str] = []
    engine = _choice(env, "WORKER_ENGINE", "neonize", ENGINES)
    sim_url = _http_url(env, "SIM_URL")
    events_url = _http_url(env, "EVENTS_WEBHOOK_URL") or ""
    if engine == "sim" and not sim_url:
        raise ConfigError("SIM_URL", "is required when WORKER_ENGINE=sim (start one with `waorch sim`)")
    return Settings(
        redis_url=_redis_url(env),
        data_dir=data_dir,
        sessions_dir=_path(env, "SESSIONS_DIR", data_dir / "sessions"),
        backups_dir=_path(env, "BACKUPS_DIR", data_dir / "backups"),
        orch_host=env.get("ORCH_HOST", "").strip() or "127.0.0.1",
        orch_port=_integer(env, "ORCH_PORT", 3001, 1, 65535),
        webhook_url=_http_url(env, "WEBHOOK_URL") or "",
        max_sessions_per_proxy=_integer(env, "MAX_SESSIONS_PER_PROXY", 4, 1, 1000),
        max_sessions_per_phone=_integer(env, "MAX_SESSIONS_PER_PHONE", 4, 1, 4),
        provisioning_interval_ms=_integer(env, "PROVISIONING_INTERVAL_MS", 2000, 0),
        monitor_interval_ms=_integer(env, "MONITOR_INTERVAL_MS", 30000, 100),
        watchdog_interval_ms=_integer(env, "WATCHDOG_INTERVAL_MS", 60000, 100),
        ping_timeout_ms=_integer(env, "PING_TIMEOUT_MS", 180000, 1000),
        core_lease_ms=_integer(env, "CORE_LEASE_MS", 10000, 1000, 600000),
        ping_interval_ms=_integer(env, "PING_INTERVAL_MS", 30000, 100),
        worker_connect_timeout_ms=_integer(env, "WORKER_CONNECT_TIMEOUT_MS", 30000, 1000),
        proxy_cooldown_ms=_integer(env, "PROXY_COOLDOWN_MS", 300000, 0),
        proxies=_proxies(env),
        telegram_bot_token=_optional(env, "TELEGRAM_BOT_TOKEN", lambda v: ":" in v, "must look like 123456:ABC..."),
        telegram_chat_id=_optional(
            env,
            "TELEGRAM_CHAT_ID",
            lambda v: v.lstrip("-").isdigit() or v.startswith("@"),
            "must be a chat id or @channel",
        ),
        telegram_api_url=_http_url(env, "TELEGRAM_API_URL") or "https://api.telegram.org",
        max_backups=_integer(env, "MAX_BACKUPS", 7, 1, 1000),
        worker_engine=engine,
        sim_url=sim_url,
        runner=_choice(env, "RUNNER", "process", RUNNERS),
        sessions_per_worker=_sessions_per_worker(env),
        containers=_containers(env),
        device_name=env.get("DEVICE_NAME", "").strip() or "waorch",
        timezone=_timezone(env),
        default_region=_region(env),
        restrict_new_contacts_ms=_integer(env, "RESTRICT_NEW_CONTACTS_MS", 86_400_000, 0),
        breaker_threshold=_integer(env, "BREAKER_THRESHOLD", 8, 0, 10_000),
        breaker_window_ms=_integer(env, "BREAKER_WINDOW_MS", 1_800_000, 1000, 7 * 86_400_000),
        breaker_cooloff_ms=_integer(env, "BREAKER_COOLOFF_MS", 3_600_000, 0, 7 * 86_400_000),
        inbox_limit=_integer(env, "INBOX_LIMIT", 1000, 1, 100_000),
        events_webhook_url=events_url,
        events_webhook_max_attempts=_integer(env, "EVENTS_WEBHOOK_MAX_ATTEMPTS", 300, 1, 100_000),
        message_retention_s=_days_in_seconds(env, "MESSAGE_RETENTION_DAYS", 7, 3650),
        redis_maxmemory_mb=_integer(env, "REDIS_MAXMEMORY_MB", default_maxmemory_mb(), 16, 2**20),
        jobs_at_minute=_time_of_day(env, "JOBS_AT", "03:30"),
        metrics_host=env.get("METRICS_HOST", "").strip() or "127.0.0.1",
        metrics_port=_integer(env, "METRICS_PORT", 0, 0, 65535),
        api_key=_secret(env, "API_KEY", data_dir, generated),
        webhook_secret=_secret(env, "WEBHOOK_SECRET", data_dir, generated),
        events_webhook_secret=(
            _secret(env, "EVENTS_WEBHOOK_SECRET", data_dir, generated)
            if events_url or env.get("EVENTS_WEBHOOK_SECRET", "").strip()
            else ""
        ),
        generated_secrets=tuple(generated),
    )


def settings_from_environment(environ: Mapping[str, str], env_file: Path | None) -> Settings:
    """Merge ``environ`` over the ``.env`` file (if it exists) and validate."""
    merged: dict[str, str] = {}
    if env_file is not None and env_file.exists():
        merged.update(read_dotenv(env_file))
    merged.update(environ)
    return load_settings(merged)


@dataclass(frozen=True)
class WorkerSettings:
    """What a worker process is started with (by a runner, through its environment)."""

    session_id: str
    webhook_url: str
    webhook_key: str
    command_key: str
    auth_dir: Path
    engine: str
    proxy_url: ProxyURL | None = None
    sim_url: str | None = None
    generation: int = 0
    ping_interval_ms: int = 30000
    connect_timeout_ms: int = 30000
    command_host: str = "127.0.0.1"
    command_port: int = 0
    advertise_host: str | None = None
    device_name: str = "waorch"


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(name, "is required")
    return value


def load_worker_settings(env: Mapping[str, str]) -> WorkerSettings:
    """Validate a worker's environment (``SESSION_ID``, ``WEBHOOK_URL``, ``WEBHOOK_KEY``, ...)."""
    session_id = _required(env, "SESSION_ID")
    if not re.fullmatch(r"worker_\d+", session_id):
        raise ConfigError("SESSION_ID", f"must look like worker_<n>, got {session_id!r}")
    raw_proxy = env.get("PROXY_URL", "").strip()
    try:
        proxy = parse_proxy_url(raw_proxy) if raw_proxy else None
    except WaorchError as error:
        raise ConfigError("PROXY_URL", error.message) from None
    engine = _choice(env, "WORKER_ENGINE", "neonize", ENGINES)
    return WorkerSettings(
        session_id=session_id,
        webhook_url=_http_url(env, "WEBHOOK_URL") or _required(env, "WEBHOOK_URL"),
        webhook_key=_required(env, "WEBHOOK_KEY"),
        command_key=_required(env, "COMMAND_KEY"),
        auth_dir=Path(_required(env, "AUTH_DIR")),
        engine=engine,
        proxy_url=proxy,
        sim_url=_http_url(env, "SIM_URL") or (_required(env, "SIM_URL") if engine == "sim" else None),
        generation=_integer(env, "WORKER_GENERATION", 0, 0),
        ping_interval_ms=_integer(env, "PING_INTERVAL_MS", 30000, 100),
        connect_timeout_ms=_integer(env, "CONNECT_TIMEOUT_MS", 30000, 1000),
        command_host=env.get("COMMAND_HOST", "").strip() or "127.0.0.1",
        command_port=_integer(env, "COMMAND_PORT", 0, 0, 65535),
        advertise_host=env.get("ADVERTISE_HOST", "").strip() or None,
        device_name=env.get("DEVICE_NAME", "").strip() or "waorch",
    )
