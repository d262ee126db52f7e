"""fenlei's settings take a libpq multi-host URL as it is (no cluster needed)."""

from __future__ import annotations

import pytest
from psycopg.conninfo import conninfo_attempts, conninfo_to_dict

from api.alarms.settings import AlarmSettings
from api.settings import ApiSettings
from ingest.settings import IngestSettings

URL = (
    "postgresql://fenlei:s3cret@127.0.0.1:5441,127.0.0.1:5442/fenlei"
    "?target_session_attrs=read-write"
)


@pytest.mark.parametrize("settings", [IngestSettings, ApiSettings, AlarmSettings])
def test_settings_keep_the_multi_host_url_unchanged(
    settings: type[IngestSettings | ApiSettings | AlarmSettings], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FENLEI_DATABASE_URL", URL)
    assert settings().database_url == URL  # type: ignore[call-arg]


def test_libpq_reads_every_host_and_the_session_attribute() -> None:
    """What psycopg hands libpq: both nodes tried in order, read-write required."""
    params = conninfo_to_dict(URL)
    assert params["host"] == "127.0.0.1,127.0.0.1"
    assert params["port"] == "5441,5442"
    assert params["target_session_attrs"] == "read-write"
    attempts = conninfo_attempts(params)
    assert [(a["host"], a["port"]) for a in attempts] == [
        ("127.0.0.1", "5441"),
        ("127.0.0.1", "5442"),
    ]
