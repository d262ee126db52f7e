"""A volunteer's shifts as an iCalendar (RFC 5545) feed. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

PRODID = "-//fenlei//volunteer rota//ZH"
# RFC 5545 3.1: content lines are folded at 75 octets.
FOLD_OCTETS = 75
DESCRIPTION = "站桶值守：检查投放，现场二次分拣。Check each drop-off; re-sort on the spot."


def _escape(text: str) -> str:
    return (
        text.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
    )


def _fold(line: str) -> str:
    out: list[str] = []
    current = b""
    for char in line:
        encoded = char.encode()
        limit = FOLD_OCTETS if not out else FOLD_OCTETS - 1
        if len(current) + len(encoded) > limit:
            out.append(current.decode())
            current = b""
        current += encoded
    out.append(current.decode())
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
        f"X-WR-CALNAME:{_escape('垃圾厢房值守 · ' + volunteer_name)}",
    ]
    for s in shifts:
        room = s.get("room_name") or s["room"]
        lines += [
            "BEGIN:VEVENT",
            f"UID:shift-{s['id']}@{host}",
            f"DTSTAMP:{_utc(now)}",
            f"DTSTART:{_utc(s['starts_at'])}",
            f"DTEND:{_utc(s['ends_at'])}",
            f"SUMMARY:{_escape(f'垃圾分类值守 Sorting watch · {room}')}",
            f"LOCATION:{_escape(str(s['estate']) + ' / ' + str(room))}",
            f"DESCRIPTION:{_escape(DESCRIPTION)}",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "\r\n".join(_fold(line) for line in lines) + "\r\n"
