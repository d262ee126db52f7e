"""A volunteer's shifts as an iCalendar (RFC 5545) feed. Pure."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

PRODID = "-//fenlei//volunteer rota//ZH"
# RFC 5545 3.1: content lines are folded at 75 octets.
FOLD_OCTETS = 75
DESCRIPTION = "站桶值守：检查投放，现场二次分拣。Check each drop-off; re-sort on the spot."


# RFC 5545 3.3.11: in a TEXT value a line break is written "\n" and backslash,
# semicolon and comma are escaped. 3.1 allows no control character in a value but
# HTAB, so CR LF, a bare CR and a bare LF each become one "\n", and every other
# control character (C0, DEL and C1) is dropped.
_BREAK = re.compile(r"\r\n|\r|\n")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# What folding may not cut: an escape (a client reading "\" then "n" on the next line
# as two characters is broken, but common) or one character (never half a UTF-8 one).
_UNIT = re.compile(r"\\.|.", re.DOTALL)


def escape_text(text: str) -> str:
    """`text` as an RFC 5545 TEXT value."""
    # A lone surrogate cannot be written as UTF-8 at all.
    text = text.encode("utf-8", "replace").decode("utf-8")
    lines = _BREAK.split(text)
    return "\\n".join(
        _CONTROL.sub("", line).replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
        for line in lines
    )


def fold(line: str) -> str:
    """A content line folded at FOLD_OCTETS octets: CRLF and one space before each
    continuation (which counts towards its 75), never inside a character or escape."""
    out: list[str] = []
    current: list[str] = []
    size = 0
    for unit in _UNIT.findall(line):
        octets = len(unit.encode())
        limit = FOLD_OCTETS if not out else FOLD_OCTETS - 1
        if size + octets > limit:
            out.append("".join(current))
            current, size = [], 0
        current.append(unit)
        size += octets
    out.append("".join(current))
    return "\r\n ".join(out)


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def calendar(
    volunteer_name: str, shifts: Iterable[Mapping[str, Any]], host: str, now: datetime
) -> str:
    """The VCALENDAR text; each shift needs id, estate, room, room_name, starts_at, ends_at."""
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{escape_text('垃圾厢房值守 · ' + volunteer_name)}",
    ]
    for s in shifts:
        room = s.get("room_name") or s["room"]
        # The host comes from the request's Host header: escaped like any text.
        uid = f"shift-{s['id']}@{host}"
        lines += [
            "BEGIN:VEVENT",
            f"UID:{escape_text(uid)}",
            f"DTSTAMP:{_utc(now)}",
            f"DTSTART:{_utc(s['starts_at'])}",
            f"DTEND:{_utc(s['ends_at'])}",
            f"SUMMARY:{escape_text(f'垃圾分类值守 Sorting watch · {room}')}",
            f"LOCATION:{escape_text(str(s['estate']) + ' / ' + str(room))}",
            f"DESCRIPTION:{escape_text(DESCRIPTION)}",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "\r\n".join(fold(line) for line in lines) + "\r\n"
