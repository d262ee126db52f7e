"""The committee's volunteer sheet (Excel .xlsx or CSV) → volunteers, all or none.

The file is bounded before it is read exactly as the household import bounds its sheet
(`api.registry.sheet`: its size, and for an .xlsx what it unpacks to and the rows,
columns and cells of its first sheet, from the zip and a streaming scan), with at most
`MAX_ROWS` volunteers. Columns by header (Chinese or English, any order): name (姓名),
phone (电话), building (楼组/楼号), weekly availability (每周可值班时间, in the words of
`api.volunteers.availability_text`), and optionally kind (类型). Every row is checked;
one bad row refuses the sheet, and each problem is listed with its line (the header is
line 1), column and reason code.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from api.registry.sheet import SheetLimits
from api.registry.sheet import read_records as bounded_records
from api.volunteers import form_input
from api.volunteers.form_input import FieldError
from api.volunteers.schemas import VolunteerIn

MAX_ROWS = 2_000
MAX_BYTES = 5 * 1024 * 1024
ALIASES = {
    "name": "name",
    "姓名": "name",
    "名字": "name",
    "志愿者": "name",
    "phone": "contact",
    "contact": "contact",
    "mobile": "contact",
    "电话": "contact",
    "手机": "contact",
    "手机号": "contact",
    "联系电话": "contact",
    "联系方式": "contact",
    "building": "building",
    "building group": "building",
    "building_group": "building",
    "building group/building": "building",
    "楼组/楼号": "building",
    "楼组": "building",
    "楼号": "building",
    "楼": "building",
    "availability": "availability",
    "weekly availability": "availability",
    "每周可值班时间": "availability",
    "可值班时间": "availability",
    "值班时间": "availability",
    "kind": "kind",
    "类型": "kind",
    "身份": "kind",
}
REQUIRED = ("name",)


@dataclass(frozen=True, slots=True)
class RowError:
    """A problem of the sheet: `line` counts the header as line 1; `column` is the
    header as written (or the field name when the column is missing); `code` as in
    `form_input.FieldError`, or missing_column, duplicate (values: line), exists, empty."""

    line: int
    column: str
    code: str
    values: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class VolunteerSheet:
    """The sheet's volunteers with their lines, or its problems (then no volunteers)."""

    volunteers: list[tuple[int, VolunteerIn]]
    errors: list[RowError]


def limits(base: SheetLimits) -> SheetLimits:
    """The household import's bounds (FENLEI_IMPORT_*), no larger than a volunteer
    sheet needs."""
    return replace(
        base, max_rows=min(base.max_rows, MAX_ROWS), max_bytes=min(base.max_bytes, MAX_BYTES)
    )


def _field(header: str) -> str | None:
    h = " ".join(header.strip().split())
    return ALIASES.get(h.lower(), ALIASES.get(h))


def check(
    records: list[dict[str, str]], lines: list[int], existing: set[tuple[str, str]]
) -> VolunteerSheet:
    """Check every row; `existing` are the (name, contact) already registered."""
    if not records:
        return VolunteerSheet([], [RowError(1, "", "empty")])
    columns = {h: _field(h) for h in records[0]}
    header_of = {f: h for h, f in columns.items() if f is not None}
    missing = [f for f in REQUIRED if f not in header_of]
    if missing:
        return VolunteerSheet([], [RowError(1, m, "missing_column") for m in missing])
    errors: list[RowError] = []
    found: list[tuple[int, VolunteerIn]] = []
    seen: dict[tuple[str, str], int] = {}
    for line, record in zip(lines, records, strict=True):
        values = {f: record.get(h, "") for f, h in header_of.items()}
        result = form_input.volunteer_in(values)
        if isinstance(result, list):
            errors += [_row_error(line, e, header_of) for e in result]
            continue
        key = (result.name, result.contact or "")
        if key in existing:
            errors.append(RowError(line, header_of["name"], "exists"))
        elif key in seen:
            errors.append(RowError(line, header_of["name"], "duplicate", {"line": str(seen[key])}))
        else:
            seen[key] = line
            found.append((line, result))
    return VolunteerSheet([] if errors else found, errors)


def _row_error(line: int, error: FieldError, header_of: dict[str, str]) -> RowError:
    return RowError(line, header_of.get(error.field, error.field), error.code, error.values)


def read(path: Path, sheet_limits: SheetLimits) -> tuple[list[dict[str, str]], list[int]]:
    """The sheet's rows under their header and their lines, bounded by `sheet_limits`
    before it is read (TooLarge, or Invalid when it is no readable sheet)."""
    return bounded_records(path, sheet_limits)
