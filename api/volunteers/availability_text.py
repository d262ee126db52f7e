"""Weekly availability written as words, as committees write it on their sheets, and back.

The format: windows separated by `;` (or `；`, or a new line); each window is days,
then a time span `HH:MM-HH:MM` (`-`, `–`, `~`, `至` or `到` between the times):

    周一至周五 17:30-20:30; 周六、周日 06:30-20:30
    Mon-Fri 17:30-20:30; Sat, Sun 06:30-20:30

Days are single days or ranges (`周一至周五`, `Mon-Fri`, `周六-周一` wraps past Sunday)
separated by `、`, `,`, `，`, `/` or spaces; a day is 周一…周日 (周天, 星期一…星期日,
礼拜一…) or Mon/Monday…Sun/Sunday. Words for several days: 每天/每日/daily/every day,
工作日/weekdays (Monday to Friday), 周末/weekends (Saturday and Sunday). Without days the
span is every day. An end at or before the start runs past midnight (`22:00-06:00`);
`24:00` is midnight. Empty text means "any time" (no availability recorded).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

Lang = Literal["zh", "en"]
ALL_DAYS = list(range(7))
_WINDOW_SEP = re.compile(r"[;；\n]+")
_SPAN = re.compile(
    r"^(?P<days>.*?)\s*(?P<start>\d{1,2}:\d{2})\s*(?:-|–|—|~|～|至|到)\s*(?P<end>\d{1,2}:\d{2})$"
)
_RANGE = re.compile(r"\s*(?:-|–|—|~|～|至|到)\s*")
_ITEM_SEP = re.compile(r"[,，、/\s]+")
_ZH_NUMBERS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6, "七": 6}
_EN_DAYS = {
    "mon": 0,
    "monday": 0,
    "tue": 1,
    "tues": 1,
    "tuesday": 1,
    "wed": 2,
    "weds": 2,
    "wednesday": 2,
    "thu": 3,
    "thur": 3,
    "thurs": 3,
    "thursday": 3,
    "fri": 4,
    "friday": 4,
    "sat": 5,
    "saturday": 5,
    "sun": 6,
    "sunday": 6,
}
_GROUPS = {
    "每天": ALL_DAYS,
    "每日": ALL_DAYS,
    "天天": ALL_DAYS,
    "daily": ALL_DAYS,
    "every day": ALL_DAYS,
    "everyday": ALL_DAYS,
    "工作日": [0, 1, 2, 3, 4],
    "weekdays": [0, 1, 2, 3, 4],
    "周末": [5, 6],
    "weekends": [5, 6],
    "weekend": [5, 6],
}
ZH_DAYS = ["周一", "周二", "周三", "周四", "周五", "周六", "周日"]
EN_DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


@dataclass
class AvailabilityError(ValueError):
    """Text that is not in the format: `code` names the reason (`window`, `day`,
    `time`), `text` is the part that could not be read."""

    code: str
    text: str
    values: dict[str, str] = field(default_factory=dict)


def _day(word: str) -> int | None:
    w = word.strip().lower()
    for prefix in ("星期", "礼拜", "周"):
        if w.startswith(prefix) and w[len(prefix) :] in _ZH_NUMBERS:
            return _ZH_NUMBERS[w[len(prefix) :]]
    return _EN_DAYS.get(w.rstrip("."))


def _days(text: str) -> list[int]:
    text = text.strip()
    if not text:
        return ALL_DAYS
    if text.lower() in _GROUPS:
        return _GROUPS[text.lower()]
    days: set[int] = set()
    # Range marks without spaces, so "Mon - Fri" is one item.
    for item in _ITEM_SEP.split(_RANGE.sub("-", text)):
        if not item:
            continue
        if item.lower() in _GROUPS:
            days.update(_GROUPS[item.lower()])
            continue
        ends = item.split("-")
        found = [_day(e) for e in ends]
        if len(ends) > 2 or any(d is None for d in found):
            bad = next((e for e, d in zip(ends, found, strict=True) if d is None), item)
            raise AvailabilityError("day", text, {"word": bad or item})
        first, last = found[0], found[-1]
        assert first is not None and last is not None
        days.update((first + i) % 7 for i in range((last - first) % 7 + 1))
    return sorted(days)


def _clock(value: str, whole: str) -> str:
    hours, minutes = (int(x) for x in value.split(":"))
    if hours == 24 and minutes == 0:
        return "00:00"  # midnight at the end of a span
    if hours > 23 or minutes > 59:
        raise AvailabilityError("time", whole, {"time": value})
    return f"{hours:02d}:{minutes:02d}"


def parse(text: str | None) -> list[dict[str, Any]] | None:
    """Windows `{"days": [0..6], "start": "HH:MM", "end": "HH:MM"}` from the text;
    None for empty text (any time); AvailabilityError when it is not in the format."""
    parts = [p.strip() for p in _WINDOW_SEP.split((text or "").replace("：", ":"))]
    windows = []
    for part in (p for p in parts if p):
        match = _SPAN.match(part)
        if match is None:
            raise AvailabilityError("window", part, {"text": part})
        windows.append(
            {
                "days": _days(match["days"]),
                "start": _clock(match["start"], part),
                "end": _clock(match["end"], part),
            }
        )
    return windows or None


def _runs(days: Iterable[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for d in sorted(set(days)):
        if runs and runs[-1][1] == d - 1:
            runs[-1] = (runs[-1][0], d)
        else:
            runs.append((d, d))
    return runs


def _days_words(days: list[int], lang: Lang) -> str:
    if sorted(set(days)) == ALL_DAYS:
        return "每天" if lang == "zh" else "Every day"
    names = ZH_DAYS if lang == "zh" else EN_DAYS
    through = "至" if lang == "zh" else "-"
    words: list[str] = []
    for first, last in _runs(days):
        if last - first >= 2:
            words.append(f"{names[first]}{through}{names[last]}")
        else:
            words.extend(names[d] for d in range(first, last + 1))
    return ("、" if lang == "zh" else ", ").join(words)


def _hhmm(value: Any) -> str:
    text = value if isinstance(value, str) else value.strftime("%H:%M")
    return str(text)[:5]


def words(windows: list[dict[str, Any]] | None, lang: Lang) -> str:
    """The windows in the format `parse` reads ("" for any time)."""
    if not windows:
        return ""
    return "; ".join(
        f"{_days_words(list(w['days']), lang)} {_hhmm(w['start'])}-{_hhmm(w['end'])}"
        for w in windows
    )
