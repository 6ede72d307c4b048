"""The compose file: PostgreSQL, a migration step before the service, settings that exist."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from jobs.setup.settings import setting_names

ROOT = Path(__file__).parents[2]


def compose() -> dict[str, Any]:
    """docker-compose.yml, parsed (anchors and merge keys resolved)."""
    loaded: dict[str, Any] = YAML(typ="safe").load((ROOT / "docker-compose.yml").read_text())
    return loaded


def test_the_service_starts_after_the_migration_which_waits_for_postgresql() -> None:
    """Postgres (healthy) → migrate (`db upgrade`, done) → connector (`run`)."""
    services = compose()["services"]
    assert set(services) == {"postgres", "migrate", "connector"}
    assert services["postgres"]["image"].startswith("postgres:")
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"]
    assert services["migrate"]["command"] == ["db", "upgrade"]
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert services["connector"]["command"] == ["run"]
    assert services["connector"]["depends_on"] == {
        "migrate": {"condition": "service_completed_successfully"}
    }
    assert services["migrate"]["build"] == services["connector"]["build"] == "."


def test_both_connector_steps_use_the_same_postgresql_database() -> None:
    """The migration and the service point at the compose PostgreSQL, with asyncpg."""
    services = compose()["services"]
    urls = {
        services[name]["environment"]["CONNECTOR_DATABASE_URL"] for name in ("migrate", "connector")
    }
    assert len(urls) == 1
    (url,) = urls
    assert re.fullmatch(
        r"postgresql\+asyncpg://connector:\$\{POSTGRES_PASSWORD:\?[^}]+\}@postgres:5432/connector",
        url,
    )
    assert services["postgres"]["environment"]["POSTGRES_DB"] == "connector"


def test_only_real_settings_are_set_and_admin_stays_local() -> None:
    """Every CONNECTOR_* name exists; the admin port is published on loopback only."""
    known = set(setting_names())
    for service in compose()["services"].values():
        for name in service.get("environment", {}):
            if name.startswith("CONNECTOR_"):
                assert name in known, name
    ports = compose()["services"]["connector"]["ports"]
    assert "8080:8080" in ports
    assert "127.0.0.1:9100:9100" in ports
