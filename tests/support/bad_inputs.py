"""Bad settings and bad arguments as a person meets them, for the CLI error tests.

Each case ends with the documented exit code and exactly one line on stderr naming the setting,
file or argument: no traceback, and no password or secret echoed. `tests/integration` runs every
case through `main`; `tests/e2e` runs some of them as the real `connector` process.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.databases import PG_HOST, PG_USER

ROOT = Path(__file__).resolve().parents[2]
MAPPING = ROOT / "config" / "mapping.yaml"
BUNDLE = ROOT / "config" / "mapping-cases" / "sample-learner-10452.json"
HOSTILE = ROOT / "tests" / "fixtures" / "hostile_bundles"
PASSWORD = "pw-never-shown-7f3a"
EXIT_FAILED, EXIT_CONFIGURATION = 1, 2
HUGE_ID = "99999999999999999999"
NOBODY = 1  # a privileged port no test server listens on: connections are refused


@dataclass(frozen=True)
class Case:
    """A command line, its settings, and the one line it must end with."""

    argv: tuple[str, ...]
    exit_code: int
    names: str
    settings: dict[str, str] = field(default_factory=dict)
    env_file: bytes | None = None
    secret: str = PASSWORD


def prepare(case: Case, folder: Path) -> dict[str, str]:
    """Write the case's `.env` into `folder`; return its settings as environment variables."""
    if case.env_file is not None:
        (folder / ".env").write_bytes(case.env_file)
    settings = {"MAPPING_FILE": str(MAPPING), "LOG_FORMAT": "json", **case.settings}
    return {f"CONNECTOR_{name}": value for name, value in settings.items()}


def assert_one_named_line(exit_code: int, out: str, err: str, case: Case) -> None:
    """The exit code, one line on stderr naming what is wrong, no traceback, no secret."""
    everything = out + err
    assert exit_code == case.exit_code, everything
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert case.names in lines[0]
    assert "Traceback" not in everything
    assert case.secret not in everything


def url(host: str, port: int | str, database: str = "connector") -> str:
    """A PostgreSQL store URL with a password that must never be shown."""
    return f"postgresql+asyncpg://{PG_USER}:{PASSWORD}@{host}:{port}/{database}"


def whsec(key: bytes) -> str:
    """A Standard Webhooks secret for `key`."""
    return "whsec_" + base64.b64encode(key).decode()


SETTINGS_CASES = {
    "postgresql unreachable": Case(
        ("status",), EXIT_FAILED, "CONNECTOR_DATABASE_URL", {"DATABASE_URL": url(PG_HOST, NOBODY)}
    ),
    "postgresql unreachable, db upgrade": Case(
        ("db", "upgrade"),
        EXIT_FAILED,
        "CONNECTOR_DATABASE_URL",
        {"DATABASE_URL": url(PG_HOST, NOBODY)},
    ),
    "unknown host": Case(
        ("status",),
        EXIT_FAILED,
        "CONNECTOR_DATABASE_URL",
        {"DATABASE_URL": url("no-such-host.invalid", 5432)},
    ),
    "port 99999": Case(
        ("status",),
        EXIT_CONFIGURATION,
        "CONNECTOR_DATABASE_URL",
        {"DATABASE_URL": url(PG_HOST, 99999)},
    ),
    "malformed url": Case(
        ("status",),
        EXIT_CONFIGURATION,
        "CONNECTOR_DATABASE_URL",
        {"DATABASE_URL": url(PG_HOST, "x")},
    ),
    "database that does not exist": Case(
        ("status",),
        EXIT_CONFIGURATION,
        "CONNECTOR_DATABASE_URL",
        {"DATABASE_URL": url(PG_HOST, 5432, "connector_no_such_database")},
    ),
    "sqlite file that cannot be created": Case(
        ("status",),
        EXIT_CONFIGURATION,
        "CONNECTOR_DATABASE_URL",
        {"DATABASE_URL": "sqlite+aiosqlite:////proc/connector.db"},
    ),
    "malformed Wisenet URL": Case(
        ("check",),
        EXIT_CONFIGURATION,
        "CONNECTOR_WISENET_BASE_URL",
        {"WISENET_BASE_URL": "http://[::1", "WISENET_API_KEY": PASSWORD},
    ),
    "99999999999-day duration": Case(
        ("status",), EXIT_CONFIGURATION, "CONNECTOR_RETENTION", {"RETENTION": "99999999999d"}
    ),
    "non-UTF-8 .env": Case(
        ("status",), EXIT_CONFIGURATION, ".env", env_file=b"CONNECTOR_SWEEP_AT=06:00 \xff\n"
    ),
    "poll interval of a millisecond": Case(
        ("status",), EXIT_CONFIGURATION, "CONNECTOR_POLL_INTERVAL", {"POLL_INTERVAL": "0.001s"}
    ),
    "crontab that never fires": Case(
        ("status",),
        EXIT_CONFIGURATION,
        "CONNECTOR_RECONCILE_CRON",
        {"RECONCILE_CRON": "0 3 30 2 *"},
    ),
    "infinite timeout": Case(
        ("status",), EXIT_CONFIGURATION, "CONNECTOR_WISENET_TIMEOUT", {"WISENET_TIMEOUT": "inf"}
    ),
    "run with whsec_ alone": Case(
        ("run",),
        EXIT_CONFIGURATION,
        "CONNECTOR_WEBHOOK_SECRET",
        {"WEBHOOK_SECRET": "whsec_"},
        secret="'whsec_'",  # nothing to hide in it, but not echoed as the value either
    ),
    "run with a short whsec_ secret": Case(
        ("run",),
        EXIT_CONFIGURATION,
        "CONNECTOR_WEBHOOK_SECRET",
        {"WEBHOOK_SECRET": whsec(b"short-key-15byt")},
        secret=whsec(b"short-key-15byt"),
    ),
    "run with a short hmac-sha256 secret": Case(
        ("run",),
        EXIT_CONFIGURATION,
        "CONNECTOR_WEBHOOK_SECRET",
        {"WEBHOOK_SIGNATURE": "hmac-sha256", "WEBHOOK_SECRET": "hmac-key-15byte"},
        secret="hmac-key-15byte",
    ),
    "run with a short shared token": Case(
        ("run",),
        EXIT_CONFIGURATION,
        "CONNECTOR_WEBHOOK_SECRET",
        {"WEBHOOK_SIGNATURE": "shared-token", "WEBHOOK_SECRET": "token-15-bytes!"},
        secret="token-15-bytes!",
    ),
}

ARGUMENT_CASES = {
    "deadletters replay beyond 64 bits": Case(
        ("deadletters", "replay", HUGE_ID), EXIT_CONFIGURATION, "'[IDS]...'"
    ),
    "deadletters discard beyond 64 bits": Case(
        ("deadletters", "discard", "1", HUGE_ID), EXIT_CONFIGURATION, "'[IDS]...'"
    ),
    "deadletters replay of id 0": Case(
        ("deadletters", "replay", "0"), EXIT_CONFIGURATION, "'[IDS]...'"
    ),
    "explain beyond 64 bits": Case(("explain", HUGE_ID), EXIT_CONFIGURATION, "'[LEARNER_ID]'"),
    "sweep as of year 1": Case(("sweep", "--as-of", "0001-01-01"), EXIT_CONFIGURATION, "'--as-of'"),
    "explain as of year 1": Case(
        ("explain", "--bundle", str(BUNDLE), "--as-of", "0001-01-01"),
        EXIT_CONFIGURATION,
        "'--as-of'",
    ),
    "explain as of year 9999": Case(
        ("explain", "--bundle", str(BUNDLE), "--as-of", "9999-12-31"),
        EXIT_CONFIGURATION,
        "'--as-of'",
    ),
    "mapping preview as of year 1": Case(
        ("mapping", "preview", str(MAPPING), "--as-of", "0001-01-01"),
        EXIT_CONFIGURATION,
        "'--as-of'",
    ),
    "sandbox today in year 1": Case(
        ("sandbox", "--today", "0001-01-01"), EXIT_CONFIGURATION, "'--today'"
    ),
    "healthcheck waiting for ever": Case(
        ("healthcheck", "--timeout", "inf"), EXIT_CONFIGURATION, "'--timeout'"
    ),
    "report into a missing folder": Case(
        ("report", "--html", "missing/report.html"), EXIT_CONFIGURATION, "'--html'"
    ),
    "mapping preview into a missing folder": Case(
        ("mapping", "preview", str(MAPPING), "--html", "missing/preview.html"),
        EXIT_CONFIGURATION,
        "'--html'",
    ),
    "explain a bundle from /dev/zero": Case(
        ("explain", "--bundle", "/dev/zero"), EXIT_CONFIGURATION, "/dev/zero"
    ),
    "healthcheck with a timeout of nan": Case(
        ("healthcheck", "--timeout", "nan"), EXIT_CONFIGURATION, "'--timeout'"
    ),
    "explain a JSON bundle nested past the stack": Case(
        ("explain", "--bundle", str(HOSTILE / "deep.json")), EXIT_CONFIGURATION, "deep.json"
    ),
    "explain a deeply nested YAML bundle": Case(
        ("explain", "--bundle", str(HOSTILE / "deep.yaml")), EXIT_CONFIGURATION, "deep.yaml:"
    ),
    "explain a YAML bundle of aliases": Case(
        ("explain", "--bundle", str(HOSTILE / "aliases.yaml")), EXIT_CONFIGURATION, "aliases"
    ),
}
