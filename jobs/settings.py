"""The one settings table (design.md §6): environment variables prefixed `CONNECTOR_`.

Read once, at the composition root, by `load_settings`. A `.env` file in the working directory
is read too; real environment variables win over it. Durations are plain seconds or carry a unit
(`90s`, `65m`, `1h`, `7d`); times of day are `HH:MM` in the account's timezone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger
from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PlainSerializer,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

from connector.errors import ConfigurationError
from connector.webhooks.verify import SignatureMode, VerifierConfig

ENV_PREFIX = "CONNECTOR_"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_SECRET_FIELDS = frozenset({"wisenet_api_key", "webhook_secret", "report_token"})
BASIC_PLAN_QUOTA = 1000


def parse_duration(value: object) -> timedelta:
    """Read `90`, `90s`, `65m`, `1h` or `7d` as a duration."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    match = _DURATION.match(str(value))
    if match is None:
        raise ValueError("expected seconds or a number with a unit s, m, h or d (e.g. 65m)")
    return timedelta(seconds=float(match[1]) * _UNIT_SECONDS[match[2]])


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
    try:
        CronTrigger.from_crontab(value)
    except ValueError as exc:
        raise ValueError(f"expected a crontab line such as '0 3 * * sun' ({exc})") from exc
    return value


Duration = Annotated[
    timedelta,
    NoDecode,
    BeforeValidator(parse_duration),
    PlainSerializer(lambda d: f"{int(d.total_seconds())}s", return_type=str),
]
PositiveDuration = Annotated[Duration, Field(gt=timedelta(0))]
TimeOfDay = Annotated[time, NoDecode, BeforeValidator(parse_time_of_day)]
Timezone = Annotated[ZoneInfo, NoDecode, BeforeValidator(parse_timezone)]
BindAddress = Annotated[Bind, NoDecode, BeforeValidator(parse_bind)]
Crontab = Annotated[str, AfterValidator(_check_cron)]


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
    wisenet_rate_limit: float = Field(default=8.0, gt=0, le=10)
    wisenet_daily_quota: int = Field(default=1000, gt=0)
    wisenet_quota_reset: TimeOfDay = time(0, 0)
    wisenet_timeout: float = Field(default=30.0, gt=0)
    timezone: Timezone = ZoneInfo("Australia/Sydney")
    database_url: str = "sqlite+aiosqlite:///var/connector.db"
    mapping_file: str = "config/mapping.yaml"
    dry_run: bool = False
    poll_interval: PositiveDuration | None = None
    poll_overlap: Duration = timedelta(minutes=65)
    sweep_at: TimeOfDay = time(6, 0)
    reconcile_cron: Crontab = "0 3 * * sun"
    write_max_snapshot_age: Duration = timedelta(minutes=10)
    webhook_signature: SignatureMode = "standard-webhooks"
    webhook_secret: SecretStr | None = None
    webhook_header: str | None = None
    webhook_encoding: Literal["hex", "base64"] = "hex"
    webhook_prefix: str = ""
    webhook_max_bytes: int = Field(default=65536, gt=0)
    dev_mode: bool = False
    http_bind: BindAddress = Bind("0.0.0.0", 8080)  # noqa: S104 - the webhook receiver listens publicly
    admin_bind: BindAddress = Bind("127.0.0.1", 9100)
    report_token: SecretStr | None = None
    log_format: Literal["json", "console"] | None = None
    retention: PositiveDuration = timedelta(days=400)

    @field_validator("wisenet_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("expected an http(s) URL such as https://api.wisenet.co/v1")
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if not re.match(r"^(sqlite\+aiosqlite|postgresql\+asyncpg)://", value):
            raise ValueError(
                "expected sqlite+aiosqlite:///PATH or postgresql+asyncpg://USER@HOST/DB"
            )
        return value

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


def load_settings(env_file: str | None = ".env") -> Settings:
    """Read settings from the process environment and `env_file` (the environment wins).

    Raises `ConfigurationError` with one line per bad setting, naming the variable.
    """
    try:
        return Settings(_env_file=env_file)
    except ValidationError as exc:
        raise ConfigurationError(describe_settings_errors(exc)) from exc
    except SettingsError as exc:
        raise ConfigurationError(f"invalid settings: {exc}") from exc


def describe_settings_errors(exc: ValidationError) -> str:
    """One line per bad setting: the variable, what was expected and (if not secret) the value."""
    lines = ["invalid settings:"]
    for error in exc.errors(include_url=False):
        message = error["msg"].removeprefix("Value error, ")
        if not error["loc"]:  # a rule across settings names its variables itself
            lines.append(f"  {message}")
            continue
        field = str(error["loc"][0])
        shown = ""
        if field not in _SECRET_FIELDS and "input" in error:
            shown = f" (got {error['input']!r})"
        lines.append(f"  {ENV_PREFIX}{field.upper()}: {message}{shown}")
    return "\n".join(lines)


def setting_names() -> list[str]:
    """Return the environment variable of every setting, in declaration order."""
    return [ENV_PREFIX + name.upper() for name in Settings.model_fields]
