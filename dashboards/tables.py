"""A table once, three ways: HTML (locale-formatted), CSV and Excel (raw values).

Exports are formula-safe: a text cell that a spreadsheet would read as a formula (a
registry value such as a display name "=HYPERLINK(…)", a household id "-1+2") is never
evaluated. In CSV it gets a leading `'` (OWASP's rule, as `fenlei devices provision`
writes its CSV); in Excel it is a text cell with Excel's quote prefix, its text unchanged.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from html import escape
from typing import Any, Literal

from openpyxl import Workbook

from dashboards import i18n
from dashboards.i18n import Locale
from fenlei.spreadsheet import defused, is_formula

Kind = Literal[
    "text", "int", "kg", "pct", "date", "datetime", "bool", "category", "alarm", "reason"
]
# Columns of stored codes, by their label, for tables that declare them as text: their
# values are shown (and exported) as words, never as `sensor_fault` or `bad_json`.
_CODE_LABELS: dict[str, Kind] = {"col.last_alarm": "alarm", "col.reason": "reason"}
# What Excel refuses in a sheet's name, and its longest name.
_SHEET_FORBIDDEN = str.maketrans({c: " " for c in "[]:*?/\\"})
_SHEET_MAX = 31
_XLSX_FORMATS: dict[str, str] = {
    "int": "#,##0",
    "kg": "#,##0.0",
    "pct": "0.00%",
    "date": "yyyy-mm-dd",
    "datetime": "yyyy-mm-dd hh:mm",
}


@dataclass(frozen=True, slots=True)
class Column:
    """A column: its key in the rows, its label key and how its values are shown."""

    key: str
    label: str
    kind: Kind = "text"

    @property
    def shown_as(self) -> Kind:
        """The kind the values are shown as (a code column declared as text: its codes)."""
        return _CODE_LABELS.get(self.label, self.kind) if self.kind == "text" else self.kind


@dataclass(slots=True)
class Table:
    """Named rows with typed columns; `name` is its export name."""

    name: str
    title: str
    columns: list[Column]
    rows: list[dict[str, Any]] = field(default_factory=list)


def cell(locale: Locale, kind: Kind, value: Any) -> str:
    """One value formatted for a person reading `locale`."""
    if value is None:
        return "–"
    formatters: dict[str, Callable[[Any], str]] = {
        "int": lambda v: i18n.number(v),
        "kg": lambda v: i18n.number(v, 1),
        "pct": lambda v: i18n.percent(v),
        "date": lambda v: i18n.day(locale, v),
        "datetime": lambda v: i18n.moment(locale, v),
        "bool": lambda v: i18n.t(locale, "yes" if v else "no"),
        "category": lambda v: i18n.t(locale, f"cat.{v}"),
        "alarm": lambda v: i18n.code(locale, "alarm", v),
        "reason": lambda v: i18n.code(locale, "reason", v),
    }
    return formatters.get(kind, str)(value)


def _sort_key(kind: Kind, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def to_html(
    table: Table, locale: Locale, export_href: str | None = None, fold_after: int | None = None
) -> str:
    """A sortable <table> (click a header) with its export links; with more rows than
    `fold_after`, its rows are folded in a <details> the reader opens (no script).

    A folded table costs the browser only its parsing: a closed <details>' content gets
    no style, layout or paint. A year's 365-row daily table, rendered, was a third of
    the overview's time to a drawn page on a phone (bench/results/dashboards.md).
    """
    head = "".join(
        f'<th data-kind="{c.kind}" scope="col">{escape(i18n.t(locale, c.label))}</th>'
        for c in table.columns
    )
    body = []
    for row in table.rows:
        cells = "".join(
            f'<td data-sort="{escape(_sort_key(c.kind, row.get(c.key)))}"'
            f"{' class=num' if c.kind in ('int', 'kg', 'pct') else ''}>"
            f"{escape(cell(locale, c.shown_as, row.get(c.key)))}</td>"
            for c in table.columns
        )
        body.append(f"<tr>{cells}</tr>")
    links = ""
    if export_href is not None:
        sep = "&" if "?" in export_href else "?"
        links = (
            f'<span class="exports"><a class="export" data-format="csv" '
            f'href="{escape(export_href)}{sep}format=csv">{i18n.t(locale, "export.csv")}</a>'
            f' <a class="export" data-format="xlsx" href="{escape(export_href)}{sep}'
            f'format=xlsx">{i18n.t(locale, "export.xlsx")}</a></span>'
        )
    rows = (
        f'<div class="scroll"><table class="sortable"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )
    if fold_after is not None and len(table.rows) > fold_after:
        shown = i18n.t(locale, "table.show_rows", n=i18n.number(len(table.rows)))
        rows = f'<details class="rows"><summary>{escape(shown)}</summary>{rows}</details>'
    return (
        f'<section class="table" id="table-{table.name}"><h2>{escape(table.title)}{links}'
        f"</h2>{rows}</section>"
    )


def _export_value(column: Column, value: Any, locale: Locale) -> Any:
    """Numbers and dates stay typed; words (categories, codes, yes/no) in the locale."""
    if value is not None and column.shown_as in ("category", "alarm", "reason", "bool"):
        return cell(locale, column.shown_as, value)
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.replace(tzinfo=None)  # Excel has no time zones; shown in local time
    return value


def csv_cell(value: Any) -> Any:
    """A CSV cell no spreadsheet evaluates: formula-like text gets a leading `'`."""
    return "" if value is None else defused(value)


def to_csv(table: Table, locale: Locale) -> bytes:
    """UTF-8 CSV with a BOM (so Excel opens Chinese headers correctly), raw values."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([csv_cell(i18n.t(locale, c.label)) for c in table.columns])
    for row in table.rows:
        writer.writerow([csv_cell(_export_value(c, row.get(c.key), locale)) for c in table.columns])
    return b"\xef\xbb\xbf" + out.getvalue().encode()


def sheet_name(table: Table) -> str:
    """The worksheet's name: the table's title, in the export's language (Excel's rules:
    no `[]:*?/\\`, at most 31 characters); its export name when the title has none left."""
    name = table.title.translate(_SHEET_FORBIDDEN).strip(" '")[:_SHEET_MAX].strip(" '")
    return name or table.name[:_SHEET_MAX]


def to_xlsx(table: Table, locale: Locale) -> bytes:
    """One worksheet with typed cells and number formats (percent, kg, dates)."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = sheet_name(table)
    sheet.append([i18n.t(locale, c.label) for c in table.columns])
    for row in table.rows:
        sheet.append([_export_value(c, row.get(c.key), locale) for c in table.columns])
    for xl_row in sheet.iter_rows():
        for xl_cell in xl_row:
            if is_formula(xl_cell.value):
                # openpyxl stores text starting with "=" as a formula: keep it text.
                xl_cell.data_type = "s"
                xl_cell.quotePrefix = True
    for index, column in enumerate(table.columns, start=1):
        number_format = _XLSX_FORMATS.get(column.kind)
        if number_format:
            for (xl_cell,) in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
                xl_cell.number_format = number_format
    sheet.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
