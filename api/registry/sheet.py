"""A committee's household sheet (CSV or Excel) → validated households or rejected rows.

A sheet is bounded before it is read: its size on disk, and for an .xlsx what it
unpacks to and how many rows, columns and cells its first sheet holds
(`api.registry.xlsx_scan`), so a small file that declares a huge sheet is refused in
well under a second instead of being filled in cell by cell. A CSV is counted as it
is parsed and refused at the first bound exceeded.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path

from pydantic import ValidationError

from api.errors import Invalid, TooLarge
from api.registry import xlsx_scan
from api.registry.schemas import HouseholdIn

MIB = 1024 * 1024

# Header spellings seen on committee sheets → field names.
ALIASES = {
    "id": "id",
    "household": "id",
    "token": "id",
    "户号": "id",
    "building": "building",
    "楼号": "building",
    "楼": "building",
    "building_group": "building_group",
    "group": "building_group",
    "楼组": "building_group",
    "enrolled_on": "enrolled_on",
    "enrolled": "enrolled_on",
    "入户日期": "enrolled_on",
    "left_on": "left_on",
    "left": "left_on",
    "退出日期": "left_on",
    "effective_on": "effective_on",
    "effective": "effective_on",
    "生效日期": "effective_on",
    "display_name": "display_name",
    "公示名称": "display_name",
    "publish_consent": "publish_consent",
    "consent": "publish_consent",
    "公示同意": "publish_consent",
}
# How sheets say yes and no in a consent column (anything else is a rejected row):
# the flag itself, as the body's JSON takes only true or false.
CONSENT_WORDS: dict[str, bool] = {
    "yes": True,
    "y": True,
    "true": True,
    "1": True,
    "是": True,
    "同意": True,
    "no": False,
    "n": False,
    "false": False,
    "0": False,
    "否": False,
    "不同意": False,
}
REQUIRED = ("id", "building")


@dataclass(frozen=True)
class RejectedRow:
    """A sheet row that cannot be imported; `line` counts the header as line 1."""

    line: int
    reason: str


@dataclass(frozen=True)
class Sheet:
    """The valid households and the rejected rows of one sheet."""

    households: list[HouseholdIn]
    rejected: list[RejectedRow]
    # The sheet line of each of `households` (the header is line 1).
    lines: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SheetLimits:
    """What one sheet may hold (ApiSettings' FENLEI_IMPORT_* build it for the CLI).

    The defaults take the API's 50,000 households per call with room to spare: such a
    sheet is about 2 MB as .xlsx (15 MB unpacked) and 5 MB as CSV.
    """

    max_bytes: int = 20 * MIB
    max_unpacked_bytes: int = 100 * MIB
    max_rows: int = 50_000  # households, the header row not counted
    max_columns: int = 64
    max_cells: int = 1_000_000
    max_field_chars: int = 1_000


def _too_large(path: Path, why: str) -> TooLarge:
    return TooLarge(f"{path.name} is too large to import: {why} (see FENLEI_IMPORT_* settings)")


def _cell_text(value: object) -> str:
    """A cell as the text a CSV would hold (what the row validation expects)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat(" ")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a building typed as 12 is stored as 12.0
    return str(value)


def _xlsx_rows(path: Path, limits: SheetLimits) -> Iterator[list[str]]:
    bounds = xlsx_scan.Bounds(
        unpacked_bytes=limits.max_unpacked_bytes,
        rows=limits.max_rows + 1,
        columns=limits.max_columns,
        cells=limits.max_cells,
    )
    try:
        xlsx_scan.scan(str(path), bounds)
    except xlsx_scan.Exceeded as exc:
        raise _too_large(path, str(exc)) from None
    except xlsx_scan.Malformed as exc:
        raise Invalid(f"{path.name} cannot be read: {exc}") from None
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, KeyError, ValueError, OSError, zipfile.BadZipFile) as exc:
        raise Invalid(f"{path.name} cannot be read as an Excel sheet: {exc}") from None
    try:
        sheet = book.worksheets[0]
        # Rows as stored, not padded to the extent the sheet declares.
        sheet.reset_dimensions()
        for row in sheet.iter_rows(values_only=True):
            yield [_cell_text(v) for v in row]
    finally:
        book.close()


def _csv_rows(path: Path) -> Iterator[list[str]]:
    try:
        text = path.read_bytes().decode("utf-8-sig")  # Excel writes a BOM on "CSV UTF-8"
    except UnicodeDecodeError as exc:
        raise Invalid(
            f'{path.name} is not UTF-8 (byte {exc.start:,}): save it as "CSV UTF-8"'
        ) from None
    reader = csv.reader(io.StringIO(text))
    try:
        yield from reader
    except csv.Error as exc:
        raise Invalid(f"{path.name}, line {reader.line_num}: {exc}") from None


def _bounded(path: Path, rows: Iterable[list[str]], limits: SheetLimits) -> Iterator[list[str]]:
    """The rows, refused at the first one past a bound (the header is line 1)."""
    cells = 0
    for line, row in enumerate(rows, start=1):
        if line > limits.max_rows + 1:
            raise _too_large(path, f"more than {limits.max_rows:,} rows after the header")
        while row and not row[-1]:
            row.pop()  # trailing empty cells: nothing to count
        if len(row) > limits.max_columns:
            raise _too_large(
                path, f"line {line} has {len(row):,} columns; at most {limits.max_columns:,}"
            )
        cells += len(row)
        if cells > limits.max_cells:
            raise _too_large(path, f"more than {limits.max_cells:,} cells")
        longest = max((len(v) for v in row), default=0)
        if longest > limits.max_field_chars:
            raise _too_large(
                path,
                f"line {line} has a cell of {longest:,} characters; "
                f"at most {limits.max_field_chars:,}",
            )
        yield row


def _as_records(rows: Iterable[Sequence[str]]) -> tuple[list[dict[str, str]], list[int]]:
    """Rows under their header, with their sheet lines; empty rows skipped (as
    csv.DictReader does), cells past the header's columns ignored (like columns the
    import does not know)."""
    it = iter(rows)
    header = next(it, None)
    if header is None:
        return [], []
    names = [str(h) for h in header]
    records: list[dict[str, str]] = []
    lines: list[int] = []
    for line, row in enumerate(it, start=2):
        if any(row):
            records.append({name: (row[i] if i < len(row) else "") for i, name in enumerate(names)})
            lines.append(line)
    return records, lines


def read_records(path: Path, limits: SheetLimits) -> tuple[list[dict[str, str]], list[int]]:
    """A CSV or .xlsx sheet's rows as {header: cell} records and their line numbers,
    bounded by `limits` before it is read whole (TooLarge past them). Any sheet import
    (households, volunteers) reads through here."""
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise _too_large(path, f"{size:,} bytes; at most {limits.max_bytes:,}")
    xlsx = path.suffix.lower() in (".xlsx", ".xlsm")
    rows = _xlsx_rows(path, limits) if xlsx else _csv_rows(path)
    return _as_records(_bounded(path, rows, limits))


def parse_rows(records: list[dict[str, str]], line_numbers: list[int] | None = None) -> Sheet:
    """Validate every row; none is dropped silently (each invalid one is a RejectedRow).

    `line_numbers` are the records' lines on the sheet (default: 2, 3, … after the header).
    """
    households: list[HouseholdIn] = []
    rejected: list[RejectedRow] = []
    lines: list[int] = []
    seen: dict[str, int] = {}
    if records:
        headers = {ALIASES.get(h.strip().lower(), ALIASES.get(h.strip(), "")) for h in records[0]}
        missing = [c for c in REQUIRED if c not in headers]
        if missing:
            return Sheet([], [RejectedRow(1, f"missing column(s): {', '.join(missing)}")])
    numbers = line_numbers or list(range(2, len(records) + 2))
    for line, record in zip(numbers, records, strict=True):
        fields: dict[str, str | bool | None] = {}
        for header, value in record.items():
            name = ALIASES.get((header or "").strip().lower(), ALIASES.get((header or "").strip()))
            if name is not None:
                value = (value or "").strip()
                if name == "publish_consent" and value.lower() in CONSENT_WORDS:
                    fields[name] = CONSENT_WORDS[value.lower()]
                else:
                    fields[name] = value or None
        try:
            household = HouseholdIn.model_validate(fields)
        except ValidationError as exc:
            reason = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'row'}: {e['msg']}" for e in exc.errors()
            )
            rejected.append(RejectedRow(line, reason))
            continue
        if household.id in seen:
            first = seen[household.id]
            rejected.append(RejectedRow(line, f"id {household.id!r} repeats line {first}"))
            continue
        seen[household.id] = line
        households.append(household)
        lines.append(line)
    return Sheet(households, rejected, lines)


def read_sheet(path: Path, limits: SheetLimits | None = None) -> Sheet:
    """Read and validate a CSV (UTF-8) or Excel (.xlsx) household sheet; TooLarge
    (before reading it whole) when it exceeds `limits`."""
    return parse_rows(*read_records(path, limits or SheetLimits()))
