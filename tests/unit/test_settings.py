from __future__ import annotations

import base64
import re
from datetime import time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from connector.errors import ConfigurationError
from connector.sandbox.webhooks import DEFAULT_SECRET
from connector.webhooks.verify import MIN_SECRET_BYTES
from jobs.cli.config import effective_settings
from jobs.setup.setting_values import Bind, parse_duration
from jobs.setup.settings import Settings, describe_settings_errors, load_settings, setting_names

ROOT = Path(__file__).resolve().parents[2]
ENV_EXAMPLE = ROOT / "config" / ".env.example"
DESIGN = ROOT.parent / "shared" / "design.md"
# Issue 18: business days skip the region's holidays; the digest groups open work by owner.
BEYOND_THE_TABLE = {"CONNECTOR_HOLIDAYS", "CONNECTOR_DIGEST_BY_OWNER"}


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
    assert s.webhook_coalesce == timedelta(seconds=3)
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
    named = sorted(re.match(r"(CONNECTOR_\w+):", line)[1] for line in lines)  # type: ignore[index]
    assert named == sorted(bad)


def test_secrets_are_never_echoed() -> None:
    """A secret that fails validation is named, but its value is not shown."""
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None, wisenet_api_key=987654321, wisenet_rate_limit=0)
    message = describe_settings_errors(caught.value)
    assert "CONNECTOR_WISENET_API_KEY: Input should be a valid string" in message
    assert "987654321" not in message
    assert (
        "CONNECTOR_WISENET_RATE_LIMIT: Input should be greater than or equal to 0.1 (got 0)"
        in message
    )


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
    monkeypatch.setenv("CONNECTOR_WEBHOOK_SECRET", "s3cret-of-16-bytes")
    monkeypatch.setenv("CONNECTOR_WEBHOOK_HEADER", "X-Sig")
    monkeypatch.setenv("CONNECTOR_WEBHOOK_ENCODING", "base64")
    monkeypatch.setenv("CONNECTOR_WEBHOOK_PREFIX", "sha256=")
    verifier = load_settings(env_file=None).webhook_verifier()
    assert (verifier.mode, verifier.secret, verifier.header_name) == (
        "hmac-sha256",
        "s3cret-of-16-bytes",
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
    """Every setting of the model is in design.md §6, in the table's order.

    The table may be ahead of the model: it also names the settings of work not yet built. The
    model may be ahead of it by the settings later issues asked for (`BEYOND_THE_TABLE`).
    """
    text = DESIGN.read_text()
    table = text[text.index("## 6. Settings") : text.index("## 7.")]
    rows = re.findall(r"^\| (`\w+`(?:, `\w+`)*) \|", table, re.M)  # a row may name several
    documented = ["CONNECTOR_" + name for row in rows for name in re.findall(r"`(\w+)`", row)]
    names = [name for name in setting_names() if name not in BEYOND_THE_TABLE]
    assert [name for name in documented if name in names] == names


def _secret_of(mode: str, key_bytes: int) -> str:
    """A secret worth exactly `key_bytes` bytes of key in `mode`."""
    key = bytes(range(65, 65 + key_bytes))
    return (
        "whsec_" + base64.b64encode(key).decode() if mode == "standard-webhooks" else key.decode()
    )


@pytest.mark.parametrize("mode", ["standard-webhooks", "hmac-sha256", "shared-token"])
def test_a_webhook_secret_needs_sixteen_bytes_of_key_in_every_mode(
    mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """16 bytes of key are enough, 15 are refused with one line that does not quote the secret."""
    monkeypatch.setenv("CONNECTOR_WEBHOOK_SIGNATURE", mode)
    monkeypatch.setenv("CONNECTOR_WEBHOOK_SECRET", _secret_of(mode, MIN_SECRET_BYTES))
    assert load_settings(env_file=None).webhook_verifier().mode == mode
    weak = _secret_of(mode, MIN_SECRET_BYTES - 1)
    monkeypatch.setenv("CONNECTOR_WEBHOOK_SECRET", weak)
    with pytest.raises(ConfigurationError) as caught:
        load_settings(env_file=None)
    (line,) = str(caught.value).splitlines()
    assert line.startswith("CONNECTOR_WEBHOOK_SECRET: the secret ")
    assert weak not in line


@pytest.mark.parametrize(
    "secret",
    [
        "whsec_",
        "whsec_" + base64.b64encode(b"k" * 15).decode(),
        "whsec_ZZ",  # not base64: its raw 2 bytes
        base64.b64encode(b"k" * 15).decode(),  # base64 without the prefix: 15 decoded bytes
    ],
)
def test_weak_standard_webhooks_secrets_are_refused(
    secret: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`whsec_` alone is an empty key; the decoded key is what counts, not the text's length."""
    monkeypatch.setenv("CONNECTOR_WEBHOOK_SECRET", secret)
    with pytest.raises(ConfigurationError, match=r"^CONNECTOR_WEBHOOK_SECRET: the secret decodes"):
        load_settings(env_file=None)


@pytest.mark.parametrize("mode", ["standard-webhooks", "hmac-sha256", "shared-token"])
def test_the_sandbox_default_secret_is_strong_enough_in_every_mode(
    mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sandbox and the tests sign with DEFAULT_SECRET, whatever the mode."""
    monkeypatch.setenv("CONNECTOR_WEBHOOK_SIGNATURE", mode)
    monkeypatch.setenv("CONNECTOR_WEBHOOK_SECRET", DEFAULT_SECRET)
    assert load_settings(env_file=None).webhook_verifier().secret == DEFAULT_SECRET


def test_a_secret_is_not_checked_when_nothing_is_verified(monkeypatch: pytest.MonkeyPatch) -> None:
    """In development with `none`, a left-over short secret is unused, so it is not refused."""
    monkeypatch.setenv("CONNECTOR_WEBHOOK_SIGNATURE", "none")
    monkeypatch.setenv("CONNECTOR_DEV_MODE", "true")
    monkeypatch.setenv("CONNECTOR_WEBHOOK_SECRET", "short")
    assert load_settings(env_file=None).webhook_verifier().mode == "none"


BOUNDS = [
    # setting, lowest accepted, highest accepted, refused below, refused above
    ("WISENET_RATE_LIMIT", "0.1", "10", "0.09", "10.5"),
    ("WISENET_DAILY_QUOTA", "100", "10000000", "99", "10000001"),
    ("WISENET_TIMEOUT", "1", "300", "0.5", "301"),
    ("POLL_INTERVAL", "10s", "1d", "9s", "25h"),
    ("POLL_OVERLAP", "0", "1d", None, "1441m"),
    ("WRITE_MAX_SNAPSHOT_AGE", "0", "24h", None, "86401"),
    ("WEBHOOK_MAX_BYTES", "1024", "10485760", "1023", "10485761"),
    ("RETENTION", "1d", "3660d", "23h", "3661d"),
]


@pytest.mark.parametrize(
    ("name", "lowest", "highest", "below", "above"), BOUNDS, ids=[b[0] for b in BOUNDS]
)
def test_every_number_and_duration_has_bounds(
    name: str,
    lowest: str,
    highest: str,
    below: str | None,
    above: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Both bounds are accepted; one step outside either is one line naming the setting."""
    for accepted in (lowest, highest):
        monkeypatch.setenv(f"CONNECTOR_{name}", accepted)
        load_settings(env_file=None)
    for refused in (below, above):
        if refused is None:
            continue
        monkeypatch.setenv(f"CONNECTOR_{name}", refused)
        with pytest.raises(ConfigurationError) as caught:
            load_settings(env_file=None)
        (line,) = str(caught.value).splitlines()
        assert line.startswith(f"CONNECTOR_{name}: ")
        assert f"(got {refused!r})" in line


@pytest.mark.parametrize("value", ["inf", "nan", "-inf", "1e400"])
def test_numbers_must_be_finite(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """An infinite or undefined timeout or rate is refused where it is parsed."""
    for name in ("CONNECTOR_WISENET_TIMEOUT", "CONNECTOR_WISENET_RATE_LIMIT"):
        monkeypatch.setenv(name, value)
        with pytest.raises(ConfigurationError, match=f"^{name}: "):
            load_settings(env_file=None)
        monkeypatch.delenv(name)


@pytest.mark.parametrize("text", ["99999999999d", "9" * 400, "36501d"])
def test_durations_beyond_a_century_are_refused_not_overflowed(text: str) -> None:
    """A duration too long for any setting is a ValueError, never an OverflowError."""
    with pytest.raises(ValueError, match="at most 36500d"):
        parse_duration(text)


@pytest.mark.parametrize("line", ["0 3 30 2 *", "0 3 31 4 *", "0 0 31 2,4,6,9,11 *"])
def test_a_crontab_that_never_fires_is_refused(line: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A reconcile schedule on a day that does not exist would never run."""
    monkeypatch.setenv("CONNECTOR_RECONCILE_CRON", line)
    with pytest.raises(ConfigurationError, match="does not fire within a year"):
        load_settings(env_file=None)


@pytest.mark.parametrize("line", ["0 3 * * sun", "*/5 * * * *", "0 0 1 1 *", "30 2 31 * *"])
def test_a_crontab_that_fires_within_a_year_is_accepted(
    line: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Weekly, every five minutes, yearly on New Year's Day, on every 31st: all fire in a year."""
    monkeypatch.setenv("CONNECTOR_RECONCILE_CRON", line)
    assert load_settings(env_file=None).reconcile_cron == line


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql+asyncpg://u:pw@db:99999/c", "the port must be from 1 to 65535"),
        ("postgresql+asyncpg://u:pw@db:port/c", "not a valid URL"),
        ("mysql://u:pw@db/c", "expected sqlite+aiosqlite:///PATH"),
    ],
)
def test_the_store_url_is_checked_without_echoing_it(
    url: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bad CONNECTOR_DATABASE_URL is named, and its value (which may hold a password) is not."""
    monkeypatch.setenv("CONNECTOR_DATABASE_URL", url)
    with pytest.raises(ConfigurationError) as caught:
        load_settings(env_file=None)
    (line,) = str(caught.value).splitlines()
    assert line.startswith("CONNECTOR_DATABASE_URL: ")
    assert message in line
    assert "pw" not in line


def test_an_env_file_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    """A Latin-1 .env stops with one line naming the file and the offending byte."""
    env_file = tmp_path / ".env"
    env_file.write_bytes("CONNECTOR_TIMEZONE=Australia/Sydney # café\n".encode("latin-1"))
    with pytest.raises(ConfigurationError) as caught:
        load_settings(env_file=str(env_file))
    assert (
        str(caught.value)
        == f"{env_file}: not UTF-8 text (byte 0xe9 at offset 41); save it as UTF-8"
    )


@pytest.mark.parametrize(
    "url", ["http://[::1", "http://wisenet.example:99999/v1", "http://exa mple.com", "ftp://x"]
)
def test_a_wisenet_url_the_client_cannot_use_is_refused(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A base URL with a broken host or port stops at the settings, not in the HTTP client."""
    monkeypatch.setenv("CONNECTOR_WISENET_BASE_URL", url)
    with pytest.raises(ConfigurationError, match=r"^CONNECTOR_WISENET_BASE_URL: "):
        load_settings(env_file=None)


def test_secrets_can_be_read_from_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`CONNECTOR_<SECRET>_FILE` (Docker and Kubernetes secrets) gives the file's text.

    One final line break is dropped; the variable may be in the environment or .env; `config`
    says where the value came from; no unknown-setting warning.
    """
    key = tmp_path / "api-key"
    key.write_text("k-123 secret\n")
    store = tmp_path / "database-url"
    store.write_text("postgresql+asyncpg://connector:pw@db:5432/connector")
    monkeypatch.setenv("CONNECTOR_WISENET_API_KEY_FILE", str(key))
    env_file = tmp_path / ".env"
    env_file.write_text(f"CONNECTOR_DATABASE_URL_FILE={store}\n")
    settings = load_settings(env_file=str(env_file))
    assert settings.require_api_key() == "k-123 secret"
    assert settings.database_url == store.read_text()
    assert capsys.readouterr().err == ""
    monkeypatch.chdir(tmp_path)
    shown = effective_settings(load_settings())
    assert shown["CONNECTOR_WISENET_API_KEY"] == {"value": "********", "source": "file"}
    assert shown["CONNECTOR_DATABASE_URL"]["source"] == "file"
    assert "pw" not in shown["CONNECTOR_DATABASE_URL"]["value"]


@pytest.mark.parametrize(
    ("content", "also_direct", "message"),
    [
        (
            None,
            False,
            "CONNECTOR_WEBHOOK_SECRET_FILE: cannot read {path} (No such file or directory)",
        ),
        ("", False, "CONNECTOR_WEBHOOK_SECRET_FILE: {path} is empty"),
        (
            "whsec-in-file",
            True,
            "CONNECTOR_WEBHOOK_SECRET and CONNECTOR_WEBHOOK_SECRET_FILE are both set",
        ),
    ],
    ids=["missing", "empty", "both"],
)
def test_a_secret_file_that_cannot_serve_is_named_without_its_content(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    content: str | None,
    also_direct: bool,
    message: str,
) -> None:
    """One line naming the variable and the path; the secret itself is never shown."""
    path = tmp_path / "webhook-secret"
    if content is not None:
        path.write_text(content)
    monkeypatch.setenv("CONNECTOR_WEBHOOK_SECRET_FILE", str(path))
    if also_direct:
        monkeypatch.setenv("CONNECTOR_WEBHOOK_SECRET", "whsec-direct")
    with pytest.raises(ConfigurationError) as raised:
        load_settings(env_file=None)
    assert message.format(path=path) in str(raised.value)
    assert "whsec" not in str(raised.value)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"DIGEST_SMTP_URL": "http://mail.example"},
            "CONNECTOR_DIGEST_SMTP_URL: expected smtp://[user:password@]host[:port] or smtps://",
        ),
        (
            {"DIGEST_SMTP_URL": "smtp://u:s3cret@mail.example:99999"},
            "CONNECTOR_DIGEST_SMTP_URL: the port must be from 1 to 65535",
        ),
        (
            {"DIGEST_SMTP_URL": "smtps://u:s3cret@mail.example", "DIGEST_TO": "a@rto.example"},
            "CONNECTOR_DIGEST_SMTP_URL is set: CONNECTOR_DIGEST_FROM and CONNECTOR_DIGEST_TO",
        ),
        (
            {"DIGEST_TO": "a@rto.example"},
            "CONNECTOR_DIGEST_TO is set but CONNECTOR_DIGEST_SMTP_URL is not",
        ),
        (
            {"DIGEST_TO": "a@rto.example, Jo <jo@rto.example>"},
            "CONNECTOR_DIGEST_TO: expected e-mail addresses separated by commas; "
            "'Jo <jo@rto.example>' is not one",
        ),
        (
            {"DIGEST_WEBHOOK_URL": "hooks.slack.com/services/T0/B0/s3cret"},
            "CONNECTOR_DIGEST_WEBHOOK_URL: expected an http(s) URL",
        ),
        ({"REPORT_URL": "connector.example/report"}, "CONNECTOR_REPORT_URL: expected an http(s)"),
        (
            {"DIGEST_WEBHOOK_URL": "https://hooks.example:99999/s3cret"},
            "CONNECTOR_DIGEST_WEBHOOK_URL: the port must be from 1 to 65535",
        ),
        (
            {"DIGEST_WEBHOOK_URL": "https://hooks.example/s3cret\n"},
            "CONNECTOR_DIGEST_WEBHOOK_URL: expected an http(s) URL",
        ),
        (
            {"DIGEST_FROM": "connector@rto.example"},
            "CONNECTOR_DIGEST_FROM is set but CONNECTOR_DIGEST_SMTP_URL is not",
        ),
    ],
)
def test_digest_settings_are_checked_without_echoing_their_secrets(
    values: dict[str, str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bad channel is named in one line; passwords and webhook URLs are not shown."""
    for name, value in values.items():
        monkeypatch.setenv(f"CONNECTOR_{name}", value)
    with pytest.raises(ConfigurationError) as caught:
        load_settings(env_file=None)
    (line,) = str(caught.value).splitlines()
    assert message in line
    assert "s3cret" not in line


def test_a_mail_digest_reads_its_recipients_from_a_comma_separated_list(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Spaces around commas and a trailing comma are forgiven; config shows them joined."""
    monkeypatch.setenv("CONNECTOR_DIGEST_SMTP_URL", "smtp://relay.rto.example")
    monkeypatch.setenv("CONNECTOR_DIGEST_FROM", "connector@rto.example")
    monkeypatch.setenv("CONNECTOR_DIGEST_TO", " a@rto.example ,b@rto.example,")
    settings = load_settings(env_file=None)
    assert settings.digest_to == ("a@rto.example", "b@rto.example")
    shown = effective_settings(settings)
    assert shown["CONNECTOR_DIGEST_TO"]["value"] == "a@rto.example, b@rto.example"
    assert shown["CONNECTOR_DIGEST_SMTP_URL"]["value"] == "********"


def test_holidays_name_a_region_the_holidays_package_knows(monkeypatch: pytest.MonkeyPatch) -> None:
    """`AU` by default; a state's code in any case; an unknown one is refused on one line."""
    assert load_settings(env_file=None).business_calendar().region == "AU"
    monkeypatch.setenv("CONNECTOR_HOLIDAYS", "au-nsw")
    assert load_settings(env_file=None).holidays == "AU-NSW"
    monkeypatch.setenv("CONNECTOR_HOLIDAYS", "AU-NWS")
    with pytest.raises(ConfigurationError) as caught:
        load_settings(env_file=None)
    (line,) = str(caught.value).splitlines()
    assert line.startswith(
        "CONNECTOR_HOLIDAYS: AU has no subdivision 'NWS'; expected one of ACT, NSW"
    )
    monkeypatch.setenv("CONNECTOR_HOLIDAYS", "Narnia")
    with pytest.raises(
        ConfigurationError, match="no public holidays are known for country 'NARNIA'"
    ):
        load_settings(env_file=None)
