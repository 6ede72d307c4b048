"""The one settings table (design.md §6): environment variables prefixed `CONNECTOR_`.

Read once, at the composition root, by `load_settings`. A `.env` file in the working directory
is read too (UTF-8); real environment variables win over it. Durations are plain seconds or carry
a unit (`90s`, `65m`, `1h`, `7d`); times of day are `HH:MM` in the account's timezone.

Every number and duration has bounds that make sense for it, checked here where it is parsed
(`config/.env.example` lists them): a value outside them stops the program with one line naming
the setting, never a traceback later. The reconcile crontab must fire within a year, the store's
URL must parse, and a webhook secret must be strong enough for its signature mode.

A `CONNECTOR_*` name that is no setting (a misspelt one, most likely) is warned about on stderr
with the closest setting (`jobs.setup.setting_sources`). The mapping file defaults to
`config/mapping.yaml`, or to the packaged copy of it outside a folder that has one.
"""

from __future__ import annotations

import math
import os
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from apscheduler.triggers.cron import CronTrigger
from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PlainSerializer,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from connector.errors import ConfigurationError
from connector.public_holidays import UnknownRegionError, business_calendar
from connector.webhooks.verify import SignatureMode, VerifierConfig, secret_weakness
from jobs.setup.logging import LogFormat, LogLevel
from jobs.setup.setting_sources import FILE_SUFFIX, SecretFileError, secret_files, unknown_settings
from mappings.calendar import BusinessCalendar

ENV_PREFIX = "CONNECTOR_"
ENV_FILE = ".env"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
# Values never echoed in errors: secrets, and the store's URL (it may carry a password).
_UNSHOWN_FIELDS = frozenset(
    {
        "wisenet_api_key",
        "webhook_secret",
        "report_token",
        "database_url",
        "digest_smtp_url",  # it may carry the mail account's password
        "digest_webhook_url",  # a chat webhook's URL is its credential
    }
)
DEFAULT_MAPPING_FILE = "config/mapping.yaml"
# The same mapping, shipped with the package: used when the default file is not in the folder.
PACKAGED_MAPPING_FILE = str(files("mappings") / "default_mapping.yaml")
BASIC_PLAN_QUOTA = 1000
LONGEST_DURATION = timedelta(days=36500)  # no setting means more than a century
CRON_HORIZON = timedelta(days=366)  # the reconcile crontab must fire within a year
_Read = TypeVar("_Read", bound=BaseSettings)


def parse_duration(value: object) -> timedelta:
    """Read `90`, `90s`, `65m`, `1h` or `7d` as a duration (at most a century)."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if match is None:
            raise ValueError("expected seconds or a number with a unit s, m, h or d (e.g. 65m)")
        seconds = float(match[1]) * _UNIT_SECONDS[match[2]]
    if not math.isfinite(seconds) or seconds > LONGEST_DURATION.total_seconds():
        raise ValueError(f"expected a duration of at most {show_duration(LONGEST_DURATION)}")
    return timedelta(seconds=seconds)


def show_duration(value: timedelta) -> str:
    """A duration in the settings' own syntax, in the largest unit that divides it (`90s`, `1d`)."""
    seconds = value.total_seconds()
    for unit in ("d", "h", "m"):
        if seconds and seconds % _UNIT_SECONDS[unit] == 0:
            return f"{int(seconds // _UNIT_SECONDS[unit])}{unit}"
    return f"{seconds:g}s"


def duration_within(low: timedelta, high: timedelta) -> AfterValidator:
    """A validator of durations from `low` to `high`, both included, that names both bounds."""

    def check(value: timedelta) -> timedelta:
        if not low <= value <= high:
            raise ValueError(
                f"expected a duration from {show_duration(low)} to {show_duration(high)}"
            )
        return value

    return AfterValidator(check)


def parse_time_of_day(value: object) -> time:
    """Read `HH:MM` (24-hour clock)."""
    if isinstance(value, time):
        return value
    match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*", str(value))
    if match is None or int(match[1]) > 23 or int(match[2]) > 59:
        raise ValueError("expected a time of day as HH:MM, e.g. 06:00")
    return time(int(match[1]), int(match[2]))


def parse_timezone(value: object) -> ZoneInfo:
    """Read an IANA timezone name such as `Australia/Sydney`."""
    if isinstance(value, ZoneInfo):
        return value
    try:
        return ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError("expected an IANA timezone name such as Australia/Sydney") from exc


@dataclass(frozen=True)
class Bind:
    """A `host:port` to listen on."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def parse_bind(value: object) -> Bind:
    """Read `host:port` (IPv6 hosts in brackets)."""
    if isinstance(value, Bind):
        return value
    match = re.fullmatch(r"\s*(\[[0-9a-fA-F:]+\]|[^:\s]+):(\d{1,5})\s*", str(value))
    if match is None or not 0 < int(match[2]) < 65536:
        raise ValueError("expected host:port, e.g. 127.0.0.1:9100")
    return Bind(match[1].strip("[]"), int(match[2]))


def _check_cron(value: str) -> str:
    """A crontab line that fires within `CRON_HORIZON` from now."""
    try:
        trigger = CronTrigger.from_crontab(value, timezone=UTC)
    except ValueError as exc:
        raise ValueError(f"expected a crontab line such as '0 3 * * sun' ({exc})") from exc
    now = datetime.now(UTC)
    fires = trigger.get_next_fire_time(None, now)
    if fires is None or fires - now > CRON_HORIZON:
        raise ValueError(
            "this crontab line does not fire within a year; expected one such as '0 3 * * sun'"
        )
    return value


def parse_addresses(value: object) -> tuple[str, ...]:
    """Read comma-separated e-mail addresses (each `local@domain`, no display names)."""
    if isinstance(value, tuple | list):
        parts = [str(part) for part in value]
    else:
        parts = str(value).split(",")
    addresses = tuple(part.strip() for part in parts if part.strip())
    for address in addresses:
        if not re.fullmatch(r"[^@\s,<>]+@[^@\s,<>]+\.[^@\s,<>]+", address):
            raise ValueError(
                f"expected e-mail addresses separated by commas; {address!r} is not one"
            )
    return addresses


def _smtp_url(value: SecretStr | None) -> SecretStr | None:
    """`smtp://[user:password@]host[:port]` or `smtps://…` (the value is never echoed)."""
    if value is None:
        return None
    expected = "expected smtp://[user:password@]host[:port] or smtps://…"
    try:
        parts = urlsplit(value.get_secret_value())
    except ValueError as exc:
        raise ValueError(expected) from exc
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError(expected)
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError("the port must be from 1 to 65535") from exc
    if port == 0:
        raise ValueError("the port must be from 1 to 65535")
    return value


def web_url_problem(text: str) -> str | None:
    """Why `text` is not an http(s) URL a client can call (None when it is)."""
    expected = "expected an http(s) URL such as https://connector.example/path"
    if not re.fullmatch(r"https?://[^/\s]+\S*", text):
        return expected
    try:
        url = httpx.URL(text)
        port = url.port
    except (httpx.InvalidURL, ValueError):
        return expected
    if not url.host:
        return expected
    if port is not None and not 0 < port < 65536:
        return "the port must be from 1 to 65535"
    return None


def _web_url(value: SecretStr | None) -> SecretStr | None:
    """An http(s) URL with a host (the value is never echoed)."""
    problem = None if value is None else web_url_problem(value.get_secret_value())
    if problem is not None:
        raise ValueError(problem)
    return value


def _lower(value: object) -> object:
    """Names such as log levels are read in any case (`INFO`, `info`)."""
    return value.lower() if isinstance(value, str) else value


Duration = Annotated[
    timedelta,
    NoDecode,
    BeforeValidator(parse_duration),
    PlainSerializer(lambda d: f"{int(d.total_seconds())}s", return_type=str),
]
PollInterval = Annotated[Duration, duration_within(timedelta(seconds=10), timedelta(days=1))]
PollOverlap = Annotated[Duration, duration_within(timedelta(0), timedelta(days=1))]
SnapshotAge = Annotated[Duration, duration_within(timedelta(0), timedelta(days=1))]
WebhookCoalesce = Annotated[Duration, duration_within(timedelta(0), timedelta(seconds=60))]
Retention = Annotated[Duration, duration_within(timedelta(days=1), timedelta(days=3660))]
TimeOfDay = Annotated[time, NoDecode, BeforeValidator(parse_time_of_day)]
Timezone = Annotated[ZoneInfo, NoDecode, BeforeValidator(parse_timezone)]
BindAddress = Annotated[Bind, NoDecode, BeforeValidator(parse_bind)]
Crontab = Annotated[str, AfterValidator(_check_cron)]
Addresses = Annotated[tuple[str, ...], NoDecode, BeforeValidator(parse_addresses)]
SmtpUrl = Annotated[SecretStr | None, AfterValidator(_smtp_url)]
WebhookUrl = Annotated[SecretStr | None, AfterValidator(_web_url)]


class Settings(BaseSettings):
    """Every setting of the connector; names match design.md §6 without the prefix."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,
        extra="ignore",
        frozen=True,
        arbitrary_types_allowed=True,
    )

    wisenet_base_url: str = "https://api.wisenet.co/v1"
    wisenet_api_key: SecretStr | None = None
    wisenet_account_number: str | None = None
    wisenet_rate_limit: float = Field(default=8.0, ge=0.1, le=10, allow_inf_nan=False)
    wisenet_daily_quota: int = Field(default=1000, ge=100, le=10_000_000)
    wisenet_quota_reset: TimeOfDay = time(0, 0)
    wisenet_timeout: float = Field(default=30.0, ge=1, le=300, allow_inf_nan=False)
    timezone: Timezone = ZoneInfo("Australia/Sydney")
    holidays: str = "AU"  # whose public holidays business days skip: AU, AU-NSW, …
    database_url: str = "sqlite+aiosqlite:///var/connector.db"
    mapping_file: str = DEFAULT_MAPPING_FILE
    dry_run: bool = False
    poll_interval: PollInterval | None = None
    poll_overlap: PollOverlap = timedelta(minutes=65)
    sweep_at: TimeOfDay = time(6, 0)
    reconcile_cron: Crontab = "0 3 * * sun"
    write_max_snapshot_age: SnapshotAge = timedelta(minutes=10)
    webhook_signature: SignatureMode = "standard-webhooks"
    webhook_secret: SecretStr | None = None
    webhook_header: str | None = None
    webhook_encoding: Literal["hex", "base64"] = "hex"
    webhook_prefix: str = ""
    webhook_max_bytes: int = Field(default=65536, ge=1024, le=10 * 1024 * 1024)
    dev_mode: bool = False
    http_bind: BindAddress = Bind("0.0.0.0", 8080)  # noqa: S104 - the webhook receiver listens publicly
    admin_bind: BindAddress = Bind("127.0.0.1", 9100)
    report_token: SecretStr | None = None
    log_format: LogFormat | None = None
    log_level: Annotated[LogLevel | None, BeforeValidator(_lower)] = None
    # Long enough for a staff burst's deliveries (a finalised class, a batch of certificates) to
    # land in one drain; short enough that a lone edit reaches its tags within seconds.
    webhook_coalesce: WebhookCoalesce = timedelta(seconds=3)
    report_url: str | None = None  # where people open the report; the digest links to it
    digest_smtp_url: SmtpUrl = None
    digest_from: str | None = None
    digest_to: Addresses = ()
    digest_webhook_url: WebhookUrl = None
    digest_by_owner: bool = False  # add open work by owner (coordinator, else trainer)
    retention: Retention = timedelta(days=400)

    @field_validator("wisenet_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        expected = "expected an http(s) URL such as https://api.wisenet.co/v1"
        if not re.match(r"^https?://[^/\s]+\S*$", value):
            raise ValueError(expected)
        try:
            port = httpx.URL(value).port
        except httpx.InvalidURL as exc:
            raise ValueError(expected) from exc
        if port is not None and not 0 < port < 65536:
            raise ValueError("the port must be from 1 to 65535")
        return value.rstrip("/")

    @field_validator("holidays")
    @classmethod
    def _holidays(cls, value: str) -> str:
        try:
            return business_calendar(value).region
        except UnknownRegionError as exc:
            raise ValueError(str(exc)) from exc

    def business_calendar(self) -> BusinessCalendar:
        """The business days rules count: weekends and the region's public holidays off."""
        return business_calendar(self.holidays)

    @field_validator("report_url")
    @classmethod
    def _report_url(cls, value: str | None) -> str | None:
        problem = None if value is None else web_url_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("digest_from")
    @classmethod
    def _sender(cls, value: str | None) -> str | None:
        if value is None:
            return None
        found = parse_addresses(value)
        if len(found) != 1:
            raise ValueError("expected one e-mail address, e.g. connector@rto.example")
        return found[0]

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        expected = "expected sqlite+aiosqlite:///PATH or postgresql+asyncpg://USER@HOST/DB"
        if not re.match(r"^(sqlite\+aiosqlite|postgresql\+asyncpg)://", value):
            raise ValueError(expected)
        try:
            url = make_url(value)
        except (ArgumentError, ValueError) as exc:
            raise ValueError(f"not a valid URL; {expected}") from exc
        if url.port is not None and not 0 < url.port < 65536:
            raise ValueError("the port must be from 1 to 65535")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _strong_secret(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        mode = info.data.get("webhook_signature")
        if value is None or mode in (None, "none"):
            return value
        weakness = secret_weakness(mode, value.get_secret_value())
        if weakness is not None:
            raise ValueError(weakness)
        return value

    @model_validator(mode="before")
    @classmethod
    def _packaged_mapping_unless_set(cls, data: Any) -> Any:
        """Outside a folder with config/mapping.yaml, the default is the packaged mapping.

        A mapping file that is set explicitly is used as set (missing, it is an error later).
        """
        unset = isinstance(data, dict) and not data.get("mapping_file")
        if unset and not Path(DEFAULT_MAPPING_FILE).exists():
            return {**data, "mapping_file": PACKAGED_MAPPING_FILE}
        return data

    @model_validator(mode="after")
    def _mail_needs_sender_and_recipients(self) -> Settings:
        if self.digest_smtp_url is not None and not (self.digest_from and self.digest_to):
            raise ValueError(
                f"{ENV_PREFIX}DIGEST_SMTP_URL is set: {ENV_PREFIX}DIGEST_FROM and "
                f"{ENV_PREFIX}DIGEST_TO must be set too"
            )
        for name, value in (("DIGEST_TO", self.digest_to), ("DIGEST_FROM", self.digest_from)):
            if self.digest_smtp_url is None and value:
                raise ValueError(
                    f"{ENV_PREFIX}{name} is set but {ENV_PREFIX}DIGEST_SMTP_URL is not: "
                    "the digest cannot be mailed"
                )
        return self

    @model_validator(mode="after")
    def _none_only_in_dev(self) -> Settings:
        if self.webhook_signature == "none" and not self.dev_mode:
            raise ValueError(
                f"{ENV_PREFIX}WEBHOOK_SIGNATURE: 'none' is allowed only with "
                f"{ENV_PREFIX}DEV_MODE=true"
            )
        return self

    @property
    def effective_poll_interval(self) -> timedelta:
        """The poll interval: the setting, else hourly on the Basic plan, 10 minutes above it."""
        if self.poll_interval is not None:
            return self.poll_interval
        if self.wisenet_daily_quota <= BASIC_PLAN_QUOTA:
            return timedelta(hours=1)
        return timedelta(minutes=10)

    def require_api_key(self) -> str:
        """Return the API key, or stop with a clear message when it is not set."""
        if self.wisenet_api_key is None or not self.wisenet_api_key.get_secret_value():
            raise ConfigurationError(
                f"{ENV_PREFIX}WISENET_API_KEY is not set; every command that calls Wisenet needs "
                "it (create a key under LRM settings in Wisenet)"
            )
        return self.wisenet_api_key.get_secret_value()

    def webhook_verifier(self) -> VerifierConfig:
        """How the receiver checks deliveries; stops when the mode needs a secret and has none."""
        secret = self.webhook_secret.get_secret_value() if self.webhook_secret else None
        if self.webhook_signature != "none" and not secret:
            raise ConfigurationError(
                f"{ENV_PREFIX}WEBHOOK_SECRET is not set; the receiver's signature mode "
                f"'{self.webhook_signature}' needs the secret configured for the endpoint in "
                "Wisenet's Webhooks Connected App"
            )
        return VerifierConfig(
            mode=self.webhook_signature,
            secret=secret,
            header=self.webhook_header,
            encoding=self.webhook_encoding,
            prefix=self.webhook_prefix,
        )


def load_settings(env_file: str | None = ENV_FILE) -> Settings:
    """Read settings from the process environment and `env_file` (the environment wins).

    Raises `ConfigurationError` with one line per bad setting, naming the variable, or naming
    the env file when it cannot be read as UTF-8 text. A `CONNECTOR_*` name that is no setting
    gets one warning line on stderr naming the closest setting, and the command goes on.
    """
    settings = _read(Settings, env_file)
    known = setting_names() + secret_file_names()
    for warning in unknown_settings(known, ENV_PREFIX, os.environ, env_file):
        sys.stderr.write(warning + "\n")
    return settings


class LogSettings(BaseSettings):
    """The settings logging needs, read before any command (whose own settings may be wrong)."""

    model_config = Settings.model_config

    log_format: LogFormat | None = None
    log_level: Annotated[LogLevel | None, BeforeValidator(_lower)] = None


def load_log_settings(env_file: str | None = ENV_FILE) -> LogSettings:
    """Read the logging settings alone, as `load_settings` reads them all."""
    return _read(LogSettings, env_file)


def _read(kind: type[_Read], env_file: str | None) -> _Read:
    secrets = {ENV_PREFIX + f.upper(): f for f in kind.model_fields if f in _UNSHOWN_FIELDS}
    try:
        from_files = secret_files(secrets, os.environ, env_file)
        values: dict[str, Any] = {secrets[name]: value for name, value in from_files.items()}
        return kind(_env_file=env_file, **values)
    except SecretFileError as exc:
        raise ConfigurationError(str(exc)) from exc
    except ValidationError as exc:
        raise ConfigurationError(describe_settings_errors(exc)) from exc
    except SettingsError as exc:
        raise ConfigurationError(f"invalid settings: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigurationError(
            f"{env_file}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset "
            f"{exc.start}); save it as UTF-8"
        ) from exc
    except OSError as exc:
        raise ConfigurationError(f"{env_file}: cannot read ({exc.strerror})") from exc


def describe_settings_errors(exc: ValidationError) -> str:
    """One line per bad setting: the variable, what was expected and (if not secret) the value."""
    lines: dict[str, str] = {}
    for error in exc.errors(include_url=False):
        message = error["msg"].removeprefix("Value error, ")
        if not error["loc"]:  # a rule across settings names its variables itself
            lines.setdefault(message, message)
            continue
        field = str(error["loc"][0])
        shown = ""
        if field not in _UNSHOWN_FIELDS and "input" in error:
            shown = f" (got {error['input']!r})"
        lines.setdefault(field, f"{ENV_PREFIX}{field.upper()}: {message}{shown}")
    return "\n".join(lines.values())


def setting_names() -> list[str]:
    """Return the environment variable of every setting, in declaration order."""
    return [ENV_PREFIX + name.upper() for name in Settings.model_fields]


def secret_file_names() -> list[str]:
    """The `CONNECTOR_<SECRET>_FILE` variables: each names a file holding that secret."""
    return [ENV_PREFIX + name.upper() + FILE_SUFFIX for name in sorted(_UNSHOWN_FIELDS)]
