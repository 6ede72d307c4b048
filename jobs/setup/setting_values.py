"""The kinds of value settings take, each parsed and bounded where it is read.

Durations are plain seconds or carry a unit (`90s`, `65m`, `1h`, `7d`); times of day are `HH:MM`;
binds are `host:port`; the reconcile crontab must fire within a year; mail and chat URLs are
checked before anything is sent to them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Annotated
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from apscheduler.triggers.cron import CronTrigger
from pydantic import (
    AfterValidator,
    BeforeValidator,
    PlainSerializer,
    SecretStr,
)
from pydantic_settings import NoDecode

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
LONGEST_DURATION = timedelta(days=36500)  # no setting means more than a century
CRON_HORIZON = timedelta(days=366)  # the reconcile crontab must fire within a year


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


def lower_case(value: object) -> object:
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
