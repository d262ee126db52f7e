"""Which database errors the ingester waits out, retries a few times, or splits on. Pure."""

from __future__ import annotations

import psycopg
import pytest

from ingest.service import TRANSIENT, is_outage

OUTAGES = [
    psycopg.OperationalError("connection to server at 127.0.0.1 failed"),  # no SQLSTATE
    psycopg.InterfaceError("the connection is closed"),
    psycopg.errors.AdminShutdown(),  # 57P01: the server is stopping
    psycopg.errors.CannotConnectNow(),  # 57P03: starting up
    psycopg.errors.ConnectionFailure(),  # 08006
    psycopg.errors.DiskFull(),  # 53100: splitting cannot help, nothing is acknowledged
    psycopg.errors.ReadOnlySqlTransaction(),  # 25006: connected to a replica
]
NOT_OUTAGES = [
    psycopg.errors.QueryCanceled(),  # statement timeout: transient
    psycopg.errors.LockNotAvailable(),
    psycopg.errors.OutOfMemory(),
    psycopg.errors.ForeignKeyViolation(),  # the message's fault: split
    psycopg.errors.RaiseException(),
    psycopg.errors.CharacterNotInRepertoire(),
    psycopg.errors.NumericValueOutOfRange(),
]


@pytest.mark.parametrize("error", OUTAGES, ids=lambda e: type(e).__name__)
def test_outages_are_waited_out(error: psycopg.Error) -> None:
    assert is_outage(error, conn_broken=False)


@pytest.mark.parametrize("error", NOT_OUTAGES, ids=lambda e: type(e).__name__)
def test_refusals_and_transient_errors_are_not_outages(error: psycopg.Error) -> None:
    assert not is_outage(error, conn_broken=False)


def test_any_error_on_a_broken_connection_is_an_outage() -> None:
    assert is_outage(psycopg.errors.RaiseException(), conn_broken=True)


def test_transient_errors_are_the_ones_that_may_pass() -> None:
    assert isinstance(psycopg.errors.QueryCanceled(), TRANSIENT)
    assert isinstance(psycopg.errors.LockNotAvailable(), TRANSIENT)
    assert not isinstance(psycopg.errors.ForeignKeyViolation(), TRANSIENT)
    assert not isinstance(psycopg.errors.DiskFull(), TRANSIENT)
