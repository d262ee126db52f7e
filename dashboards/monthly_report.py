"""The monthly report (月报) for the subdistrict: one Excel workbook of a calendar month.

Sheets (zh names, English with ?lang=en): 指标 (the figures against their targets and the
month before), 每日 (days), 楼栋 (buildings), 楼组 (building groups), 检查 (sorting
accuracy, per category, building, and room × category), 值守 (watch slots, watches,
who was assigned, uncovered ones, check-ins, per room), 数据质量 (rejected messages by
reason, sequence gaps, bins offline or silent all month).

Every number comes from the API's own repository and service functions for the same
local days (`api.metrics`, `api.inspections`, `api.roster`, `api.shifts`,
`api.operations`), so the workbook and the API's JSON cannot disagree. The district's
workbook has the same sheets for every estate the caller may see, one row block per
estate (an estate column first), and the figures of all of them together (ratios of
the summed counts, as `GET /api/v1/metrics` has them).

Exports are formula-safe (fenlei/spreadsheet.py): a text cell a spreadsheet would run
as a formula is a text cell with the quote prefix, its text unchanged (as
`dashboards.tables.to_xlsx`).
"""

from __future__ import annotations

import io
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook

from api.inspections import repository as inspection_rows
from api.inspections import service as inspections
from api.metrics import repository as metrics
from api.metrics import service
from api.metrics.definitions import CATEGORIES, kg_total, ratio
from api.operations import repository as operations
from api.roster import service as roster
from api.shifts import repository as shifts
from dashboards import i18n, repository
from dashboards.disclosure import MONTH, month_of
from dashboards.i18n import Locale
from dashboards.period import Period
from dashboards.tables import Column, Kind
from fenlei.spreadsheet import is_formula

SHEETS = ("figures", "daily", "buildings", "groups", "inspections", "roster", "quality")
RATIOS = ("coverage", "participation_rate", "wet_share", "in_window_share")
COUNTS = ("households_total", "households_enrolled", "households_active", "drops")
_FORMATS: dict[str, str] = {
    "int": "#,##0",
    "kg": "#,##0.0",
    "pct": "0.00%",
    "date": "yyyy-mm-dd",
    "datetime": "yyyy-mm-dd hh:mm",
}


@dataclass(slots=True)
class Sheet:
    """One worksheet: its columns and rows (a row's `_kind` overrides its number cells'
    kind: the figures sheet has ratios and counts)."""

    name: str  # SHEETS
    columns: list[Column]
    rows: list[dict[str, Any]]


def month_period(value: str | None, today: date) -> Period | None:
    """The calendar month `YYYY-MM` names; the month before `today`'s when not given;
    None when it is not a month."""
    if value is None:
        return month_of((today.replace(day=1) - timedelta(days=1)).replace(day=1))
    found = MONTH.fullmatch(value)
    if found is None or not 1 <= int(found[2]) <= 12 or int(found[1]) < 1:
        return None
    return month_of(date(int(found[1]), int(found[2]), 1))


def previous_month(month: Period) -> Period:
    """The calendar month before `month`."""
    return month_of((month.start - timedelta(days=1)).replace(day=1))


# -- the sheets' columns -------------------------------------------------------------------

ESTATE = Column("estate", "col.estate")
FIGURE_COLUMNS = [
    Column("figure", "report.col.figure"),
    Column("value", "report.col.value", "pct"),
    Column("target", "report.col.target", "pct"),
    Column("met", "report.col.verdict", "bool"),
    Column("previous", "report.col.previous", "pct"),
    Column("change", "report.col.change", "pct"),
]
KG = [Column(f"kg_{c}", f"col.kg_{c}", "kg") for c in CATEGORIES]
DAILY_COLUMNS = [
    Column("day", "col.day", "date"),
    Column("households_enrolled", "col.households_enrolled", "int"),
    Column("households_active", "col.households_active", "int"),
    Column("participation_rate", "col.participation_rate", "pct"),
    Column("drops", "col.drops", "int"),
    Column("identified_drops", "report.col.identified_drops", "int"),
    *KG,
    Column("wet_share", "col.wet_share", "pct"),
    Column("in_window_share", "col.in_window_share", "pct"),
]
_UNIT = [
    Column("households_registered", "col.households_registered", "int"),
    Column("households_enrolled", "col.households_enrolled", "int"),
    Column("households_active", "col.households_active", "int"),
    Column("participation_rate", "col.participation_rate", "pct"),
    Column("drops", "col.drops", "int"),
    *KG,
    Column("kg_total", "col.kg_total", "kg"),
    Column("wet_share", "col.wet_share", "pct"),
]
BUILDING_COLUMNS = [Column("building", "col.building"), *_UNIT]
GROUP_COLUMNS = [
    Column("building", "col.building"),
    Column("building_group", "col.building_group"),
    *_UNIT,
]
INSPECTION_COLUMNS = [
    Column("scope", "report.col.scope"),
    Column("room", "col.room"),
    Column("key", "report.col.key"),
    Column("inspections", "report.col.inspections", "int"),
    Column("inspected", "report.col.inspected", "int"),
    Column("passed", "report.col.passed", "int"),
    Column("mis_sorted", "report.col.mis_sorted", "int"),
    Column("re_sorted", "report.col.re_sorted", "int"),
    Column("accuracy", "report.col.accuracy", "pct"),
]
ROSTER_COLUMNS = [
    Column("room", "col.room"),
    Column("watch_slots", "report.col.watch_slots", "int"),
    Column("shifts", "report.col.shifts", "int"),
    Column("seats", "report.col.seats", "int"),
    Column("filled", "report.col.filled", "int"),
    Column("covered", "report.col.covered", "int"),
    Column("uncovered", "report.col.uncovered", "int"),
    Column("check_ins", "report.col.check_ins", "int"),
]
QUALITY_COLUMNS = [
    Column("item", "report.col.item"),
    Column("detail", "report.col.detail"),
    Column("count", "col.count", "int"),
]


# -- one estate's rows ---------------------------------------------------------------------


def figure_rows(
    locale: Locale,
    now: dict[str, Any],
    before: dict[str, Any],
    checks: tuple[dict[str, Any], dict[str, Any]],
    targets: dict[str, float],
) -> list[dict[str, Any]]:
    """The figures of a month against their targets and the month before: the ratios,
    sorting accuracy, then the counts behind them. Pure."""
    rows = []
    for f in RATIOS:
        value, then, target = now[f], before[f], targets[f]
        rows.append(
            {
                "figure": i18n.t(locale, f"figure.{f}"),
                "value": value,
                "target": target,
                "met": None if value is None else value >= target,
                "previous": then,
                "change": None if value is None or then is None else value - then,
            }
        )
    value, then = checks[0]["accuracy"], checks[1]["accuracy"]
    rows.append(
        {
            "figure": i18n.t(locale, "report.figure.accuracy"),
            "value": value,
            "previous": then,
            "change": None if value is None or then is None else value - then,
        }
    )
    counts = [(k, now[k], before[k]) for k in COUNTS]
    counts.append(("inspected", checks[0]["inspected"], checks[1]["inspected"]))
    for key, value, then in counts:
        rows.append(
            {
                "_kind": "int",
                "figure": i18n.t(locale, f"report.figure.{key}"),
                "value": value,
                "previous": then,
                "change": value - then,
            }
        )
    value, then = kg_total(now["kg"]), kg_total(before["kg"])
    rows.append(
        {
            "_kind": "kg",
            "figure": i18n.t(locale, "report.figure.kg_total"),
            "value": value,
            "previous": then,
            "change": value - then,
        }
    )
    return rows


def _unit_row(unit: dict[str, Any]) -> dict[str, Any]:
    return {
        **{c.key: unit.get(c.key) for c in _UNIT},
        **{f"kg_{c}": unit["kg"][c] for c in CATEGORIES},
        "kg_total": kg_total(unit["kg"]),
    }


def inspection_rows_of(
    locale: Locale, accuracy: dict[str, Any], listed: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The accuracy sheet: the API's totals, per category and per building (`/accuracy`),
    then per room and category from the inspections themselves (`/inspections`). Pure."""
    keys = ("inspections", "inspected", "passed", "mis_sorted", "re_sorted", "accuracy")
    rows = [{"scope": i18n.t(locale, "report.scope.total"), **{k: accuracy[k] for k in keys}}]
    rows += [
        {
            "scope": i18n.t(locale, "report.scope.category"),
            "key": i18n.t(locale, f"cat.{c}"),
            **{k: accuracy["by_category"][c][k] for k in keys},
        }
        for c in CATEGORIES
    ]
    rows += [
        {"scope": i18n.t(locale, "report.scope.building"), "key": b["building"]}
        | {k: b[k] for k in keys}
        for b in accuracy["by_building"]
    ]
    # The API has no per-room figure: the same sums over the inspections it lists, and
    # the same ratio (passed / inspected), per room and category.
    sums: dict[tuple[str, str], dict[str, Any]] = {}
    for i in listed:
        for line in i["lines"]:
            s = sums.setdefault(
                (i["room"], line["category"]),
                {"ids": set(), "inspected": 0, "mis_sorted": 0, "re_sorted": 0},
            )
            s["ids"].add(i["id"])
            s["inspected"] += int(line["checked"])
            s["mis_sorted"] += int(line["mis_sorted"])
            s["re_sorted"] += int(line.get("re_sorted") or 0)
    order = {c: n for n, c in enumerate(CATEGORIES)}
    for (room, category), s in sorted(sums.items(), key=lambda kv: (kv[0][0], order[kv[0][1]])):
        passed = s["inspected"] - s["mis_sorted"]
        rows.append(
            {
                "scope": i18n.t(locale, "col.room"),
                "room": room,
                "key": i18n.t(locale, f"cat.{category}"),
                "inspections": len(s["ids"]),
                "inspected": s["inspected"],
                "passed": passed,
                "mis_sorted": s["mis_sorted"],
                "re_sorted": s["re_sorted"],
                "accuracy": ratio(passed, s["inspected"]),
            }
        )
    return rows


def roster_rows(
    locale: Locale, slots: list[dict[str, Any]], held: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Per room: its watch slots (`/watch-slots`), and the month's watches (`/roster`):
    seats needed and assigned, fully staffed and uncovered watches, check-ins. Pure."""
    per_room: dict[str, dict[str, Any]] = {}
    for r in slots:
        per_room[r["room"]] = {"room": r["room"], "watch_slots": len(r["slots"])}
    for s in held:
        row = per_room.setdefault(s["room"], {"room": s["room"], "watch_slots": 0})
        row["shifts"] = row.get("shifts", 0) + 1
        row["seats"] = row.get("seats", 0) + int(s["needed"])
        row["filled"] = row.get("filled", 0) + len(s["assignees"])
        row["uncovered"] = row.get("uncovered", 0) + int(bool(s["uncovered"]))
        row["covered"] = row.get("covered", 0) + int(not s["uncovered"])
        row["check_ins"] = row.get("check_ins", 0) + sum(
            a["checked_in_at"] is not None for a in s["assignees"]
        )
    keys = ("watch_slots", "shifts", "seats", "filled", "covered", "uncovered", "check_ins")
    rows = [{"room": r["room"], **{k: r.get(k, 0) for k in keys}} for r in per_room.values()]
    rows.sort(key=lambda r: str(r["room"]))
    total = {k: sum(int(r[k]) for r in rows) for k in keys}
    return [*rows, {"room": i18n.t(locale, "report.total"), **total}]


def quality_rows(
    locale: Locale,
    rejected: list[dict[str, Any]],
    dropped: dict[str, int],
    figures: dict[str, Any],
    bins: list[dict[str, Any]],
    month: Period,
    timezone: str,
) -> list[dict[str, Any]]:
    """What the month's data is worth: messages refused by reason (the overview's daily
    counts, summed), those past the quarantine's cap, sequence gaps (lost, filled late:
    `/metrics`), bins offline now and bins with no report since the month began
    (`/bins`). Pure."""
    by_reason: dict[str, int] = defaultdict(int)
    for r in rejected:
        by_reason[str(r["reason"])] += int(r["count"])
    rows: list[dict[str, Any]] = [
        {"item": i18n.t(locale, "report.quality.rejected"), "detail": reason, "count": n}
        for reason, n in sorted(by_reason.items())
    ]
    rows += [
        {"item": i18n.t(locale, "report.quality.dropped"), "detail": reason, "count": n}
        for reason, n in sorted(dropped.items())
    ]
    for key in ("seqs_lost", "seqs_filled_late"):
        rows.append({"item": i18n.t(locale, f"report.quality.{key}"), "count": figures[key]})
    offline = [b for b in bins if not b["online"]]
    rows.append(
        {
            "item": i18n.t(locale, "report.quality.bin_offline"),
            "detail": ", ".join(f"{b['room']}/{b['id']}" for b in offline),
            "count": len(offline),
        }
    )
    since = datetime.combine(month.start, datetime.min.time(), tzinfo=ZoneInfo(timezone))
    silent = [b for b in bins if b["last_seen"] is None or b["last_seen"] < since]
    rows.append(
        {
            "item": i18n.t(locale, "report.quality.bin_silent"),
            "detail": ", ".join(f"{b['room']}/{b['id']}" for b in silent),
            "count": len(silent),
        }
    )
    return rows


async def estate_sheets(
    conn: Any,
    estate: dict[str, Any],
    month: Period,
    targets: dict[str, float],
    locale: Locale,
) -> dict[str, list[dict[str, Any]]]:
    """{sheet name: rows} of one estate for `month`."""
    eid, (start, end) = str(estate["id"]), (month.start, month.end)
    prev = previous_month(month)
    current = service.estate_metrics(
        (await metrics.estates_rows(conn, [eid], start, end))[0], start, end
    )
    before = service.estate_metrics(
        (await metrics.estates_rows(conn, [eid], prev.start, prev.end))[0], prev.start, prev.end
    )
    checks = (
        await inspections.estate_accuracy(conn, eid, start, end),
        await inspections.estate_accuracy(conn, eid, prev.start, prev.end),
    )
    days = service.daily(eid, await metrics.daily_rows(conn, eid, start, end), start, end)
    units = service.buildings(eid, await metrics.building_rows(conn, eid, start, end), start, end)
    accuracy = await inspections.accuracy(conn, eid, start, end)
    listed = await inspection_rows.list_inspections(conn, eid, start, end)
    slots = await roster.estate_slots(conn, eid)
    held = await shifts.shifts_between(conn, eid, start, end)
    rejected = await repository.rejected_daily(conn, eid, start, end)
    _, _, dropped = await operations.rejected(conn, [eid], None, 1)
    bins = await operations.bins(conn, eid)
    return {
        "figures": figure_rows(locale, current, before, checks, targets),
        "daily": [
            {
                **{c.key: d.get(c.key) for c in DAILY_COLUMNS},
                **{f"kg_{c}": d["kg"][c] for c in CATEGORIES},
            }
            for d in days["days"]
        ],
        "buildings": [{"building": b["building"], **_unit_row(b)} for b in units["buildings"]],
        "groups": [
            {"building": b["building"], "building_group": g["building_group"], **_unit_row(g)}
            for b in units["buildings"]
            for g in b["groups"]
        ],
        "inspections": inspection_rows_of(locale, accuracy, listed),
        "roster": roster_rows(locale, slots, held),
        "quality": quality_rows(
            locale, rejected, dropped, current, bins, month, str(estate["timezone"])
        ),
    }


COLUMNS: dict[str, list[Column]] = {
    "figures": FIGURE_COLUMNS,
    "daily": DAILY_COLUMNS,
    "buildings": BUILDING_COLUMNS,
    "groups": GROUP_COLUMNS,
    "inspections": INSPECTION_COLUMNS,
    "roster": ROSTER_COLUMNS,
    "quality": QUALITY_COLUMNS,
}


async def estate_report(
    conn: Any, estate: dict[str, Any], month: Period, targets: dict[str, float], locale: Locale
) -> list[Sheet]:
    """The workbook's sheets for one estate."""
    rows = await estate_sheets(conn, estate, month, targets, locale)
    return [Sheet(name, COLUMNS[name], rows[name]) for name in SHEETS]


async def district_report(
    conn: Any,
    estates: list[dict[str, Any]],
    month: Period,
    targets: dict[str, float],
    locale: Locale,
) -> list[Sheet]:
    """The sheets of several estates: each estate's rows under an estate column, and on
    the figures sheet the estates together (ratios of the summed counts: `/metrics`)."""
    ids = [str(e["id"]) for e in estates]
    prev = previous_month(month)
    combined: dict[str, list[dict[str, Any]]] = {name: [] for name in SHEETS}
    for e in estates:
        for name, rows in (await estate_sheets(conn, e, month, targets, locale)).items():
            combined[name] += [{"estate": e["id"], **r} for r in rows]
    if ids:
        now = service.multi_metrics(
            await metrics.estates_rows(conn, ids, month.start, month.end), month.start, month.end
        )["totals"]
        then = service.multi_metrics(
            await metrics.estates_rows(conn, ids, prev.start, prev.end), prev.start, prev.end
        )["totals"]
        # Accuracy has no district total in the API: the figures sheet's total has none.
        empty = {"accuracy": None, "inspected": 0}
        total = [
            r
            for r in figure_rows(locale, now, then, (empty, empty), targets)
            if r["figure"]
            not in (
                i18n.t(locale, "report.figure.accuracy"),
                i18n.t(locale, "report.figure.inspected"),
            )
        ]
        combined["figures"] += [{"estate": i18n.t(locale, "report.total"), **r} for r in total]
    return [Sheet(name, [ESTATE, *COLUMNS[name]], combined[name]) for name in SHEETS]


# -- the workbook --------------------------------------------------------------------------


def _cell_value(column: Column, value: Any, locale: Locale) -> Any:
    if column.kind == "bool" and value is not None:
        return i18n.t(locale, "yes" if value else "no")
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.replace(tzinfo=None)  # Excel has no time zones
    return value


def workbook(sheets: list[Sheet], locale: Locale) -> bytes:
    """The sheets as one .xlsx: a header row each, typed cells with number formats, no
    cell a spreadsheet would evaluate."""
    book = Workbook()
    first = book.active
    assert first is not None
    book.remove(first)
    for sheet in sheets:
        ws = book.create_sheet(i18n.t(locale, f"report.sheet.{sheet.name}")[:31])
        ws.append([i18n.t(locale, c.label) for c in sheet.columns])
        for row in sheet.rows:
            ws.append([_cell_value(c, row.get(c.key), locale) for c in sheet.columns])
            kinds: list[Kind] = [
                row.get("_kind", c.kind) if c.kind == "pct" else c.kind for c in sheet.columns
            ]
            for xl_cell, kind in zip(ws[ws.max_row], kinds, strict=True):
                if kind in _FORMATS:
                    xl_cell.number_format = _FORMATS[kind]
        for xl_row in ws.iter_rows():
            for xl_cell in xl_row:
                if is_formula(xl_cell.value):
                    # openpyxl stores text starting with "=" as a formula: keep it text.
                    xl_cell.data_type = "s"
                    xl_cell.quotePrefix = True
        ws.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
