"""A committee's household sheet (CSV or Excel) → validated households or rejected rows."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from api.registry.schemas import HouseholdIn

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
# How sheets say yes and no in a consent column (anything else is a rejected row).
CONSENT_WORDS = {
    "yes": "true",
    "y": "true",
    "true": "true",
    "1": "true",
    "是": "true",
    "同意": "true",
    "no": "false",
    "n": "false",
    "false": "false",
    "0": "false",
    "否": "false",
    "不同意": "false",
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


def _records(path: Path) -> list[dict[str, str]]:
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        import pandas as pd

        frame = pd.read_excel(path, dtype=str, keep_default_na=False)
        return [{str(k): str(v) for k, v in r.items()} for r in frame.to_dict("records")]
    text = path.read_bytes().decode("utf-8-sig")  # Excel writes a BOM on "CSV UTF-8"
    return list(csv.DictReader(io.StringIO(text)))


def parse_rows(records: list[dict[str, str]]) -> Sheet:
    """Validate every row; none is dropped silently (each invalid one is a RejectedRow)."""
    households: list[HouseholdIn] = []
    rejected: list[RejectedRow] = []
    lines: list[int] = []
    seen: dict[str, int] = {}
    if records:
        headers = {ALIASES.get(h.strip().lower(), ALIASES.get(h.strip(), "")) for h in records[0]}
        missing = [c for c in REQUIRED if c not in headers]
        if missing:
            return Sheet([], [RejectedRow(1, f"missing column(s): {', '.join(missing)}")])
    for line, record in enumerate(records, start=2):
        fields: dict[str, str | None] = {}
        for header, value in record.items():
            name = ALIASES.get((header or "").strip().lower(), ALIASES.get((header or "").strip()))
            if name is not None:
                value = (value or "").strip()
                if name == "publish_consent" and value:
                    value = CONSENT_WORDS.get(value.lower(), value)
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


def read_sheet(path: Path) -> Sheet:
    """Read and validate a CSV (UTF-8) or Excel (.xlsx) household sheet."""
    return parse_rows(_records(path))
