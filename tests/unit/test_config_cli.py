"""Unknown settings are named with the closest one; `connector config` shows where each came from.

Also: the default mapping ships with the package, identical to the admins' config/mapping.yaml.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from jobs.cli.main import EXIT_CONFIGURATION, EXIT_OK, main
from jobs.setup.setting_sources import masked_url
from jobs.setup.settings import (
    DEFAULT_MAPPING_FILE,
    PACKAGED_MAPPING_FILE,
    load_settings,
    setting_names,
)

ROOT = Path(__file__).resolve().parents[2]
API_KEY = "key-7c1f0a9e5b"
WEBHOOK_SECRET = "whsec-3e8d2b6a4f9c1e7d"
REPORT_TOKEN = "token-5a2c9e1b7d"
DB_PASSWORD = "pw-8b3e6d1f"
SMTP_PASSWORD = "smtp-4d9a2c7e"


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working folder and no CONNECTOR_* variable in the environment."""
    for name in [name for name in os.environ if name.startswith("CONNECTOR_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_misspelt_setting_is_named_with_the_closest_one_and_the_command_goes_on(
    folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """One warning line per unknown name, from the environment or .env; exit as without it."""
    monkeypatch.setenv("CONNECTOR_WISENET_APIKEY", "x")
    (folder / ".env").write_text("CONNECTOR_POLL_INTRVAL=90\nOTHER_TOOL_SETTING=1\n")
    assert main(["config"]) == EXIT_OK
    warnings = [line for line in capsys.readouterr().err.splitlines() if line]
    assert warnings == [
        "warning: unknown setting CONNECTOR_POLL_INTRVAL; did you mean CONNECTOR_POLL_INTERVAL?",
        "warning: unknown setting CONNECTOR_WISENET_APIKEY; "
        "did you mean CONNECTOR_WISENET_API_KEY?",
    ]
    assert main(["check"]) == EXIT_CONFIGURATION  # the key is still not set, and now you know why
    err = capsys.readouterr().err
    assert "did you mean CONNECTOR_WISENET_API_KEY?" in err
    assert "CONNECTOR_WISENET_API_KEY is not set" in err


def test_a_setting_missing_its_prefix_is_named_with_the_setting_it_ends(
    folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`CONNECTOR_TIMEOUT` means WISENET_TIMEOUT, not the closer spelling TIMEZONE."""
    monkeypatch.setenv("CONNECTOR_TIMEOUT", "60")
    monkeypatch.setenv("CONNECTOR_RATE_LIMIT", "5")
    assert main(["config"]) == EXIT_OK
    assert [line for line in capsys.readouterr().err.splitlines() if line] == [
        "warning: unknown setting CONNECTOR_RATE_LIMIT; did you mean CONNECTOR_WISENET_RATE_LIMIT?",
        "warning: unknown setting CONNECTOR_TIMEOUT; did you mean CONNECTOR_WISENET_TIMEOUT?",
    ]


def test_config_masks_every_secret_and_names_each_source(
    folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Secrets and passwords never appear; environment, .env and default are told apart."""
    monkeypatch.setenv("CONNECTOR_WISENET_API_KEY", API_KEY)
    monkeypatch.setenv(
        "CONNECTOR_DATABASE_URL",
        f"postgresql+asyncpg://connector:{DB_PASSWORD}@db.internal:5432/connector",
    )
    (folder / ".env").write_text(
        f"CONNECTOR_WEBHOOK_SECRET={WEBHOOK_SECRET}\nCONNECTOR_REPORT_TOKEN={REPORT_TOKEN}\n"
        "CONNECTOR_SWEEP_AT=07:30\n"
    )
    assert main(["config"]) == EXIT_OK
    text = capsys.readouterr()
    assert main(["config", "--json"]) == EXIT_OK
    shown = json.loads(capsys.readouterr().out)
    for secret in (API_KEY, WEBHOOK_SECRET, REPORT_TOKEN, DB_PASSWORD):
        assert secret not in text.out + text.err + json.dumps(shown)

    lines = {line.split()[0]: line for line in text.out.splitlines()}
    assert lines["CONNECTOR_WISENET_API_KEY"].split()[1:] == ["********", "(environment)"]
    assert lines["CONNECTOR_WEBHOOK_SECRET"].split()[1:] == ["********", "(.env)"]
    assert lines["CONNECTOR_SWEEP_AT"].split()[1:] == ["07:30", "(.env)"]
    assert lines["CONNECTOR_POLL_OVERLAP"].split()[1:] == ["65m", "(default)"]
    assert shown["CONNECTOR_DATABASE_URL"] == {
        "value": "postgresql+asyncpg://connector:********@db.internal:5432/connector",
        "source": "environment",
    }
    assert shown["CONNECTOR_REPORT_TOKEN"] == {"value": "********", "source": ".env"}
    assert shown["CONNECTOR_WISENET_ACCOUNT_NUMBER"] == {"value": "(not set)", "source": "default"}
    assert len(shown) == len(lines) == len(setting_names())


def test_the_packaged_mapping_is_the_config_one_and_the_default_outside_a_checkout(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One source of truth; no config/ here → the packaged copy; a file set must exist."""
    packaged = Path(PACKAGED_MAPPING_FILE)
    assert packaged.read_bytes() == (ROOT / DEFAULT_MAPPING_FILE).read_bytes()
    assert load_settings().mapping_file == PACKAGED_MAPPING_FILE
    (folder / "config").mkdir()
    (folder / DEFAULT_MAPPING_FILE).write_text("version: 1\n")
    assert load_settings().mapping_file == DEFAULT_MAPPING_FILE
    (folder / DEFAULT_MAPPING_FILE).unlink()
    monkeypatch.setenv("CONNECTOR_MAPPING_FILE", DEFAULT_MAPPING_FILE)
    assert load_settings().mapping_file == DEFAULT_MAPPING_FILE  # set, so not replaced


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"smtp://mailer:{SMTP_PASSWORD}@mail:25", "smtp://mailer:********@mail:25"),
        (
            f"postgresql+asyncpg://u@[::1]:5432/c?password={DB_PASSWORD}&ssl=require",
            "postgresql+asyncpg://u@[::1]:5432/c?password=********&ssl=require",
        ),
        ("sqlite+aiosqlite:///var/connector.db", "sqlite+aiosqlite:///var/connector.db"),
        ("http://[::1", "********"),
    ],
)
def test_urls_are_shown_without_passwords(url: str, shown: str) -> None:
    """A password in the user part or the query is hidden; an unparsable URL is hidden whole."""
    assert masked_url(url) == shown
