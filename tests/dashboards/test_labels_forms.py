"""Codes and refusals as words: every alarm and rejection reason has a label, tables and
exports show them (and yes/no, and their sheet's name) in the page's language, and the
services' English refusals become sentences of the catalogue.

The lists checked against are the ingester's own (`ingest.contract`), and the refusals
are the services' messages as the services raise them.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from openpyxl import load_workbook
from pydantic import ValidationError

from api.errors import ApiError, Conflict, Forbidden, Invalid, NotFound
from api.inspections.schemas import InspectionIn
from dashboards import form_errors, i18n, tables
from ingest.contract import ALARMS, Reason

LOCALES = i18n.LOCALES


@pytest.mark.parametrize("locale", LOCALES)
def test_every_alarm_and_reason_has_a_word(locale: i18n.Locale) -> None:
    for alarm in ALARMS:
        word = i18n.code(locale, "alarm", alarm)
        assert word != alarm and word.strip(), alarm
    for reason in Reason:
        word = i18n.code(locale, "reason", reason.value)
        assert word != reason.value and "_" not in word, reason
    # A code newer than the labels is shown as it is, not as an error.
    assert i18n.code(locale, "alarm", "new_alarm") == "new_alarm"
    assert i18n.code(locale, "reason", None) == "–"


def _table() -> tables.Table:
    # Declared as the overview declares its bins and rejections: the code columns as text.
    columns = [
        tables.Column("bin", "col.bin"),
        tables.Column("category", "col.category", "category"),
        tables.Column("online", "col.online", "bool"),
        tables.Column("last_alarm", "col.last_alarm"),
        tables.Column("reason", "col.reason"),
        tables.Column("count", "col.count", "int"),
    ]
    rows = [
        {
            "bin": "=1+2",
            "category": "wet",
            "online": True,
            "last_alarm": "sensor_fault",
            "reason": "bad_json",
            "count": 3,
        },
        {
            "bin": "b2",
            "category": "dry",
            "online": False,
            "last_alarm": None,
            "reason": "unknown_bin",
            "count": 4,
        },
    ]
    return tables.Table("bins", i18n.t("zh", "table.bins"), columns, rows)


RAW = {"True", "False", "true", "false", "sensor_fault", "bad_json", "unknown_bin", "wet", "dry"}


def test_the_html_table_shows_words() -> None:
    html = tables.to_html(_table(), "zh")
    for word in ("传感器故障", "不是有效的 JSON", "设备未登记", "是", "否", "湿垃圾", "干垃圾"):
        assert f">{word}</td>" in html, word
    assert not [r for r in RAW if f">{r}</td>" in html]


def test_csv_exports_words_in_the_locale() -> None:
    rows = list(csv.reader(io.StringIO(tables.to_csv(_table(), "zh").decode("utf-8-sig"))))
    assert rows[0] == ["设备", "类别", "在线", "最近告警", "原因", "条数"]
    assert rows[1] == ["'=1+2", "湿垃圾", "是", "传感器故障", "不是有效的 JSON", "3"]
    assert rows[2] == ["b2", "干垃圾", "否", "", "设备未登记", "4"]
    en = list(csv.reader(io.StringIO(tables.to_csv(_table(), "en").decode("utf-8-sig"))))
    assert en[1][1:5] == ["Wet", "yes", "Sensor fault", "Not valid JSON"]


def test_xlsx_sheet_is_named_in_the_locale_and_holds_words() -> None:
    book = load_workbook(io.BytesIO(tables.to_xlsx(_table(), "zh")))
    sheet = book.active
    assert sheet is not None
    assert sheet.title == "设备现状"  # the table's title, not "bins"
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[1][1:5] == ["湿垃圾", "是", "传感器故障", "不是有效的 JSON"]
    assert values[2][2] == "否" and values[1][5] == 3  # numbers stay numbers
    formula = sheet["A2"]
    assert formula.value == "=1+2" and formula.data_type == "s" and formula.quotePrefix


def test_a_sheet_name_keeps_to_excel_s_rules() -> None:
    table = tables.Table("x", "a/b:c*d?[e]" + "长" * 40, [tables.Column("n", "col.count")])
    name = tables.sheet_name(table)
    assert len(name) <= 31 and not set(name) & set("[]:*?/\\")
    book = load_workbook(io.BytesIO(tables.to_xlsx(table, "zh")))
    assert book.active is not None and book.active.title == name
    assert tables.sheet_name(tables.Table("codes", "[]", [])) == "codes"


# --- the services' refusals ---------------------------------------------------------------

AT = datetime(2026, 4, 6, 10, tzinfo=UTC)
# (what the service raises, the sentence it becomes)
REFUSALS: list[tuple[ApiError, str, dict[str, str]]] = [
    (Conflict(f"already checked in at {AT.isoformat()}"), "svc.already_checked_in", {}),
    (
        Conflict(
            f"check-in is open from 30 minutes before the watch ({AT.isoformat()}) until its"
            f" end ({(AT + timedelta(hours=2)).isoformat()})"
        ),
        "svc.check_in_window",
        {"minutes": "30"},
    ),
    (Conflict("check in before checking out"), "svc.check_in_first", {}),
    (Conflict(f"already checked out at {AT.isoformat()}"), "svc.already_checked_out", {}),
    (Conflict("check-out closed an hour after the watch ended"), "svc.check_out_closed", {}),
    (
        Conflict("this watch has already started; it can no longer be swapped"),
        "svc.swap_started",
        {},
    ),
    (Conflict("this assignment is already offered"), "svc.already_offered", {}),
    (Forbidden("this needs the volunteer role; the token has viewer"), "svc.needs_volunteer", {}),
    (
        Forbidden("only a volunteer of the same estate can take this watch"),
        "svc.other_estate",
        {},
    ),
    (Conflict("you cannot take your own offer; cancel it instead"), "svc.own_offer", {}),
    (Conflict("you already hold this watch"), "svc.already_hold", {}),
    (Conflict("this watch has already started"), "svc.watch_started", {}),
    (Conflict("this offer was taken or withdrawn a moment ago"), "svc.offer_gone", {}),
    (
        Conflict("inspections are recorded during the watch or within 3 hours of its end"),
        "svc.inspection_window",
        {"hours": "3"},
    ),
    (
        Forbidden(
            "this token is not linked to an active volunteer"
            " (an admin creates volunteers with POST /api/v1/estates/{estate}/volunteers)"
        ),
        "svc.not_linked",
        {},
    ),
    (Forbidden("the token is not allowed to see estate 'x'"), "svc.forbidden", {}),
    (NotFound("no assignment 7"), "svc.not_found", {}),
    (Conflict("something new"), "svc.conflict", {}),
    (Invalid("month '2026-13' is not YYYY-MM"), "svc.failed", {}),
]


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize(("exc", "key", "values"), REFUSALS)
def test_a_service_refusal_becomes_a_sentence(
    locale: i18n.Locale, exc: ApiError, key: str, values: dict[str, str]
) -> None:
    said = form_errors.service_message(locale, exc)
    assert said == i18n.t(locale, key, **values)
    assert str(exc) not in said


@pytest.mark.parametrize("locale", LOCALES)
def test_an_offer_s_state_is_a_word(locale: i18n.Locale) -> None:
    for state in ("open", "accepted", "cancelled"):
        said = form_errors.service_message(locale, Conflict(f"this offer is {state}"))
        assert locale == "en" or state not in said
        assert i18n.t(locale, f"swap.status.{state}") in said


def _errors(body: dict[str, object]) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        InspectionIn.model_validate(body)
    return caught.value


def test_pydantic_errors_name_the_field() -> None:
    line = {"category": "wet", "checked": 1, "mis_sorted": 5, "re_sorted": 0}
    names = {("lines", 0): "湿垃圾", ("lines", 0, "checked"): "湿垃圾 · 检查数"}

    def label(loc: form_errors.Loc) -> str:
        return names.get(loc, "表单")

    said = form_errors.validation_problems("zh", _errors({"lines": [line]}), label)
    assert [(p.loc, p.message) for p in said] == [(("lines", 0), "湿垃圾：错投数不能多于检查数。")]
    too_many = {**line, "mis_sorted": 1, "re_sorted": 2}
    said = form_errors.validation_problems("zh", _errors({"lines": [too_many]}), label)
    assert said[0].message == "湿垃圾：二次分拣数不能多于错投数。"
    big = {**line, "checked": 100_001, "mis_sorted": 0}
    said = form_errors.validation_problems("zh", _errors({"lines": [big]}), label)
    assert said[0].message == "湿垃圾 · 检查数：请填写 0 到 100,000 之间的整数。"
    said = form_errors.validation_problems("en", _errors({"lines": []}), label)
    assert said[0].message == "Enter the drops checked for at least one category."
    twice = form_errors.validation_problems("zh", _errors({"lines": [big, big]}), label)
    assert all("100,000" in p.message for p in twice[:2])


def test_committee_pages_show_a_refusal_the_same_way() -> None:
    from dashboards import common

    said = [form_errors.Problem(("name",), "姓名：<必填>")]
    html = common.problems_html("zh", said)
    assert 'role="alert"' in html and i18n.t("zh", "form.invalid") in html
    assert "姓名：&lt;必填&gt;" in html and "<必填>" not in html
    assert common.problems_html("en", []) == ""
