"""Calendar feeds: RFC 5545 text (escaped, folded, no control characters) checked by a
strict reader written from the RFC; keys that can be rotated; feeds that end with the
volunteer's token."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from typing import Any

import icalendar
import psycopg
import pytest
from fastapi.testclient import TestClient

from api.auth.tokens import Role
from api.calendar.ics import calendar
from tests.api.conftest import make_token
from tests.volunteers.conftest import add_volunteer

EVENINGS = {"weekday": [["18:00", "20:00"]], "weekend": [["07:00", "09:00"]], "needed": 1}
NOW = datetime(2026, 4, 1, 4, tzinfo=UTC)

# --- a strict reader, from RFC 5545 ----------------------------------------------------

# 3.1: name = iana-token / x-name (ALPHA, DIGIT, "-"); a value is any character but
# CONTROL (%x00-08, %x0A-1F, %x7F), HTAB allowed.
_NAME = re.compile(r"[A-Za-z0-9-]+")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# 3.3.11: in TEXT, a backslash starts one of \\ \; \, \n \N; ";" and "," are escaped.
_TEXT_ESCAPES = {"\\": "\\", ";": ";", ",": ",", "n": "\n", "N": "\n"}
TEXT_PROPERTIES = {"SUMMARY", "LOCATION", "DESCRIPTION", "UID", "X-WR-CALNAME"}
MAX_OCTETS = 75


def unescape_text(value: str) -> str:
    """A TEXT value's text; AssertionError on anything 3.3.11 does not allow."""
    out = []
    i = 0
    while i < len(value):
        char = value[i]
        if char == "\\":
            assert i + 1 < len(value), f"a lone backslash ends {value!r}"
            nxt = value[i + 1]
            assert nxt in _TEXT_ESCAPES, f"\\{nxt} is not a TEXT escape in {value!r}"
            out.append(_TEXT_ESCAPES[nxt])
            i += 2
            continue
        assert char not in ";,", f"an unescaped {char!r} in TEXT {value!r}"
        out.append(char)
        i += 1
    return "".join(out)


def strict_parse(body: bytes) -> list[tuple[str, str]]:
    """(name, value) of every content line of an iCalendar stream; TEXT values decoded.

    Checks 3.1 (CRLF line ends only, at most 75 octets a line, folds as CRLF + one
    space or tab and never inside a UTF-8 character, names and values of the grammar)
    and 3.4/3.6 (one VCALENDAR with VERSION and PRODID, VEVENTs inside with UID and
    DTSTAMP, BEGIN/END balanced).
    """
    assert body.endswith(b"\r\n"), "the stream ends with CRLF"
    physical = body[:-2].split(b"\r\n")
    for raw in physical:
        assert b"\r" not in raw and b"\n" not in raw, f"a bare CR or LF in {raw!r}"
        assert len(raw) <= MAX_OCTETS, f"{len(raw)} octets > {MAX_OCTETS}: {raw!r}"
        raw.decode("utf-8")  # each line is whole characters: a fold never splits one
    logical: list[str] = []
    for raw in physical:
        text = raw.decode("utf-8")
        if text[:1] in (" ", "\t"):
            assert logical, "a continuation before any content line"
            logical[-1] += text[1:]
        else:
            logical.append(text)
    parsed = []
    for line in logical:
        name, sep, value = line.partition(":")
        assert sep, f"no ':' in {line!r}"
        assert ";" not in name, f"unexpected parameters in {line!r}"
        assert _NAME.fullmatch(name), f"bad property name {name!r}"
        assert not _CONTROL.search(value), f"a control character in {line!r}"
        parsed.append((name, unescape_text(value) if name in TEXT_PROPERTIES else value))
    stack: list[str] = []
    seen: dict[str, set[str]] = {}
    for name, value in parsed:
        if name == "BEGIN":
            stack.append(value)
            seen[value] = set()
        elif name == "END":
            assert stack and stack[-1] == value, f"END:{value} closes {stack}"
            component = stack.pop()
            need = {"VCALENDAR": {"VERSION", "PRODID"}, "VEVENT": {"UID", "DTSTAMP"}}
            assert need.get(component, set()) <= seen[component], (
                f"{component} lacks some of {need}"
            )
        else:
            assert stack, f"{name} outside any component"
            seen[stack[-1]].add(name)
    assert not stack, f"unclosed {stack}"
    assert parsed[0] == ("BEGIN", "VCALENDAR") and parsed[-1] == ("END", "VCALENDAR")
    return parsed


def test_the_strict_reader_refuses_what_the_rfc_refuses() -> None:
    good = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nX-WR-CALNAME:a\\, b\r\nEND:VCALENDAR\r\n"
    assert ("X-WR-CALNAME", "a, b") in strict_parse(good)
    for bad in (
        good.replace(b"a\\, b", b"a, b"),  # unescaped comma
        good.replace(b"a\\, b", b"a\rb"),  # bare CR
        good.replace(b"a\\, b", b"a\x07b"),  # control character
        good.replace(b"a\\, b", b"a\\xb"),  # no such escape
        good.replace(b"a\\, b", b"x" * 80),  # longer than 75 octets
        good.replace(b"a\\, b", b"\xe5\x90\r\n \x8d"),  # a fold inside a character
        good.replace(b"\r\n", b"\n"),  # LF line ends
    ):
        with pytest.raises((AssertionError, UnicodeDecodeError)):
            strict_parse(bad)


# --- the text ------------------------------------------------------------------------

HOSTILE = "王\r阿姨\n;,\\ 末尾\x00\x07\x1b\x7f\x85\ttab\r\n完"
LONG = "长" * 199 + "x"  # 200 characters, 598 octets


def _shift(room_name: str) -> dict[str, Any]:
    return {
        "id": 7,
        "estate": "jjq",
        "room": "r1",
        "room_name": room_name,
        "starts_at": datetime(2026, 4, 1, 10, tzinfo=UTC),
        "ends_at": datetime(2026, 4, 1, 12, tzinfo=UTC),
    }


@pytest.mark.parametrize("name", [HOSTILE, LONG, HOSTILE + LONG[:150], "\\n literal"])
def test_names_with_breaks_separators_and_control_characters_give_valid_ics(name: str) -> None:
    body = calendar(name, [_shift(name)], "fenlei.example", NOW).encode()
    parsed = dict(strict_parse(body))
    # Line breaks of any kind are one "\n"; other control characters are gone (HTAB stays).
    expected = re.sub(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", "", re.sub(r"\r\n|\r", "\n", name))
    assert parsed["X-WR-CALNAME"] == "垃圾厢房值守 · " + expected
    assert parsed["LOCATION"] == "jjq / " + expected
    assert parsed["SUMMARY"].endswith(expected)
    # An independent reader agrees (on the TEXT properties it knows: it leaves X- ones raw).
    event = next(iter(icalendar.Calendar.from_ical(body).walk("VEVENT")))
    assert str(event["LOCATION"]) == "jjq / " + expected
    assert str(event["SUMMARY"]).endswith(expected)


# --- over HTTP ----------------------------------------------------------------------------


def _sql(db_url: str, query: str, params: tuple[Any, ...]) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(query.encode(), params)


def _slots_and_roster(client: TestClient, admin: dict[str, str]) -> None:
    client.put("/api/v1/estates/jjq/rooms/r1/watch-slots", headers=admin, json=EVENINGS)
    client.put(
        "/api/v1/estates/jjq/rooms/r2/watch-slots",
        headers=admin,
        json={"weekday": [], "weekend": []},
    )
    r = client.post("/api/v1/estates/jjq/roster?month=2026-04", headers=admin)
    assert r.status_code == 201, r.text


@pytest.mark.integration
def test_a_stored_name_with_control_characters_gives_a_valid_feed(
    client: TestClient, admin: dict[str, str], estate: str, db_url: str
) -> None:
    v = add_volunteer(client, admin, "李老师")
    _slots_and_roster(client, admin)
    # Stored as an older release let them in: the feed must cope, whatever input allows.
    name = "李\r老师;\n," + "名" * 190
    _sql(db_url, "UPDATE volunteers SET name = %s WHERE id = %s", (name, v["id"]))
    _sql(db_url, "UPDATE rooms SET name = %s WHERE id = 'r1'", ("1号\r厢房, 东; 西\x1b",))
    r = client.get(v["calendar_url"])
    assert r.status_code == 200, r.text
    parsed = strict_parse(r.content)
    assert ("X-WR-CALNAME", "垃圾厢房值守 · 李\n老师;\n," + "名" * 190) in parsed
    assert ("LOCATION", "jjq / 1号\n厢房, 东; 西") in parsed
    assert sum(1 for n, v in parsed if n == "BEGIN" and v == "VEVENT") == 22 + 8


# --- keys --------------------------------------------------------------------------------


@pytest.mark.integration
def test_a_rotated_key_ends_the_old_url_at_once(
    client: TestClient,
    admin: dict[str, str],
    estate: str,
    db_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    v = add_volunteer(client, admin, "王阿姨")
    other = add_volunteer(client, admin, "别处", estate="other")
    first = v["calendar_url"]
    assert client.get(first).status_code == 200
    caplog.set_level(logging.INFO, logger="fenlei.audit")
    r = client.post(f"/api/v1/estates/jjq/volunteers/{v['id']}/calendar-key", headers=admin)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    second = r.json()["calendar_url"]
    assert r.json()["volunteer_id"] == v["id"] and second != first
    assert client.get(first).status_code == 404
    assert client.get(second).status_code == 200
    assert client.get("/api/v1/me", headers=v["headers"]).json()["calendar_url"] == second
    # The volunteer replaces their own.
    r = client.post("/api/v1/me/calendar-key", headers=v["headers"])
    assert r.status_code == 200, r.text
    third = r.json()["calendar_url"]
    assert client.get(second).status_code == 404 and client.get(third).status_code == 200
    # One audit record per rotation, with who, and neither key.
    records = [
        rec for rec in caplog.records if getattr(rec, "audit", None) == "calendar_key_rotated"
    ]
    assert [(rec.volunteer_id, rec.token_id) for rec in records] == [  # type: ignore[attr-defined]
        (v["id"], _token_id(db_url, admin)),
        (v["id"], v["token_id"]),
    ]
    for key_url in (first, second, third):
        key = key_url.rsplit("/", 1)[1].removesuffix(".ics")
        assert all(key not in _everything(rec) for rec in caplog.records)
    # Who may: an admin of the estate, the volunteer themself; not others.
    url = f"/api/v1/estates/jjq/volunteers/{v['id']}/calendar-key"
    assert client.post(url, headers=make_token(db_url, Role.admin, ["other"])).status_code == 403
    assert client.post(url, headers=make_token(db_url, Role.viewer)).status_code == 403
    assert client.post(url, headers=v["headers"]).status_code == 403
    assert client.post(url).status_code == 401
    wrong = f"/api/v1/estates/jjq/volunteers/{other['id']}/calendar-key"
    assert client.post(wrong, headers=admin).status_code == 404
    viewer = make_token(db_url, Role.viewer)
    assert client.post("/api/v1/me/calendar-key", headers=viewer).status_code == 403
    assert client.get(third).status_code == 200


def _token_id(db_url: str, headers: dict[str, str]) -> int:
    import hashlib

    secret = headers["Authorization"].removeprefix("Bearer ")
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT id FROM api_tokens WHERE token_sha256 = %s",
            (hashlib.sha256(secret.encode()).digest(),),
        ).fetchone()
    assert row is not None
    return int(row[0])


def _everything(record: logging.LogRecord) -> str:
    from fenlei.logs import JsonFormatter

    return JsonFormatter().format(record) + record.getMessage()


@pytest.mark.integration
def test_the_feed_stops_when_the_volunteers_token_is_revoked_or_expired(
    client: TestClient, admin: dict[str, str], estate: str, db_url: str
) -> None:
    revoked, expired, kept = (add_volunteer(client, admin, n) for n in ("甲", "乙", "丙"))
    for v in (revoked, expired, kept):
        assert client.get(v["calendar_url"]).status_code == 200
    from api.auth.repository import revoke_token

    with psycopg.connect(db_url, autocommit=True) as conn:
        revoke_token(conn, revoked["token_id"])
    assert client.get(revoked["calendar_url"]).status_code == 404
    _sql(
        db_url,
        "UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE id = %s",
        (expired["token_id"],),
    )
    assert client.get(expired["calendar_url"]).status_code == 404
    assert client.get(kept["calendar_url"]).status_code == 200
    # A token not yet at its expiry keeps the feed; rotating the token keeps it too
    # (the calendar key is a secret of its own).
    _sql(
        db_url,
        "UPDATE api_tokens SET expires_at = now() + interval '1 day' WHERE id = %s",
        (kept["token_id"],),
    )
    r = client.post(f"/api/v1/tokens/{kept['token_id']}/rotate", headers=admin)
    assert r.status_code == 200, r.text
    assert client.get(kept["calendar_url"]).status_code == 200
