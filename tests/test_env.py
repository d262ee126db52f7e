"""services.env round-trip (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fenlei.env import load_services_env, read_env_file, write_env_file


def test_env_file_round_trips_shell_quoting(tmp_path: Path) -> None:
    values = {"FENLEI_DATABASE_URL": "postgresql://u:p'w@h:1/d", "FENLEI_MQTT_URL": "mqtt://h:2"}
    write_env_file(tmp_path / "services.env", values)
    assert read_env_file(tmp_path / "services.env") == values


def test_set_variables_win_over_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_env_file(
        tmp_path / "services.env",
        {"FENLEI_MQTT_URL": "mqtt://file:1", "FENLEI_DATABASE_URL": "postgresql://file"},
    )
    monkeypatch.setenv("FENLEI_HOME", str(tmp_path))
    monkeypatch.setenv("FENLEI_MQTT_URL", "mqtt://env:2")
    _unset(monkeypatch, "FENLEI_DATABASE_URL")
    assert load_services_env() == tmp_path / "services.env"
    import os

    assert os.environ["FENLEI_MQTT_URL"] == "mqtt://env:2"
    assert os.environ["FENLEI_DATABASE_URL"] == "postgresql://file"


@pytest.mark.parametrize(
    ("exported", "read_url_loaded"),
    [(None, True), ("postgresql://file", True), ("postgresql://elsewhere", False)],
)
def test_the_local_replica_comes_only_with_its_own_primary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exported: str | None, read_url_loaded: bool
) -> None:
    import os

    write_env_file(
        tmp_path / "services.env",
        {"FENLEI_DATABASE_URL": "postgresql://file", "FENLEI_DATABASE_READ_URL": "postgresql://r"},
    )
    monkeypatch.setenv("FENLEI_HOME", str(tmp_path))
    _unset(monkeypatch, "FENLEI_DATABASE_READ_URL")
    if exported is None:
        _unset(monkeypatch, "FENLEI_DATABASE_URL")
    else:
        monkeypatch.setenv("FENLEI_DATABASE_URL", exported)
    load_services_env()
    assert (os.environ.get("FENLEI_DATABASE_READ_URL") == "postgresql://r") is read_url_loaded


def _unset(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Unset `name` for this test and undo whatever load_services_env sets it to:
    delenv alone records nothing for a variable that is not set, so a value the loader
    sets afterwards would outlive the test."""
    monkeypatch.setenv(name, "")
    monkeypatch.delenv(name)
