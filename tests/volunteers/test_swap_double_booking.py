"""Taking a swap never double-books its taker (#15): a watch that overlaps one they hold,
in any room, is refused with a 409 naming them, the time and the other room, and nothing
changes; two accepts raced for the same taker cannot both go through.

Who holds which watch is set with SQL after the roster, and what changed is read back
with SQL: the setup and the checks do not depend on the code under test.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.auth.repository import find_principal
from api.errors import ApiError
from api.swaps import service
from tests.volunteers.conftest import Clock, add_volunteer

pytestmark = pytest.mark.integration

# Both rooms watch 16:30-20:00 on weekdays; at weekends r1 07:00-09:00 and r2 just after.
SLOTS = {
    "r1": {"weekday": [["16:30", "20:00"]], "weekend": [["07:00", "09:00"]]},
    "r2": {"weekday": [["16:30", "20:00"]], "weekend": [["09:00", "11:00"]]},
}
MONDAY, TUESDAY, SATURDAY = "2026-04-06", "2026-04-07", "2026-04-04"
# The CSRF field every form of the volunteer pages carries (dashboards/session.py).
CSRF = re.compile(r'name="csrf" value="([^"]*)"')


def _team(client: TestClient, admin: dict[str, str]) -> dict[str, dict[str, Any]]:
    r = client.put("/api/v1/estates/jjq/rooms/r2", headers=admin, json={"name": "2号厢房"})
    assert r.status_code == 200, r.text
    for room, slots in SLOTS.items():
        r = client.put(f"/api/v1/estates/jjq/rooms/{room}/watch-slots", headers=admin, json=slots)
        assert r.status_code == 200, r.text
    team = {name: add_volunteer(client, admin, name) for name in ("李师傅", "张阿姨", "王老师")}
    assert client.post("/api/v1/estates/jjq/roster?month=2026-04", headers=admin).status_code == 201
    return team


def _shift(db_url: str, room: str, day: str) -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT id FROM shifts WHERE estate_id = 'jjq' AND room_id = %s AND day = %s",
            (room, day),
        ).fetchone()
    assert row is not None
    return int(row[0])


def _hand(db_url: str, shift: int, volunteer: dict[str, Any]) -> int:
    """Give `volunteer` the shift's only seat; its assignment id."""
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "UPDATE assignments SET volunteer_id = %s WHERE shift_id = %s RETURNING id",
            (volunteer["id"], shift),
        ).fetchone()
    assert row is not None
    return int(row[0])


def _holders(db_url: str, *shifts: int) -> dict[int, list[tuple[int, int]]]:
    """{shift: [(assignment id, volunteer id)]}."""
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT shift_id, id, volunteer_id FROM assignments WHERE shift_id = ANY(%s)"
            " ORDER BY id",
            (list(shifts),),
        ).fetchall()
    out: dict[int, list[tuple[int, int]]] = {s: [] for s in shifts}
    for shift, aid, vid in rows:
        out[shift].append((aid, vid))
    return out


def _swap_state(db_url: str, swap: int) -> tuple[str, int | None]:
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT status, taken_by FROM swaps WHERE id = %s", (swap,)).fetchone()
    assert row is not None
    return row[0], row[1]


def _offer(client: TestClient, who: dict[str, Any], assignment: int) -> int:
    r = client.post(f"/api/v1/assignments/{assignment}/swaps", headers=who["headers"])
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def test_an_overlapping_watch_in_another_room_is_refused_and_nothing_changes(
    client: TestClient, admin: dict[str, str], estate: str, db_url: str
) -> None:
    team = _team(client, admin)
    li, zhang = team["李师傅"], team["张阿姨"]
    # Monday: 张阿姨 holds r1 16:30-20:00 and 李师傅 the same slot in r2.
    r1, r2 = _shift(db_url, "r1", MONDAY), _shift(db_url, "r2", MONDAY)
    offered = _hand(db_url, r1, zhang)
    _hand(db_url, r2, li)
    swap = _offer(client, zhang, offered)
    before = _holders(db_url, r1, r2)
    assert before == {r1: [(offered, zhang["id"])], r2: [before[r2][0]]}

    r = client.post(f"/api/v1/swaps/{swap}/accept", headers=li["headers"])
    assert r.status_code == 409, r.text
    detail = r.json()["detail"]
    for part in ("李师傅", "2026-04-06", "16:30–20:00", "r2 (2号厢房)", "room r1"):
        assert part in detail, (part, detail)
    assert _holders(db_url, r1, r2) == before
    assert _swap_state(db_url, swap) == ("open", None)
    # The offer stays open for someone free at that time (both Monday watches are others').
    r = client.post(f"/api/v1/swaps/{swap}/accept", headers=team["王老师"]["headers"])
    assert r.status_code == 200, r.text
    assert _holders(db_url, r1)[r1] == [(offered, team["王老师"]["id"])]


def test_a_watch_that_only_touches_one_held_is_taken(
    client: TestClient, admin: dict[str, str], estate: str, db_url: str
) -> None:
    team = _team(client, admin)
    li, zhang = team["李师傅"], team["张阿姨"]
    # Saturday: 张阿姨 holds r1 07:00-09:00; 李师傅 holds r2 09:00-11:00, right after it.
    r1, r2 = _shift(db_url, "r1", SATURDAY), _shift(db_url, "r2", SATURDAY)
    offered = _hand(db_url, r1, zhang)
    held = _hand(db_url, r2, li)
    swap = _offer(client, zhang, offered)

    r = client.post(f"/api/v1/swaps/{swap}/accept", headers=li["headers"])
    assert r.status_code == 200, r.text
    assert _holders(db_url, r1, r2) == {r1: [(offered, li["id"])], r2: [(held, li["id"])]}
    assert _swap_state(db_url, swap) == ("accepted", li["id"])


def test_two_raced_accepts_for_one_taker_cannot_both_book_them(
    client: TestClient, admin: dict[str, str], estate: str, db_url: str, clock: Clock
) -> None:
    team = _team(client, admin)
    li, zhang, wang = team["李师傅"], team["张阿姨"], team["王老师"]
    # Tuesday 16:30-20:00: 张阿姨 offers r1 and 王老师 offers r2; 李师傅 holds neither.
    r1, r2 = _shift(db_url, "r1", TUESDAY), _shift(db_url, "r2", TUESDAY)
    first = _offer(client, zhang, _hand(db_url, r1, zhang))
    second = _offer(client, wang, _hand(db_url, r2, wang))

    async def race() -> list[object]:
        connect = psycopg.AsyncConnection.connect
        async with (
            await connect(db_url, autocommit=True) as blocker,
            await connect(db_url, autocommit=True) as watcher,
            await connect(db_url, autocommit=True) as a,
            await connect(db_url, autocommit=True) as b,
        ):
            principal = await find_principal(a, li["token"])
            assert principal is not None

            async def waiting(conn: psycopg.AsyncConnection[Any]) -> bool:
                cur = await watcher.execute(
                    "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = %s",
                    (conn.info.backend_pid,),
                )
                row = await cur.fetchone()
                return bool(row and row[0])

            async def until(done: Any) -> None:
                for _ in range(500):
                    if await done():
                        return
                    await asyncio.sleep(0.01)
                raise AssertionError("the race did not reach the expected step")

            # Hold the first offer's row: the first accept stops at its UPDATE, after
            # its checks, while the second accept runs.
            async with blocker.transaction():
                await blocker.execute("SELECT 1 FROM swaps WHERE id = %s FOR UPDATE", (first,))
                one = asyncio.create_task(service.accept_swap(a, principal, first, clock.now))
                await until(lambda: waiting(a))
                two = asyncio.create_task(service.accept_swap(b, principal, second, clock.now))

                async def second_settled() -> bool:
                    return two.done() or await waiting(b)

                await until(second_settled)
            return list(await asyncio.gather(one, two, return_exceptions=True))

    results = asyncio.run(race())
    refused = [x for x in results if isinstance(x, ApiError)]
    assert len(refused) == 1 and isinstance(refused[0], service.DoubleBooked), results
    assert refused[0].status_code == 409 and "李师傅" in str(refused[0])
    held = _holders(db_url, r1, r2)
    assert sum(vid == li["id"] for rows in held.values() for _, vid in rows) == 1, held
    states = {_swap_state(db_url, first)[0], _swap_state(db_url, second)[0]}
    assert states == {"accepted", "open"}


def _sign_in(client: TestClient, who: dict[str, Any]) -> str:
    """Sign in on the volunteer pages; the session's CSRF token."""
    login = CSRF.findall(client.get("/volunteer/login").text)[0]
    r = client.post(
        "/volunteer/login",
        content=f"token={who['token']}&csrf={login}",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 200, r.text
    return str(CSRF.findall(r.text)[0])


def test_the_phone_page_says_why_in_its_language(
    client: TestClient, admin: dict[str, str], estate: str, db_url: str
) -> None:
    team = _team(client, admin)
    li, zhang = team["李师傅"], team["张阿姨"]
    r1, r2 = _shift(db_url, "r1", MONDAY), _shift(db_url, "r2", MONDAY)
    swap = _offer(client, zhang, _hand(db_url, r1, zhang))
    _hand(db_url, r2, li)
    before = _holders(db_url, r1, r2)
    csrf = _sign_in(client, li)
    r = client.post(f"/volunteer/swaps/{swap}/accept", data={"csrf": csrf})
    assert "李师傅已有4月6日 周一 16:30–20:00在2号厢房的值班" in r.text, r.text
    assert "与此班（4月6日 周一 16:30–20:00，r1）时间重叠" in r.text
    assert client.get("/volunteer?lang=en").status_code == 200
    r = client.post(f"/volunteer/swaps/{swap}/accept", data={"csrf": csrf})
    assert (
        "李师傅 already holds the Mon 06 Apr 16:30–20:00 watch in 2号厢房, which overlaps"
        " this one (Mon 06 Apr 16:30–20:00 in r1)"
    ) in r.text, r.text
    assert _holders(db_url, r1, r2) == before
    assert _swap_state(db_url, swap) == ("open", None)
