"""`connector config`: the effective settings, where each came from, secrets hidden."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import click
from pydantic import SecretStr

from jobs.setup.runtime import Runtime
from jobs.setup.setting_sources import HIDDEN, masked_url, source_of
from jobs.setup.setting_values import show_duration
from jobs.setup.settings import (
    DEFAULT_MAPPING_FILE,
    ENV_FILE,
    ENV_PREFIX,
    PACKAGED_MAPPING_FILE,
    Settings,
)

_SHOWN_AS: tuple[tuple[type, Callable[[Any], str]], ...] = (
    (SecretStr, lambda secret: HIDDEN if secret.get_secret_value() else "(not set)"),
    (bool, lambda flag: "true" if flag else "false"),
    (timedelta, show_duration),
    (time, lambda moment: moment.strftime("%H:%M")),
    (ZoneInfo, lambda zone: zone.key),
    (tuple, lambda values: ", ".join(map(str, values)) or "(not set)"),
)


def shown_value(value: object) -> str:
    """A setting's value as the settings table writes it, secrets and passwords hidden."""
    if value is None:
        return "(not set)"
    for kind, show in _SHOWN_AS:
        if isinstance(value, kind):
            return show(value)
    text = str(value)
    if not text:
        return "(empty)"
    return masked_url(text) if "://" in text else text


def effective_settings(settings: Settings) -> dict[str, dict[str, Any]]:
    """Every setting by its variable: the value to show and where it came from."""
    found: dict[str, dict[str, Any]] = {}
    for field in Settings.model_fields:
        name = ENV_PREFIX + field.upper()
        value = getattr(settings, field)
        source: str = source_of(name, os.environ, ENV_FILE)
        if field == "mapping_file" and source == "default" and value == PACKAGED_MAPPING_FILE:
            source = f"default (the packaged copy: no {DEFAULT_MAPPING_FILE} here)"
        found[name] = {"value": shown_value(value), "source": source}
    return found


@click.command("config")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def config(runtime: Runtime, as_json: bool) -> None:
    """Print the effective settings and where each came from (default, environment, .env, file)."""
    found = effective_settings(runtime.settings)
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    width = max(len(name) for name in found)
    for name, shown in found.items():
        click.echo(f"{name:<{width}}  {shown['value']}  ({shown['source']})")
