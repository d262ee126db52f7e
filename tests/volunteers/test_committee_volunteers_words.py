"""Weekly availability in words (api/volunteers/availability_text.py) and the sheet's
row checks (api/volunteers/sheet.py). Pure: the expectations are written out by hand."""

from __future__ import annotations

import pytest

from api.volunteers import availability_text, sheet
from api.volunteers.availability_text import AvailabilityError

WEEKDAYS = [0, 1, 2, 3, 4]


@pytest.mark.parametrize(
    ("text", "windows"),
    [
        (
            "周一至周五 17:30-20:30; 周六、周日 06:30-20:30",
            [(WEEKDAYS, "17:30", "20:30"), ([5, 6], "06:30", "20:30")],
        ),
        (
            "Mon-Fri 17:30-20:30; Sat, Sun 06:30-20:30",
            [(WEEKDAYS, "17:30", "20:30"), ([5, 6], "06:30", "20:30")],
        ),
        ("星期一到星期三，星期五 7:00~8:00", [([0, 1, 2, 4], "07:00", "08:00")]),
        ("每天 6：30-8：30", [(list(range(7)), "06:30", "08:30")]),
        (
            "工作日 22:00-24:00\n周末 09:00至10:00",
            [(WEEKDAYS, "22:00", "00:00"), ([5, 6], "09:00", "10:00")],
        ),
        ("周六至周一 08:00-09:00", [([0, 5, 6], "08:00", "09:00")]),
        ("Tuesday / Thursday 18:00 - 19:00", [([1, 3], "18:00", "19:00")]),
        ("17:00-18:00", [(list(range(7)), "17:00", "18:00")]),
    ],
)
def test_the_words_read_as_windows(text: str, windows: list[tuple[list[int], str, str]]) -> None:
    parsed = availability_text.parse(text)
    assert parsed == [{"days": d, "start": s, "end": e} for d, s, e in windows]
    # What the pages show reads back the same, in either language.
    for lang in ("zh", "en"):
        assert availability_text.parse(availability_text.words(parsed, lang)) == parsed


def test_words_as_the_pages_show_them() -> None:
    windows = [
        {"days": WEEKDAYS, "start": "17:30", "end": "20:30"},
        {"days": [5, 6], "start": "06:30", "end": "20:30"},
    ]
    assert (
        availability_text.words(windows, "zh") == "周一至周五 17:30-20:30; 周六、周日 06:30-20:30"
    )
    assert availability_text.words(windows, "en") == "Mon-Fri 17:30-20:30; Sat, Sun 06:30-20:30"
    assert availability_text.words(None, "zh") == ""
    assert availability_text.parse("  ") is None


@pytest.mark.parametrize(
    ("text", "code", "values"),
    [
        ("周八 17:30-20:30", "day", {"word": "周八"}),
        ("Mon-Funday 17:30-20:30", "day", {"word": "Funday"}),
        ("周一 25:00-26:00", "time", {"time": "25:00"}),
        ("周一 17:60-18:00", "time", {"time": "17:60"}),
        ("周一晚上", "window", {"text": "周一晚上"}),
        ("Mon 17:30", "window", {"text": "Mon 17:30"}),
    ],
)
def test_what_is_not_in_the_format(text: str, code: str, values: dict[str, str]) -> None:
    with pytest.raises(AvailabilityError) as caught:
        availability_text.parse(text)
    assert (caught.value.code, caught.value.values) == (code, values)


def test_a_sheet_is_checked_row_by_row() -> None:
    header = ["姓名", "手机号", "楼号", "可值班时间", "类型"]
    rows = [
        ["王阿姨", "139", "12", "周一 08:00-09:00", "楼组长"],
        ["", "1", "", "", ""],
        ["李", "2", "3", "周一 8:00", "boss"],
        ["王阿姨", "139", "5", "", ""],
        ["赵", "3", "", "", "party_member"],
    ]
    records = [dict(zip(header, r, strict=True)) for r in rows]
    checked = sheet.check(records, [2, 3, 4, 5, 6], existing={("赵", "3")})
    assert checked.volunteers == []
    assert [(e.line, e.column, e.code) for e in checked.errors] == [
        (3, "姓名", "required"),
        (4, "可值班时间", "availability.window"),
        (4, "类型", "kind"),
        (5, "姓名", "duplicate"),
        (6, "姓名", "exists"),
    ]
    good = sheet.check(records[:1] + records[4:], [2, 3], existing=set())
    assert good.errors == []
    assert [(line, v.name, v.kind, v.building) for line, v in good.volunteers] == [
        (2, "王阿姨", "group_leader", "12"),
        (3, "赵", "party_member", None),
    ]
    assert sheet.check([{"电话": "1"}], [2], set()).errors[0].code == "missing_column"
    assert sheet.check([], [], set()).errors[0].code == "empty"
