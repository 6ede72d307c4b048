"""The one settings table (design.md §6): environment variables prefixed `CONNECTOR_`.

Read once per process (`jobs.setup.runtime`), by `load_settings`. A `.env` file in the working
directory is read too (UTF-8); real environment variables win over it. Durations are plain
seconds or carry a unit (`90s`, `65m`, `1h`, `7d`); times of day are `HH:MM` in the account's
timezone (`jobs.setup.setting_values`).

Every number and duration has bounds that make sense for it, checked here where it is parsed
(`config/.env.example` lists them): a value outside them stops the program with one line naming
the setting, never a traceback later. The reconcile crontab must fire within a year, the store's
URL must parse, and a webhook secret must be strong enough for its signature mode.

A `CONNECTOR_*` name that is no setting (a misspelt one, most likely) is warned about on stderr
with the closest setting (`jobs.setup.setting_sources`). The mapping file defaults to
`config/mapping.yaml`, or to the packaged copy of it outside a folder that has one.
"""

from __future__ import annotations

import os
import re
import sys
from datetime import time, timedelta
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from zoneinfo import ZoneInfo

import httpx
from pydantic import (
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from connector.errors import ConfigurationError
from connector.public_holidays import UnknownRegionError, business_calendar
from connector.webhooks.verify import SignatureMode, VerifierConfig, secret_weakness
from jobs.setup.logging import LogFormat, LogLevel
from jobs.setup.setting_sources import FILE_SUFFIX, SecretFileError, secret_files, unknown_settings
from jobs.setup.setting_values import (
    Addresses,
    Bind,
    BindAddress,
    Crontab,
    PollInterval,
    PollOverlap,
    Retention,
    SmtpUrl,
    SnapshotAge,
    TimeOfDay,
    Timezone,
    WebhookCoalesce,
    WebhookUrl,
    lower_case,
    parse_addresses,
    web_url_problem,
)
from mappings.calendar import BusinessCalendar

ENV_PREFIX = "CONNECTOR_"
ENV_FILE = ".env"
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
_Read = TypeVar("_Read", bound=BaseSettings)


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
    log_level: Annotated[LogLevel | None, BeforeValidator(lower_case)] = None
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
    log_level: Annotated[LogLevel | None, BeforeValidator(lower_case)] = None


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
