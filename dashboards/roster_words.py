"""Watch slots and roster suggestions said in words, in zh-CN or English. Pure.

A suggestion of `api.roster.service.watch_coverage` is numbers (average drops per watch,
volunteers per watch, how many it suggests); `suggestion` makes it a sentence a
committee member reads at a glance, e.g. "1号投放点 · 工作日 16:30–20:00：平均每次 514
次投放，现有 1 名志愿者值守，建议安排 9 名。" The volunteer pages use it too.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import time
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from dashboards import i18n
from dashboards.i18n import Locale


def whole(value: float) -> int:
    """Rounded half up (513.5 → 514, 512.5 → 513), as people round, not half to even."""
    return int(Decimal(str(value)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def people(value: float) -> str:
    """A number of volunteers: whole when it is (1.0 → '1'), else one decimal (1.5)."""
    one = Decimal(str(value)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return str(int(one)) if one == one.to_integral_value() else str(one)


def clock(start: time, end: time) -> str:
    """'16:30–20:00'; a watch past midnight reads the same ('22:00–01:00')."""
    return f"{start:%H:%M}–{end:%H:%M}"


def day_type(locale: Locale, kind: str) -> str:
    """'工作日' / 'weekdays', '周末' / 'weekends'."""
    return i18n.t(locale, f"roster.days.{kind}")


def room_label(room: str, name: str | None) -> str:
    """A room by its name when it has one, else by its id."""
    return name or room


def _staff(locale: Locale, volunteers: float) -> str:
    if volunteers <= 0:
        return i18n.t(locale, "roster.suggest.staff_none")
    shown = people(volunteers)
    if shown == "1":
        return i18n.t(locale, "roster.suggest.staff_one", v=shown)
    if "." in shown:
        return i18n.t(locale, "roster.suggest.staff_avg", v=shown)
    return i18n.t(locale, "roster.suggest.staff_many", v=shown)


def suggestion(locale: Locale, s: Mapping[str, Any]) -> str:
    """One suggestion of `watch_coverage` as a sentence.

    `s` has room (and room_name when known), day_type, start, end, avg_drops,
    avg_volunteers, drops_per_volunteer and suggested_volunteers."""
    volunteers = float(s["avg_volunteers"])
    per = s.get("drops_per_volunteer")
    each = ""
    if per is not None and people(volunteers) != "1":
        each = i18n.t(locale, "roster.suggest.each", n=i18n.number(whole(float(per))))
    wanted = int(s["suggested_volunteers"])
    return i18n.t(
        locale,
        "roster.suggest.sentence",
        room=room_label(str(s["room"]), s.get("room_name")),
        days=day_type(locale, str(s["day_type"])),
        times=clock(s["start"], s["end"]),
        drops=i18n.number(whole(float(s["avg_drops"]))),
        staff=_staff(locale, volunteers),
        each=each,
        want=i18n.t(
            locale,
            "roster.suggest.want_one" if wanted == 1 else "roster.suggest.want_many",
            n=wanted,
        ),
    )
