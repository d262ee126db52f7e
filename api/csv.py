"""Figures as CSV (`?format=csv`): one flat row per record, a header from the first row."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from fastapi import Query
from fastapi.responses import Response

from fenlei.spreadsheet import defused

Format = Literal["json", "csv"]
FORMAT_QUERY = Query(description="`csv` for a spreadsheet-ready answer")


def csv_response(rows: Iterable[Mapping[str, Any]], filename: str) -> Response:
    """A text/csv attachment; None is written as an empty cell, and text a spreadsheet
    would evaluate (a building named "=1+1") gets a leading `'`."""
    rows = list(rows)
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0].keys()), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else defused(v) for k, v in row.items()})
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
