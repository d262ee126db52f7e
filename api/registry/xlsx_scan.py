"""How big an .xlsx really is, read from the zip and its XML before anything is loaded.

An .xlsx is a zip of XML files, and a few kilobytes of it can declare a sheet of a
million rows by 16,384 columns (one cell at XFD1048576): a reader that fills in the
cells in between needs gigabytes. `scan` answers from the zip's directory (the
members' declared sizes, which `zipfile` never reads past) and from one streaming
pass of expat over the first sheet and the shared strings, counting rows, columns and
cells without building a tree and stopping at the first bound exceeded, so its time
and memory are bounded by the limits, not by what the file claims.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
import zlib
from dataclasses import dataclass
from typing import IO
from xml.parsers import expat

# The cell reference of a `<c r="...">` or the corner of a `<dimension ref="...">`.
_REF = re.compile(r"^\$?([A-Za-z]{1,3})\$?([0-9]{1,7})$")
_READ_CHUNK = 64 * 1024
WORKBOOK = "xl/workbook.xml"
WORKBOOK_RELS = "xl/_rels/workbook.xml.rels"
SHARED_STRINGS = "xl/sharedStrings.xml"


class Exceeded(Exception):
    """A bound is exceeded; the message says which, in a sheet user's words."""


class Malformed(Exception):
    """The file is not a readable .xlsx (no zip, no sheet, broken XML, a DTD)."""


@dataclass(frozen=True, slots=True)
class Bounds:
    """What one sheet may hold; `rows` counts its header row too."""

    unpacked_bytes: int
    rows: int
    columns: int
    cells: int


def column_number(letters: str) -> int:
    """A1-style column letters as a number: A = 1, Z = 26, AA = 27, XFD = 16384."""
    number = 0
    for ch in letters.upper():
        number = number * 26 + ord(ch) - ord("A") + 1
    return number


def _local(name: str) -> str:
    # expat with a namespace separator reports "uri}local"; the namespaces vary
    # (transitional, strict OOXML), the local names do not.
    return name.rsplit("}", 1)[-1]


def _parser() -> expat.XMLParserType:
    parser = expat.ParserCreate(namespace_separator="}")
    # An .xlsx has no DTD: one here can only be an entity expansion attack.
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)

    def no_doctype(*_: object) -> None:
        raise Malformed("the file declares a DTD, which no Excel file does")

    parser.StartDoctypeDeclHandler = no_doctype
    parser.EntityDeclHandler = no_doctype
    return parser


def _feed(parser: expat.XMLParserType, stream: IO[bytes], member: str) -> None:
    try:
        while chunk := stream.read(_READ_CHUNK):
            parser.Parse(chunk, False)
        parser.Parse(b"", True)
    except expat.ExpatError as exc:
        raise Malformed(f"{member} is not well-formed XML ({exc})") from None
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise Malformed(f"{member} cannot be unpacked ({exc})") from None


def first_sheet(archive: zipfile.ZipFile) -> str:
    """The zip member of the workbook's first sheet (the one an import reads)."""
    sheets: list[str] = []
    targets: dict[str, str] = {}

    def workbook_element(name: str, attrs: dict[str, str]) -> None:
        if _local(name) == "sheet":
            rel = next((v for k, v in attrs.items() if _local(k) == "id"), None)
            if rel is not None:
                sheets.append(rel)

    def rels_element(name: str, attrs: dict[str, str]) -> None:
        if _local(name) == "Relationship" and "Id" in attrs and "Target" in attrs:
            targets[attrs["Id"]] = attrs["Target"]

    for member, handler in ((WORKBOOK, workbook_element), (WORKBOOK_RELS, rels_element)):
        try:
            stream = archive.open(member)
        except KeyError:
            raise Malformed(f"it has no {member}") from None
        parser = _parser()
        parser.StartElementHandler = handler
        with stream:
            _feed(parser, stream, member)
    if not sheets or sheets[0] not in targets:
        raise Malformed("its workbook lists no sheet")
    target = targets[sheets[0]]
    # Targets are relative to xl/, or absolute from the package root.
    path = target.lstrip("/") if target.startswith("/") else posixpath.join("xl", target)
    return posixpath.normpath(path)


def _scan_sheet(stream: IO[bytes], member: str, bounds: Bounds) -> int:
    """Rows, columns and cells of a worksheet, stopping at the first bound exceeded;
    the number of cells."""
    state = {"row": 0, "col": 0, "cells": 0}

    def check_row(row: int) -> None:
        if row > bounds.rows:
            raise Exceeded(
                f"its sheet reaches row {row:,}; at most {bounds.rows - 1:,} rows after the header"
            )

    def check_col(col: int, where: str) -> None:
        if col > bounds.columns:
            raise Exceeded(
                f"its sheet reaches column {col:,} ({where}); at most {bounds.columns:,} columns"
            )

    def start(name: str, attrs: dict[str, str]) -> None:
        local = _local(name)
        if local == "c":
            ref = _REF.match(attrs.get("r", ""))
            state["col"] = column_number(ref.group(1)) if ref else state["col"] + 1
            check_col(state["col"], f"cell {attrs['r']}" if ref else f"row {state['row']:,}")
            state["cells"] += 1
            if state["cells"] > bounds.cells:
                raise Exceeded(f"its sheet has more than {bounds.cells:,} cells")
        elif local == "row":
            r = attrs.get("r", "")
            state["row"] = int(r) if r.isdigit() else state["row"] + 1
            state["col"] = 0
            check_row(state["row"])
        elif local == "dimension":
            # The sheet's own claim of its extent: refused at once when too big, even
            # if the cells are further down the file.
            corner = _REF.match(attrs.get("ref", "").split(":")[-1])
            if corner:
                check_row(int(corner.group(2)))
                check_col(column_number(corner.group(1)), f"declared {attrs['ref']}")

    parser = _parser()
    parser.StartElementHandler = start
    _feed(parser, stream, member)
    return state["cells"]


def _count_strings(stream: IO[bytes], bounds: Bounds) -> None:
    count = 0

    def start(name: str, attrs: dict[str, str]) -> None:
        nonlocal count
        if _local(name) == "si":
            count += 1
            if count > bounds.cells:
                raise Exceeded(f"it has more than {bounds.cells:,} distinct texts")

    parser = _parser()
    parser.StartElementHandler = start
    _feed(parser, stream, SHARED_STRINGS)


def scan(path: str, bounds: Bounds) -> None:
    """Raise Exceeded or Malformed unless the .xlsx at `path` is within `bounds`."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise Malformed(f"it is not an .xlsx file (not a zip: {exc})") from None
    with archive:
        # Declared sizes: zipfile stops at a member's declared size, so they bound
        # what any reader of this archive can unpack.
        unpacked = sum(info.file_size for info in archive.infolist())
        if unpacked > bounds.unpacked_bytes:
            raise Exceeded(f"it unpacks to {unpacked:,} bytes; at most {bounds.unpacked_bytes:,}")
        sheet = first_sheet(archive)
        try:
            stream = archive.open(sheet)
        except KeyError:
            raise Malformed(f"its first sheet {sheet} is missing") from None
        with stream:
            _scan_sheet(stream, sheet, bounds)
        if SHARED_STRINGS in archive.namelist():
            with archive.open(SHARED_STRINGS) as strings:
                _count_strings(strings, bounds)
