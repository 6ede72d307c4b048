from __future__ import annotations

import re
from datetime import time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from connector.errors import ConfigurationError
from jobs.settings import (
    Bind,
    Settings,
    describe_settings_errors,
    load_settings,
    parse_duration,
    setting_names,
)

ROOT = Path(__file__).resolve().parents[2]
ENV_EXAMPLE = ROOT / "config" / ".env.example"
DESIGN = ROOT.parent / "shared" / "design.md"


def test_defaults_match_the_settings_table() -> None:
    """With nothing set, every default is design.md §6's."""
    s = load_settings(env_file=None)
    assert s.wisenet_base_url == "https://api.wisenet.co/v1"
    assert s.wisenet_api_key is None
    assert (s.wisenet_rate_limit, s.wisenet_daily_quota, s.wisenet_timeout) == (8, 1000, 30)
    assert s.wisenet_quota_reset == time(0, 0)
    assert s.timezone == ZoneInfo("Australia/Sydney")
    assert s.database_url == "sqlite+aiosqlite:///var/connector.db"
    assert s.mapping_file == "config/mapping.yaml"
    assert s.dry_run is False
    assert s.effective_poll_interval == timedelta(hours=1)
    assert s.poll_overlap == timedelta(minutes=65)
    assert s.sweep_at == time(6, 0)
    assert s.write_max_snapshot_age == timedelta(minutes=10)
    assert s.webhook_signature == "standard-webhooks"
    assert (s.webhook_encoding, s.webhook_prefix, s.webhook_max_bytes) == ("hex", "", 65536)
    assert s.http_bind == Bind("0.0.0.0", 8080)  # noqa: S104
    assert s.admin_bind == Bind("127.0.0.1", 9100)
    assert s.retention == timedelta(days=400)


def test_the_poll_interval_follows_the_plan_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    """Basic plan polls hourly, Full every 10 minutes, an explicit value wins."""
    monkeypatch.setenv("CONNECTOR_WISENET_DAILY_QUOTA", "10000")
    assert load_settings(env_file=None).effective_poll_interval == timedelta(minutes=10)
    monkeypatch.setenv("CONNECTOR_POLL_INTERVAL", "90s")
    assert load_settings(env_file=None).effective_poll_interval == timedelta(seconds=90)


def test_the_environment_wins_over_the_env_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A value in .env applies unless the environment sets the same variable."""
    env_file = tmp_path / ".env"
    env_file.write_text("CONNECTOR_WISENET_RATE_LIMIT=5\nCONNECTOR_SWEEP_AT=07:30\n")
    from_file = load_settings(env_file=str(env_file))
    assert (from_file.wisenet_rate_limit, from_file.sweep_at) == (5, time(7, 30))
    monkeypatch.setenv("CONNECTOR_WISENET_RATE_LIMIT", "3")
    both = load_settings(env_file=str(env_file))
    assert (both.wisenet_rate_limit, both.sweep_at) == (3, time(7, 30))


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("90s", 90), ("65m", 3900), ("1h", 3600), ("7d", 604800), ("1.5h", 5400)],
)
def test_durations_take_seconds_or_a_unit(text: str, seconds: int) -> None:
    """Durations are plain seconds or carry s, m, h or d."""
    assert parse_duration(text) == timedelta(seconds=seconds)


def test_every_bad_setting_gets_its_own_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """All bad settings are reported at once, each naming its variable."""
    bad = {
        "CONNECTOR_WISENET_RATE_LIMIT": "11",
        "CONNECTOR_WISENET_DAILY_QUOTA": "lots",
        "CONNECTOR_TIMEZONE": "Mars/Olympus",
        "CONNECTOR_POLL_OVERLAP": "an hour",
        "CONNECTOR_SWEEP_AT": "25:00",
        "CONNECTOR_HTTP_BIND": "localhost",
        "CONNECTOR_RECONCILE_CRON": "every sunday",
        "CONNECTOR_DATABASE_URL": "mysql://x",
        "CONNECTOR_WISENET_BASE_URL": "api.wisenet.co",
        "CONNECTOR_WEBHOOK_ENCODING": "base32",
    }
    for name, value in bad.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError) as caught:
        load_settings(env_file=None)
    lines = str(caught.value).splitlines()
    assert lines[0] == "invalid settings:"
    named = sorted(re.match(r"\s+(CONNECTOR_\w+):", line)[1] for line in lines[1:])  # type: ignore[index]
    assert named == sorted(bad)


def test_secrets_are_never_echoed() -> None:
    """A secret that fails validation is named, but its value is not shown."""
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None, wisenet_api_key=987654321, wisenet_rate_limit=0)
    message = describe_settings_errors(caught.value)
    assert "CONNECTOR_WISENET_API_KEY: Input should be a valid string" in message
    assert "987654321" not in message
    assert "CONNECTOR_WISENET_RATE_LIMIT: Input should be greater than 0 (got 0)" in message


def test_unverified_webhooks_need_dev_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    """`none` is refused unless CONNECTOR_DEV_MODE is set."""
    monkeypatch.setenv("CONNECTOR_WEBHOOK_SIGNATURE", "none")
    with pytest.raises(ConfigurationError, match="CONNECTOR_WEBHOOK_SIGNATURE: 'none' is allowed"):
        load_settings(env_file=None)
    monkeypatch.setenv("CONNECTOR_DEV_MODE", "true")
    assert load_settings(env_file=None).webhook_signature == "none"


def test_the_receiver_needs_a_secret_unless_unverified(monkeypatch: pytest.MonkeyPatch) -> None:
    """`connector run` stops without a webhook secret; the verifier carries every setting."""
    with pytest.raises(ConfigurationError, match="CONNECTOR_WEBHOOK_SECRET is not set"):
        load_settings(env_file=None).webhook_verifier()
    monkeypatch.setenv("CONNECTOR_WEBHOOK_SIGNATURE", "hmac-sha256")
    monkeypatch.setenv("CONNECTOR_WEBHOOK_SECRET", "s3cret")
    monkeypatch.setenv("CONNECTOR_WEBHOOK_HEADER", "X-Sig")
    monkeypatch.setenv("CONNECTOR_WEBHOOK_ENCODING", "base64")
    monkeypatch.setenv("CONNECTOR_WEBHOOK_PREFIX", "sha256=")
    verifier = load_settings(env_file=None).webhook_verifier()
    assert (verifier.mode, verifier.secret, verifier.header_name) == (
        "hmac-sha256",
        "s3cret",
        "x-sig",
    )
    assert (verifier.encoding, verifier.prefix) == ("base64", "sha256=")
    monkeypatch.delenv("CONNECTOR_WEBHOOK_SECRET")
    monkeypatch.setenv("CONNECTOR_WEBHOOK_SIGNATURE", "none")
    monkeypatch.setenv("CONNECTOR_DEV_MODE", "true")
    assert load_settings(env_file=None).webhook_verifier().mode == "none"


def test_commands_that_call_wisenet_need_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a key, asking for it stops with a message naming the variable."""
    with pytest.raises(ConfigurationError, match="CONNECTOR_WISENET_API_KEY is not set"):
        load_settings(env_file=None).require_api_key()
    monkeypatch.setenv("CONNECTOR_WISENET_API_KEY", "k")
    settings = load_settings(env_file=None)
    assert settings.require_api_key() == "k"
    assert "k" not in repr(settings.wisenet_api_key).replace("SecretStr", "")


def test_env_example_lists_every_setting_once() -> None:
    """config/.env.example and the Settings model name the same variables, in order."""
    listed = re.findall(r"^(CONNECTOR_\w+)=", ENV_EXAMPLE.read_text(), flags=re.MULTILINE)
    assert listed == setting_names()


def test_env_example_copied_to_env_gives_the_defaults() -> None:
    """Copying the example to .env unchanged is valid and changes nothing."""
    assert load_settings(env_file=str(ENV_EXAMPLE)) == load_settings(env_file=None)


@pytest.mark.skipif(not DESIGN.exists(), reason="shared/design.md is laid beside the checkout")
def test_the_design_table_names_every_setting() -> None:
    """design.md §6 and the Settings model list the same settings."""
    text = DESIGN.read_text()
    table = text[text.index("## 6. Settings") : text.index("## 7.")]
    documented = re.findall(r"^\| `(\w+)` \|", table, flags=re.MULTILINE)
    assert ["CONNECTOR_" + name for name in documented] == setting_names()
