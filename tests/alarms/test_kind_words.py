"""An alarm's kind has one name: the pages' banner and the notifications say it alike,
in both languages (a volunteer told 满溢 by the robot finds 满溢 on the page)."""

from __future__ import annotations

import pytest

from api.notify.labels import LABELS
from dashboards import i18n

KINDS = (
    "overflow",
    "odour",
    "temperature",
    "tilt",
    "sensor_fault",
    "fill_high",
    "battery_low",
    "offline",
    "silent_room",
    "stuck_sensor",
)


@pytest.mark.parametrize(("page", "message"), [("zh", "zh-CN"), ("en", "en")])
def test_pages_and_messages_name_each_kind_alike(page: i18n.Locale, message: str) -> None:
    on_pages = {k: i18n.t(page, f"alarms.kind.{k}") for k in KINDS}
    in_messages = {k: LABELS[message][f"kind.{k}"] for k in KINDS}
    assert on_pages == in_messages
