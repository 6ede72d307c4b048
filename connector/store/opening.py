"""Failures to open the store, translated into the error tree where the store is opened.

While connecting, the drivers raise what they like: `OSError`s (refused, unknown host, timed
out), SQLAlchemy errors wrapping the server's refusal (no such database, wrong password), and
`ValueError` or `OverflowError` for a URL they cannot use. `store_opening(url)` turns each into
one line naming `CONNECTOR_DATABASE_URL` with the URL shown without its password:

- a database that does not answer, or not yet, is a `StoreUnavailableError` (exit 1: retry);
- a database that answers and refuses, or a URL no driver can use, is a `ConfigurationError`
  (exit 2: fix the setting).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from connector.errors import ConfigurationError, ConnectorError, StoreUnavailableError

DATABASE_SETTING = "CONNECTOR_DATABASE_URL"
# Server answers that mean "not now" rather than "never": starting up, full, connection lost.
_NOT_NOW = (
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.InsufficientResourcesError,
    asyncpg.InterfaceError,
)


def shown_url(url: str) -> str:
    """The URL as it may be shown to a person: the password masked."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "an unparsable URL"


def where(url: str) -> str:
    """The setting and its value without the password, to start an error line with."""
    return f"{DATABASE_SETTING} ({shown_url(url)})"


def missing_store(url: str, detail: str) -> str:
    """The line for a store that is not there, with what to do about it."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return f"no store at {shown_url(url)}"
    if parsed.get_backend_name() == "sqlite":
        place = f"no store at {parsed.database or ':memory:'}"
        first = "run `connector sync` first"
    else:
        place = f"no store in {shown_url(url)}"
        first = "run `connector db upgrade` and `connector sync` first"
    return f"{place}{' ' + detail if detail else ''}: {first}, or set {DATABASE_SETTING}"


@contextmanager
def store_opening(url: str) -> Iterator[None]:
    """Translate what opening the store at `url` raises into one named line of the error tree."""
    try:
        yield
    except ConnectorError:
        raise
    except socket.gaierror as exc:
        raise StoreUnavailableError(f"{where(url)}: unknown host or name lookup failed") from exc
    except OSError as exc:  # refused, unreachable, timed out (TimeoutError is an OSError)
        reason = os.strerror(exc.errno) if exc.errno else type(exc).__name__
        raise StoreUnavailableError(f"{where(url)}: cannot connect ({reason})") from exc
    except SQLAlchemyError as exc:
        cause = _driver_error(exc)
        if isinstance(cause, _NOT_NOW):
            raise StoreUnavailableError(
                f"{where(url)}: the database cannot take a connection now ({type(cause).__name__})"
            ) from exc
        raise ConfigurationError(
            f"{where(url)}: the store cannot be opened ({type(cause).__name__})"
        ) from exc
    except (ValueError, OverflowError) as exc:
        raise ConfigurationError(
            f"{where(url)}: the driver cannot use this URL ({type(exc).__name__})"
        ) from exc


def _driver_error(exc: SQLAlchemyError) -> BaseException:
    """The driver's own exception behind SQLAlchemy's wrapper (asyncpg's sits one level down)."""
    original: BaseException | None = getattr(exc, "orig", None)
    if original is None:
        return exc
    return original.__cause__ or original
