"""Cells a spreadsheet would evaluate: the one rule every export (CSV, Excel) follows."""

from __future__ import annotations

# What makes Excel, LibreOffice or Sheets read a cell as a formula (OWASP's list).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def is_formula(value: object) -> bool:
    """A text a spreadsheet would run as a formula (numbers never are)."""
    return isinstance(value, str) and value.startswith(FORMULA_STARTS)


def defused(value: object) -> object:
    """The value, with a leading `'` when it is text a spreadsheet would evaluate."""
    return "'" + value if isinstance(value, str) and is_formula(value) else value
