"""FENLEI_CHANNEL_KEY: required outside development, like the other secrets."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from api.notify.settings import NotifySettings, channel_key
from fenlei.errors import ConfigError

GOOD = "c" * 40


def test_required_outside_development(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("FENLEI_CHANNEL_KEY", "FENLEI_CHANNEL_KEY_FILE", "FENLEI_DEV"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError, match=r"FENLEI_CHANNEL_KEY is not set.*FENLEI_DEV=1"):
        channel_key(NotifySettings())
    with pytest.raises(ConfigError, match="too short"):
        channel_key(NotifySettings(channel_key="short"))
    assert channel_key(NotifySettings(channel_key=GOOD)) == GOOD
    path = tmp_path / "key"
    path.write_text(GOOD + "\n")
    assert channel_key(NotifySettings(channel_key_file=str(path))) == GOOD
    with pytest.raises(ConfigError, match="cannot be read"):
        channel_key(NotifySettings(channel_key_file=str(tmp_path / "missing")))
    assert GOOD not in repr(NotifySettings(channel_key=GOOD))


def test_development_keeps_one_key_in_a_0600_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FENLEI_HOME", str(tmp_path))
    first = channel_key(NotifySettings(dev=True))
    assert channel_key(NotifySettings(dev=True)) == first  # the API and the dispatcher agree
    mode = stat.S_IMODE((tmp_path / "channel.key").stat().st_mode)
    assert mode == 0o600
