"""Household sheets are bounded before they are read (#14): file size, what an .xlsx
unpacks to, rows, columns, cells and the longest cell, for .xlsx and CSV alike.

The headline case is the 4.9 KB .xlsx with one cell at XFD1048576, which made
`fenlei registry import` grow to 22.7 GB: it is run as a user runs it, as a
subprocess, and must be refused with a clear message in under a second and 200 MB.
Pure: nothing here reaches the database (the refusal comes before any connection).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import openpyxl
import pytest

from api.errors import Invalid, TooLarge
from api.registry.sheet import SheetLimits, read_sheet

FENLEI = Path(sys.executable).with_name("fenlei")
# The child's address space: generous for Python, far below what filling the sheet
# in would take, so the unfixed import fails fast instead of swapping the machine.
CHILD_ADDRESS_SPACE = 3 * 1024**3

# Runs one command and reports its wall time and peak RSS as its parent sees them:
# RUSAGE_CHILDREN of a fresh process covers exactly that one child.
MEASURE = textwrap.dedent(
    """
    import json, resource, subprocess, sys, time
    limit = int(sys.argv[1])
    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    start = time.monotonic()
    try:
        done = subprocess.run(sys.argv[2:], capture_output=True, text=True, timeout=60,
                              preexec_fn=cap)
        rc, out, err = done.returncode, done.stdout, done.stderr
    except subprocess.TimeoutExpired:
        rc, out, err = "timeout", "", ""
    wall = time.monotonic() - start
    rss_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(json.dumps({"rc": rc, "out": out, "err": err, "wall_s": wall, "rss_mb": rss_kb / 1024}))
    """
)


def run_import(sheet: Path, tmp_path: Path, **settings: str) -> dict[str, object]:
    """`fenlei registry import SHEET` in a clean environment, measured."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FENLEI_")}
    # Never reached: the sheet is refused before any connection is made.
    env["FENLEI_DATABASE_URL"] = "postgresql://nobody@127.0.0.1:9/none"
    env["FENLEI_HOME"] = str(tmp_path)  # no services.env there: nothing read by accident
    env.update({f"FENLEI_{k.upper()}": v for k, v in settings.items()})
    command = [str(FENLEI), "registry", "import", str(sheet), "--estate", "jjq"]
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, str(CHILD_ADDRESS_SPACE), *command],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


def sparse_xlsx(path: Path) -> Path:
    """A header and one cell at the sheet's very last position, XFD1048576 (~4.9 KB)."""
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["id", "building"])
    sheet["XFD1048576"] = "x"
    book.save(path)
    return path


def test_the_sparse_xlsx_is_refused_in_under_a_second_and_200_mb(tmp_path: Path) -> None:
    sheet = sparse_xlsx(tmp_path / "sparse.xlsx")
    assert sheet.stat().st_size < 6_000, sheet.stat().st_size
    with zipfile.ZipFile(sheet) as z:  # the case: one cell, declared at the very end
        assert b"XFD1048576" in z.read("xl/worksheets/sheet1.xml")
    result = run_import(sheet, tmp_path)
    assert result["rc"] == 1, result
    err = str(result["err"])
    assert "sparse.xlsx is too large to import" in err, err
    assert "row 1,048,576" in err and "50,000 rows" in err, err
    assert "Traceback" not in err, err
    wall, rss = float(str(result["wall_s"])), float(str(result["rss_mb"]))
    print(f"sparse xlsx refused in {wall:.3f} s, peak RSS {rss:.1f} MB")
    assert wall < 1.0, result
    assert rss < 200, result


def test_a_csv_past_its_bounds_is_refused_by_the_cli(tmp_path: Path) -> None:
    sheet = tmp_path / "households.csv"
    sheet.write_text("id,building\n" + "".join(f"h{i},1\n" for i in range(11)), encoding="utf-8")
    result = run_import(sheet, tmp_path, import_max_rows="10")
    assert result["rc"] == 1, result
    assert "households.csv is too large to import: more than 10 rows" in str(result["err"])
    big = tmp_path / "big.csv"
    big.write_text("id,building\n" + "h1," + "x" * 5_000 + "\n", encoding="utf-8")
    result = run_import(big, tmp_path, import_max_bytes="4096")
    assert result["rc"] == 1 and "5,016 bytes; at most 4,096" in str(result["err"]), result


def limits(**changes: int) -> SheetLimits:
    base = {
        "max_bytes": 1_000_000,
        "max_unpacked_bytes": 5_000_000,
        "max_rows": 100,
        "max_columns": 8,
        "max_cells": 300,
        "max_field_chars": 200,
    }
    base.update(changes)
    return SheetLimits(**base)


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    path.write_text("\n".join(",".join(r) for r in rows) + "\n", encoding="utf-8")
    return path


HEADER = ["id", "building"]


@pytest.mark.parametrize(
    ("rows", "changes", "message"),
    [
        ([HEADER] + [[f"h{i}", "1"] for i in range(101)], {}, "more than 100 rows"),
        ([HEADER, ["h1", "1", *"abcdefg"]], {}, "line 2 has 9 columns; at most 8"),
        ([HEADER] + [[f"h{i}", "1", "x"] for i in range(40)], {"max_cells": 100}, "100 cells"),
        ([HEADER, ["h1", "y" * 201]], {}, "line 2 has a cell of 201 characters; at most 200"),
        ([HEADER, ["h1", "1"]], {"max_bytes": 10}, "bytes; at most 10"),
    ],
)
def test_csv_bounds(
    tmp_path: Path, rows: list[list[str]], changes: dict[str, int], message: str
) -> None:
    sheet = write_csv(tmp_path / "s.csv", rows)
    with pytest.raises(TooLarge, match=message):
        read_sheet(sheet, limits(**changes))


def test_csv_within_bounds_reads_as_before(tmp_path: Path) -> None:
    rows = [HEADER] + [[f"h{i}", str(i)] for i in range(100)]
    sheet = read_sheet(write_csv(tmp_path / "s.csv", rows), limits())
    assert [(h.id, h.building) for h in sheet.households] == [(r[0], r[1]) for r in rows[1:]]
    # A field longer than the csv module's own limit is a clear refusal, not a traceback.
    huge = write_csv(tmp_path / "huge.csv", [HEADER, ["h1", "z" * 200_000]])
    with pytest.raises((TooLarge, Invalid), match=r"huge\.csv"):
        read_sheet(huge, limits(max_field_chars=10**6))
    latin = tmp_path / "latin.csv"
    latin.write_bytes("id,building\nh1,b\xe9\n".encode("latin-1"))
    with pytest.raises(Invalid, match="not UTF-8"):
        read_sheet(latin, limits())


def xlsx(path: Path, rows: Sequence[Sequence[object]]) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def test_xlsx_within_bounds_reads_cells_as_text(tmp_path: Path) -> None:
    rows: list[list[object]] = [
        ["户号", "楼号", "入户日期", "公示同意"],
        ["h1", 12, date(2026, 3, 1), True],
        [None, None, None, None],  # an empty row is skipped, as in a CSV
        ["h2", "3", "2026-03-02", "否"],
    ]
    sheet = read_sheet(xlsx(tmp_path / "ok.xlsx", rows), limits())
    assert sheet.rejected == []
    got = [(h.id, h.building, h.enrolled_on, h.publish_consent) for h in sheet.households]
    assert got == [("h1", "12", date(2026, 3, 1), True), ("h2", "3", date(2026, 3, 2), False)]
    assert sheet.lines == [2, 4]


def test_xlsx_bounds_hold_even_when_the_sheet_lies_about_its_size(tmp_path: Path) -> None:
    too_wide = xlsx(tmp_path / "wide.xlsx", [HEADER, ["h1", "1", *"abcdefg"]])
    with pytest.raises(TooLarge, match=r"column 9 \(declared A1:I2\); at most 8 columns"):
        read_sheet(too_wide, limits())
    too_long = xlsx(tmp_path / "long.xlsx", [HEADER] + [[f"h{i}", "1"] for i in range(101)])
    with pytest.raises(TooLarge, match="row 102; at most 100 rows after the header"):
        read_sheet(too_long, limits())
    # The same sheets with a dimension that claims A1:B2: the cells themselves count.
    for path, message in (
        (too_wide, r"column 9 \(cell I2\)"),
        (too_long, "row 102; at most 100 rows"),
    ):
        liar = rewrite_member(path, tmp_path / f"liar-{path.name}", dimension="A1:B2")
        with pytest.raises(TooLarge, match=message):
            read_sheet(liar, limits())
    many = xlsx(tmp_path / "cells.xlsx", [HEADER] + [[f"h{i}", "1", "x"] for i in range(40)])
    with pytest.raises(TooLarge, match="more than 100 cells"):
        read_sheet(many, limits(max_cells=100))


def rewrite_member(
    source: Path, target: Path, dimension: str | None = None, pad: int = 0, dtd: bool = False
) -> Path:
    """A copy of an .xlsx with its sheet's dimension replaced, padded with whitespace
    (highly compressible: a small file that unpacks big), or given a DTD."""
    member = "xl/worksheets/sheet1.xml"
    with zipfile.ZipFile(source) as z:
        items = {name: z.read(name) for name in z.namelist()}
    xml = items[member].decode()
    if dimension is not None:
        start = xml.index('<dimension ref="') + len('<dimension ref="')
        xml = xml[:start] + dimension + xml[xml.index('"', start) :]
    if pad:
        xml = xml.replace("<sheetData>", "<sheetData>" + " " * pad)
    if dtd:
        xml = '<!DOCTYPE lol [<!ENTITY lol "lol">]>' + xml
    items[member] = xml.encode()
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in items.items():
            z.writestr(name, data)
    return target


def test_xlsx_that_unpacks_big_or_declares_a_dtd_is_refused(tmp_path: Path) -> None:
    base = xlsx(tmp_path / "base.xlsx", [HEADER, ["h1", "1"]])
    bomb = rewrite_member(base, tmp_path / "bomb.xlsx", pad=20_000_000)
    assert bomb.stat().st_size < 100_000
    with pytest.raises(TooLarge, match="unpacks to"):
        read_sheet(bomb, limits())
    dtd = rewrite_member(base, tmp_path / "dtd.xlsx", dtd=True)
    with pytest.raises(Invalid, match="DTD"):
        read_sheet(dtd, limits())
    not_zip = tmp_path / "fake.xlsx"
    not_zip.write_bytes(b"id,building\nh1,1\n")
    with pytest.raises(Invalid, match=r"not an \.xlsx"):
        read_sheet(not_zip, limits())
