"""Configuration: every variable validated once, bad values named, secrets generated once."""

from __future__ import annotations

import dataclasses
import os
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from waorch.config import load_settings, load_worker_settings, read_dotenv, settings_from_environment
from waorch.errors import ConfigError

BASE = {"API_KEY": "k" * 20, "WEBHOOK_SECRET": "s" * 20}

BAD_VALUES = [
    ("ORCH_PORT", "abc"),
    ("ORCH_PORT", "0"),
    ("ORCH_PORT", "70000"),
    ("MAX_SESSIONS_PER_PROXY", "0"),
    ("MAX_SESSIONS_PER_PROXY", "four"),
    ("MAX_SESSIONS_PER_PHONE", "5"),
    ("MAX_SESSIONS_PER_PHONE", "-1"),
    ("PROVISIONING_INTERVAL_MS", "-5"),
    ("PROVISIONING_INTERVAL_MS", "1.5"),
    ("MONITOR_INTERVAL_MS", "10"),
    ("WATCHDOG_INTERVAL_MS", "x"),
    ("PING_TIMEOUT_MS", "5"),
    ("CORE_LEASE_MS", "50"),
    ("PING_INTERVAL_MS", "1"),
    ("PROXY_COOLDOWN_MS", "-1"),
    ("MAX_BACKUPS", "-1"),
    ("MAX_BACKUPS", "0"),  # it would delete the backup just taken
    ("WORKER_CONNECT_TIMEOUT_MS", "5"),
    ("PROXY_URL_1", "http://1.2.3.4:80"),
    ("PROXY_URL_2", "socks5h://nohost"),
    ("PROXY_URL_3", "socks4://h:1"),
    ("REDIS_URL", "http://localhost:6379"),
    ("REDIS_URL", "redis://"),
    ("REDIS_URL", "unix://"),
    ("REDIS_URL", "redis://:pw@[::1:6379/0"),
    ("REDIS_URL", "redis://:pw@host:99999/0"),
    ("REDIS_URL", "redis://:pw@host:0"),
    ("TELEGRAM_BOT_TOKEN", "nocolon"),
    ("TELEGRAM_CHAT_ID", "abc"),
    ("TELEGRAM_API_URL", "ftp://x"),
    ("WORKER_ENGINE", "baileys"),
    ("RUNNER", "kubernetes"),
    ("SIM_URL", "localhost:1234"),
    ("WEBHOOK_URL", "not a url"),
    ("API_KEY", "short"),
    ("WEBHOOK_SECRET", "short"),
    ("TIMEZONE", "Mars/Olympus"),
    ("DEFAULT_REGION", "XX"),
    ("DEFAULT_REGION", "Israel"),
    ("RESTRICT_NEW_CONTACTS_MS", "-1"),
    ("EVENTS_WEBHOOK_URL", "ftp://example.org/hook"),
    ("EVENTS_WEBHOOK_URL", "receiver"),
    ("EVENTS_WEBHOOK_SECRET", "short"),
    ("INBOX_LIMIT", "0"),
    ("INBOX_LIMIT", "lots"),
    ("EVENTS_WEBHOOK_MAX_ATTEMPTS", "0"),
    ("MESSAGE_RETENTION_DAYS", "0"),
    ("MESSAGE_RETENTION_DAYS", "-1"),
    ("MESSAGE_RETENTION_DAYS", "nan"),
    ("MESSAGE_RETENTION_DAYS", "3651"),
    ("MESSAGE_RETENTION_DAYS", "a week"),
    ("REDIS_MAXMEMORY_MB", "8"),
    ("REDIS_MAXMEMORY_MB", "1.5"),
    ("REDIS_MAXMEMORY_MB", "2gb"),
]


@pytest.mark.parametrize(("name", "value"), BAD_VALUES)
def test_bad_value_names_the_variable(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings({**BASE, "DATA_DIR": str(tmp_path), name: value})
    assert raised.value.variable == name
    assert str(raised.value).startswith(f"{name}: ")


def test_a_telegram_token_needs_its_chat(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="TELEGRAM_CHAT_ID: is required with TELEGRAM_BOT_TOKEN"):
        load_settings({**BASE, "DATA_DIR": str(tmp_path), "TELEGRAM_BOT_TOKEN": "123:abc"})


def test_sim_engine_needs_sim_url(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SIM_URL: is required"):
        load_settings({**BASE, "DATA_DIR": str(tmp_path), "WORKER_ENGINE": "sim"})


def test_defaults_follow_the_seed(tmp_path: Path) -> None:
    settings = load_settings({**BASE, "DATA_DIR": str(tmp_path)})
    assert (settings.orch_port, settings.max_sessions_per_proxy, settings.max_sessions_per_phone) == (3001, 4, 4)
    assert (
        settings.provisioning_interval_ms,
        settings.monitor_interval_ms,
        settings.watchdog_interval_ms,
        settings.ping_timeout_ms,
    ) == (2000, 30000, 60000, 180000)
    assert settings.worker_engine == "neonize" and settings.runner == "process" and settings.redis_url is None
    assert settings.sessions_dir == tmp_path / "sessions" and settings.backups_dir == tmp_path / "backups"
    assert settings.worker_webhook_url == "http://127.0.0.1:3001/webhook"


def test_retention_in_days_and_the_embedded_servers_memory(tmp_path: Path) -> None:
    settings = load_settings({**BASE, "DATA_DIR": str(tmp_path)})
    assert settings.message_retention_s == 7 * 86400
    machine = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    assert settings.redis_maxmemory_mb == max(64, machine // 4)
    settings = load_settings(
        {**BASE, "DATA_DIR": str(tmp_path), "MESSAGE_RETENTION_DAYS": "0.5", "REDIS_MAXMEMORY_MB": "512"}
    )
    assert (settings.message_retention_s, settings.redis_maxmemory_mb) == (43200, 512)


def test_proxies_in_numeric_order(tmp_path: Path) -> None:
    settings = load_settings(
        {**BASE, "DATA_DIR": str(tmp_path), "PROXY_URL_10": "socks5://h:10", "PROXY_URL_2": "socks5h://u:p@h:2"}
    )
    assert [p.port for p in settings.proxies] == [2, 10]


def test_secrets_generated_once_privately(tmp_path: Path) -> None:
    first = load_settings({"DATA_DIR": str(tmp_path)})
    assert set(first.generated_secrets) == {"API_KEY", "WEBHOOK_SECRET"}
    key_file = tmp_path / "secrets" / "api_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "secrets").stat().st_mode) == 0o700
    second = load_settings({"DATA_DIR": str(tmp_path)})
    assert second.generated_secrets == () and second.api_key == first.api_key == key_file.read_text().strip()
    assert second.webhook_secret == first.webhook_secret != first.api_key


@pytest.mark.parametrize("stored", ["", "\n", "cut-short\n"])
def test_a_short_secret_file_is_refused_naming_the_file_and_left_as_it_is(tmp_path: Path, stored: str) -> None:
    """What a crash or a full disk during a first start could leave: never taken as the key, never replaced."""
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "api_key").write_text(stored)
    with pytest.raises(ConfigError) as raised:
        load_settings({"DATA_DIR": str(tmp_path)})
    assert raised.value.variable == "API_KEY"
    assert str(tmp_path / "secrets" / "api_key") in str(raised.value) and "delete it" in str(raised.value)
    assert (tmp_path / "secrets" / "api_key").read_text() == stored


def test_first_starts_at_once_all_get_the_stored_secret(tmp_path: Path) -> None:
    for attempt in range(5):
        data_dir = tmp_path / str(attempt)
        with ThreadPoolExecutor(8) as pool:
            loaded = list(pool.map(load_settings, [{"DATA_DIR": str(data_dir)}] * 8))
        stored = (data_dir / "secrets" / "api_key").read_text().strip()
        assert {settings.api_key for settings in loaded} == {stored} and len(stored) >= 16
        assert sum("API_KEY" in settings.generated_secrets for settings in loaded) == 1
        assert sorted(path.name for path in (data_dir / "secrets").iterdir()) == [
            "api_key",
            "webhook_secret",
        ]  # no temporary file left


@pytest.mark.parametrize("name", ["api_key", "webhook_secret"])
def test_settings_refuse_a_short_secret_however_they_are_built(tmp_path: Path, name: str) -> None:
    settings = load_settings({**BASE, "DATA_DIR": str(tmp_path)})
    with pytest.raises(ConfigError) as raised:
        dataclasses.replace(settings, **{name: ""})
    assert raised.value.variable == name.upper()


def test_bad_value_generates_no_secret(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_settings({"DATA_DIR": str(tmp_path), "ORCH_PORT": "x"})
    assert not (tmp_path / "secrets").exists()


def test_dotenv_under_environment(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("# comment\nexport ORCH_PORT=4000\nMAX_SESSIONS_PER_PROXY='3'\nAPI_KEY=\"" + "a" * 20 + '"\n\n')
    settings = settings_from_environment(
        {"ORCH_PORT": "5000", "DATA_DIR": str(tmp_path), "WEBHOOK_SECRET": "s" * 20}, env_file
    )
    assert (settings.orch_port, settings.max_sessions_per_proxy, settings.api_key) == (5000, 3, "a" * 20)


def test_dotenv_syntax_error_names_the_line(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("ORCH_PORT=1\nthis is not a pair\n")
    with pytest.raises(ConfigError, match=r"\.env line 2"):
        read_dotenv(env_file)


WORKER = {
    "SESSION_ID": "worker_3",
    "WEBHOOK_URL": "http://127.0.0.1:3001/webhook",
    "WEBHOOK_KEY": "k",
    "COMMAND_KEY": "c",
    "AUTH_DIR": "/tmp/x",
    "WORKER_ENGINE": "sim",
    "SIM_URL": "http://127.0.0.1:1",
}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SESSION_ID", "bob"),
        ("SESSION_ID", ""),
        ("WEBHOOK_URL", ""),
        ("WEBHOOK_KEY", ""),
        ("AUTH_DIR", ""),
        ("PROXY_URL", "http://x:1"),
        ("WORKER_ENGINE", "x"),
        ("SIM_URL", ""),
        ("COMMAND_PORT", "99999"),
    ],
)
def test_worker_environment_validated(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_worker_settings({**WORKER, name: value})
    assert raised.value.variable == name


def test_worker_environment(tmp_path: Path) -> None:
    settings = load_worker_settings({**WORKER, "PROXY_URL": "socks5h://u:p%40ss@127.0.0.1:1080"})
    assert settings.proxy_url is not None and settings.proxy_url.password == "p@ss"
    assert settings.proxy_url.redacted == "socks5h://***@127.0.0.1:1080"


def test_events_secret_generated_only_with_a_url(tmp_path: Path) -> None:
    without = load_settings({**BASE, "DATA_DIR": str(tmp_path)})
    assert (without.events_webhook_url, without.events_webhook_secret, without.inbox_limit) == ("", "", 1000)
    first = load_settings({**BASE, "DATA_DIR": str(tmp_path), "EVENTS_WEBHOOK_URL": "https://example.org/hook"})
    assert first.generated_secrets == ("EVENTS_WEBHOOK_SECRET",) and first.events_webhook_max_attempts == 300
    again = load_settings({**BASE, "DATA_DIR": str(tmp_path), "EVENTS_WEBHOOK_URL": "https://example.org/hook"})
    stored = (tmp_path / "secrets" / "events_webhook_secret").read_text().strip()
    assert again.generated_secrets == () and again.events_webhook_secret == first.events_webhook_secret == stored


@pytest.mark.parametrize(
    "url",
    [
        "socks5h://fleet:s3cret-pass@[::1:1080",
        "socks5://fleet:s3cret-pass@[not-ipv6]:1080",
        "socks5h://fleet:s3cret-pass@host\udcff:1080",
        "http://fleet:s3cret-pass@host:1080",
    ],
)
def test_a_bad_proxy_url_is_named_without_its_password(tmp_path: Path, url: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings({**BASE, "DATA_DIR": str(tmp_path), "PROXY_URL_7": url})
    assert str(raised.value).startswith("PROXY_URL_7: ") and "s3cret-pass" not in str(raised.value)


@pytest.mark.parametrize(
    "url", ["redis://:s3cret-pass@[::1:6379/0", "http://fleet:s3cret-pass@db:6379", "redis://:s3cret-pass@db:0"]
)
def test_a_bad_redis_url_is_named_without_its_credentials(tmp_path: Path, url: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings({**BASE, "DATA_DIR": str(tmp_path), "REDIS_URL": url})
    assert str(raised.value).startswith("REDIS_URL: ") and "s3cret-pass" not in str(raised.value)
