"""What opening the store raises, translated into one line of the error tree."""

from __future__ import annotations

import socket

import asyncpg
import pytest
from sqlalchemy.exc import DBAPIError

from connector.errors import ConfigurationError, ConnectorError, StoreUnavailableError
from connector.store.opening import shown_url, store_opening

URL = "postgresql+asyncpg://connector:hunter2-secret@db.example:5432/connector"


def wrapped(driver_error: BaseException) -> DBAPIError:
    """SQLAlchemy's wrapper around a driver adapter error caused by `driver_error`."""
    adapter_error = Exception("adapter")
    adapter_error.__cause__ = driver_error
    return DBAPIError("connect", None, adapter_error)


@pytest.mark.parametrize(
    ("raised", "kind", "says"),
    [
        (ConnectionRefusedError(111, "Connect call failed"), StoreUnavailableError, "refused"),
        (socket.gaierror(-2, "Name or service not known"), StoreUnavailableError, "unknown host"),
        (TimeoutError(), StoreUnavailableError, "cannot connect (TimeoutError)"),
        (wrapped(asyncpg.CannotConnectNowError()), StoreUnavailableError, "cannot take"),
        (wrapped(asyncpg.TooManyConnectionsError()), StoreUnavailableError, "cannot take"),
        (wrapped(asyncpg.InvalidCatalogNameError()), ConfigurationError, "InvalidCatalogName"),
        (wrapped(asyncpg.InvalidPasswordError()), ConfigurationError, "InvalidPasswordError"),
        (OverflowError("port must be 0-65535"), ConfigurationError, "cannot use this URL"),
    ],
)
def test_each_failure_is_one_line_naming_the_setting(
    raised: BaseException, kind: type[ConnectorError], says: str
) -> None:
    """Not answering is worth a retry (exit 1); refusing or an unusable URL is a setting (2)."""
    with pytest.raises(kind) as caught, store_opening(URL):
        raise raised
    message = str(caught.value)
    assert message.startswith(
        "CONNECTOR_DATABASE_URL (postgresql+asyncpg://connector:***@db.example:5432/connector): "
    )
    assert says in message
    assert "hunter2" not in message
    assert "\n" not in message


def test_the_connectors_own_errors_pass_unchanged() -> None:
    """A schema that is not current says so itself."""
    error = ConfigurationError("the database schema is not current")
    with pytest.raises(ConfigurationError) as caught, store_opening(URL):
        raise error
    assert caught.value is error


def test_an_unparsable_url_is_not_shown() -> None:
    """A URL that cannot be parsed cannot be masked either, so it is not shown at all."""
    assert shown_url("postgresql+asyncpg://u:pw@h:port/db") == "an unparsable URL"
