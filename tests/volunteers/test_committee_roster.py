"""The committee's roster screens on the real database: a room's watch slots set through
the form, a month generated and published, one seat edited, uncovered watches and the
suggestions shown. Each check is against the inputs or the JSON API's answer."""

from __future__ import annotations

import calendar
import logging
import re
from datetime import UTC, date, datetime
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.auth.tokens import Role
from tests.api.conftest import make_token
from tests.volunteers.conftest import Clock, add_volunteer

pytestmark = pytest.mark.integration

CSRF = re.compile(r'name="csrf" value="([^"]*)"')
ROSTER = "/dashboards/estates/jjq/roster"
SLOTS_R1 = "/dashboards/estates/jjq/roster/rooms/r1/slots"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
APRIL = (date(2026, 4, 1), date(2026, 4, 30))


def sign_in(client: TestClient, headers: dict[str, str]) -> None:
    """Open a dashboards session with the token of `headers`, as the sign-in form does."""
    token = headers["Authorization"].removeprefix("Bearer ")
    form = client.get("/dashboards/signin").text
    r = client.post(
        "/dashboards/signin",
        data={"token": token, "next": "/dashboards/", "csrf": CSRF.findall(form)[0]},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text


def csrf(client: TestClient, path: str = ROSTER) -> str:
    return str(CSRF.findall(client.get(path).text)[0])


def slot_form(token: str, lines: list[dict[str, str]], month: str = "2026-04") -> dict[str, str]:
    """The slots form as a browser posts it: one line per slot, fields `<name>_<i>`."""
    data = {"csrf": token, "lines": str(len(lines)), "month": month}
    for i, line in enumerate(lines):
        data.update({f"{k}_{i}": v for k, v in line.items()})
    return data


def api_slots(client: TestClient, admin: dict[str, str], room: str) -> dict[str, Any]:
    rooms = client.get("/api/v1/estates/jjq/watch-slots", headers=admin).json()
    found: dict[str, Any] = next(r for r in rooms if r["room"] == room)
    return found


def api_roster(client: TestClient, admin: dict[str, str]) -> list[dict[str, Any]]:
    r = client.get("/api/v1/estates/jjq/roster?from=2026-04-01&to=2026-04-30", headers=admin)
    assert r.status_code == 200, r.text
    rows: list[dict[str, Any]] = r.json()
    return rows


def rows_of(html: str, table: str) -> list[str]:
    """The data-shift ids of one table of the page."""
    if f'id="{table}"' not in html:
        return []
    part = html.split(f'id="{table}"', 1)[1].split("</table>", 1)[0]
    return re.findall(r'<tr data-shift="(\d+)"', part)


@pytest.fixture
def committee(client: TestClient, admin: dict[str, str], estate: str) -> TestClient:
    client.put("/api/v1/estates/jjq/rooms/r1", headers=admin, json={"name": "1号厢房"})
    sign_in(client, admin)
    return client


# --- watch slots ------------------------------------------------------------------------


def test_slots_are_set_through_the_form(
    committee: TestClient, admin: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    page = committee.get(SLOTS_R1)
    assert page.status_code == 200 and 'lang="zh-CN"' in page.text
    assert "目前沿用小区的投放时段" in page.text  # no slots of its own yet
    caplog.set_level(logging.INFO, logger="fenlei.audit")
    token = CSRF.findall(page.text)[0]
    lines = [
        {"days": "weekday", "start": "07:00", "end": "09:00", "needed": "1"},
        {"days": "weekday", "start": "18:30", "end": "20:30", "needed": "2"},
        {"days": "weekend", "start": "22:00", "end": "01:00", "needed": "1", "overnight": "1"},
        {"days": "weekend", "start": "09:00", "end": "10:00", "needed": "1", "remove": "1"},
        {"days": "weekday", "start": "", "end": "", "needed": "1"},  # a blank new line
    ]
    r = committee.post(SLOTS_R1, data=slot_form(token, lines), follow_redirects=False)
    assert r.status_code == 303, r.text
    assert r.headers["location"] == f"{ROSTER}?month=2026-04&done=slots&room=r1"
    stored = api_slots(committee, admin, "r1")
    assert stored["source"] == "room"
    assert sorted(
        (s["day_type"], s["start"][:5], s["end"][:5], s["needed"]) for s in stored["slots"]
    ) == [
        ("weekday", "07:00", "09:00", 1),
        ("weekday", "18:30", "20:30", 2),
        ("weekend", "22:00", "01:00", 1),
    ]
    audited = [r for r in caplog.records if getattr(r, "audit", None) == "watch_slots_changed"]
    assert audited and audited[-1].__dict__["room"] == "r1"
    assert audited[-1].__dict__["token_id"] is not None  # the signed-in committee member
    back = committee.get(r.headers["location"]).text
    assert "已保存 r1 的值守时段。" in back
    assert "工作日 07:00–09:00 ×1 人；工作日 18:30–20:30 ×2 人；周末 22:00–01:00 ×1 人" in back
    again = committee.get(SLOTS_R1).text
    assert 'value="18:30"' in again
    assert re.search(r'id="overnight_2"[^>]* checked>', again)  # the night watch's box
    assert not re.search(r'id="overnight_0"[^>]* checked>', again)


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (
            [
                {"days": "weekday", "start": "07:00", "end": "09:00"},
                {"days": "weekday", "start": "08:30", "end": "10:00"},
            ],
            "工作日的时段 07:00–09:00 与 08:30–10:00 重叠",
        ),
        (
            [
                {"days": "weekend", "start": "07:00", "end": "09:00"},
                {"days": "weekend", "start": "07:00", "end": "08:00"},
            ],
            "周末的时段 07:00–09:00 与 07:00–08:00 重叠",
        ),
        ([{"days": "weekday", "start": "20:00", "end": "18:00"}], "第 1 行：结束时间早于开始时间"),
        (
            [{"days": "weekday", "start": "18:00", "end": "20:00", "overnight": "1"}],
            "第 1 行：勾选了“跨午夜”",
        ),
        ([{"days": "weekday", "start": "18:00", "end": "18:00"}], "第 1 行：开始和结束时间相同"),
        (
            [{"days": "weekday", "start": "18:00", "end": "20:00"}, {"start": "9", "end": "10:00"}],
            "第 2 行：请填写开始和结束时间",
        ),
        (
            [{"days": "weekday", "start": "18:00", "end": "20:00", "needed": "25"}],
            "人数应为 1 到 20",
        ),
        ([{"days": "holiday", "start": "18:00", "end": "20:00"}], "第 1 行：请选择工作日或周末"),
    ],
)
def test_bad_slots_are_refused_in_words_and_the_form_keeps_them(
    committee: TestClient, admin: dict[str, str], lines: list[dict[str, str]], message: str
) -> None:
    before = api_slots(committee, admin, "r1")
    r = committee.post(SLOTS_R1, data=slot_form(csrf(committee, SLOTS_R1), lines))
    assert r.status_code == 422
    assert message in r.text
    for line in lines:  # what was typed is still there
        assert f'value="{line["start"]}"' in r.text
    assert api_slots(committee, admin, "r1") == before


def test_the_api_refuses_overlapping_slots_too(
    committee: TestClient, admin: dict[str, str]
) -> None:
    r = committee.put(
        "/api/v1/estates/jjq/rooms/r1/watch-slots",
        headers=admin,
        json={"weekday": [["07:00", "09:00"], ["07:00", "08:00"]]},
    )
    assert r.status_code == 422 and "overlap" in r.json()["detail"]
    overnight = committee.put(
        "/api/v1/estates/jjq/rooms/r1/watch-slots",
        headers=admin,
        json={"weekday": [["22:00", "02:00"], ["01:00", "03:00"]]},
    )
    assert overnight.status_code == 422  # the Tuesday 01:00 watch meets Monday's night one


def test_slot_errors_in_english_and_no_change_without_the_session_s_form(
    committee: TestClient, admin: dict[str, str]
) -> None:
    committee.get("/dashboards/lang/en?next=/dashboards/")
    bad = [{"days": "weekday", "start": "20:00", "end": "18:00"}]
    r = committee.post(SLOTS_R1, data=slot_form(csrf(committee, SLOTS_R1), bad))
    assert r.status_code == 422 and "Line 1: the end is before the start" in r.text
    before = api_slots(committee, admin, "r1")
    good = [{"days": "weekday", "start": "06:00", "end": "07:00"}]
    forged = committee.post(SLOTS_R1, data=slot_form("0" * 64, good))
    assert forged.status_code == 403
    assert api_slots(committee, admin, "r1") == before


def test_only_the_estate_s_admin_sees_the_screens(
    client: TestClient, db_url: str, estate: str
) -> None:
    viewer = make_token(db_url, Role.viewer)
    sign_in(client, viewer)
    assert client.get(ROSTER).status_code == 403
    assert client.get(SLOTS_R1).status_code == 403
    other_admin = make_token(db_url, Role.admin, estates=["other"])
    client.cookies.clear()
    sign_in(client, other_admin)
    assert client.get(ROSTER).status_code == 403
    client.cookies.clear()
    assert client.get(ROSTER, follow_redirects=False).status_code == 303  # to sign-in


# --- generating and publishing a month ---------------------------------------------------


def _april_team(client: TestClient, admin: dict[str, str]) -> dict[str, Any]:
    """r1: weekdays 18:00-20:00, two volunteers; r2: weekends 09:00-10:00, two. A can
    always, B only on weekdays: every weekend watch of r2 is one short."""
    client.put(
        "/api/v1/estates/jjq/rooms/r1/watch-slots",
        headers=admin,
        json={"weekday": [["18:00", "20:00"]], "needed": 2},
    )
    client.put(
        "/api/v1/estates/jjq/rooms/r2/watch-slots",
        headers=admin,
        json={"weekend": [["09:00", "10:00"]], "needed": 2},
    )
    a = add_volunteer(client, admin, "王阿姨")
    b = add_volunteer(
        client,
        admin,
        "李叔叔",
        availability=[{"days": [0, 1, 2, 3, 4], "start": "06:00", "end": "22:00"}],
    )
    return {"a": a, "b": b}


def test_generate_publish_and_see_the_month(committee: TestClient, admin: dict[str, str]) -> None:
    team = _april_team(committee, admin)
    page = committee.get(f"{ROSTER}?month=2026-04")
    assert page.status_code == 200
    assert "2026年4月尚无排班" in page.text and "本系统没有草稿" in page.text
    token = CSRF.findall(page.text)[0]
    r = committee.post(
        f"{ROSTER}/generate", data={"csrf": token, "month": "2026-04"}, follow_redirects=False
    )
    assert r.status_code == 303, r.text
    days = [date(2026, 4, d) for d in range(1, calendar.monthrange(2026, 4)[1] + 1)]
    weekdays = [d for d in days if d.weekday() < 5]
    weekends = [d for d in days if d.weekday() >= 5]
    shown = committee.get(r.headers["location"]).text
    seats = 2 * len(weekdays) + 2 * len(weekends)
    filled = 2 * len(weekdays) + len(weekends)
    assert (
        f"已发布排班：{len(weekdays) + len(weekends)} 个班次，安排了 {filled}/{seats} 个岗位，"
        f"{len(weekends)} 个班次缺人。"
    ) in shown
    held = api_roster(committee, admin)
    assert sorted(rows_of(shown, "roster-table")) == sorted(str(s["id"]) for s in held)
    # The uncovered watches are r2's weekend ones, by the slots and availability put in.
    want = {str(s["id"]) for s in held if s["room"] == "r2"}
    assert {date.fromisoformat(s["day"]) for s in held if s["room"] == "r2"} == set(weekends)
    assert set(rows_of(shown, "uncovered-table")) == want
    assert all(len(s["assignees"]) == 1 for s in held if s["room"] == "r2")
    assert shown.count("缺 1 人") == 2 * len(weekends)  # flagged in both tables
    assert f"本月 {len(held)} 个班次，缺人班次 {len(weekends)} 个。" in shown
    monday = next(s for s in held if s["day"] == "2026-04-06")
    row = shown.split(f'<tr data-shift="{monday["id"]}"', 1)[1].split("</tr>", 1)[0]
    assert "王阿姨" in row and "李叔叔" in row and "18:00–20:00" in row and "1号厢房" in row
    assert {a["volunteer_id"] for a in monday["assignees"]} == {team["a"]["id"], team["b"]["id"]}

    # Each one's share, counted from the API's roster.
    for v in team.values():
        mine_n = sum(a["volunteer_id"] == v["id"] for s in held for a in s["assignees"])
        cell = shown.split(f'<tr data-volunteer="{v["id"]}">', 1)[1].split("</tr>", 1)[0]
        assert f'<td class="num">{mine_n}</td>' in cell
    assert sum(len(s["assignees"]) for s in held) == filled

    # Published: the volunteer sees it at once.
    mine = committee.get("/api/v1/me/shifts", headers=team["b"]["headers"]).json()
    assert mine and all(s["room"] == "r1" for s in mine)

    # A month with a roster is generated again only when the box is ticked.
    again = committee.post(f"{ROSTER}/generate", data={"csrf": token, "month": "2026-04"})
    assert again.status_code == 409
    assert "2026年4月已有排班" in again.text and 'id="replace"' in again.text
    assert api_roster(committee, admin) == held
    replaced = committee.post(
        f"{ROSTER}/generate",
        data={"csrf": token, "month": "2026-04", "replace": "1"},
        follow_redirects=False,
    )
    assert replaced.status_code == 303
    after = api_roster(committee, admin)
    assert len(after) == len(held) and {s["id"] for s in after}.isdisjoint(s["id"] for s in held)

    forged = committee.post(f"{ROSTER}/generate", data={"csrf": "x", "month": "2026-05"})
    assert forged.status_code == 403
    r = committee.get("/api/v1/estates/jjq/roster?from=2026-05-01&to=2026-05-31", headers=admin)
    assert r.json() == []


def test_bad_months_are_messages(committee: TestClient) -> None:
    r = committee.get(f"{ROSTER}?month=2026-13")
    assert r.status_code == 422 and "月份应写作 YYYY-MM" in r.text
    for odd in ("april", "0001-01", "9999-12", "2026-00", "x" * 5000):
        r = committee.get(ROSTER, params={"month": odd})
        assert r.status_code == 422, odd
    token = csrf(committee)
    r = committee.post(f"{ROSTER}/generate", data={"csrf": token, "month": "2999-01"})
    assert r.status_code == 422 and "超出了允许" in r.text


def test_suggestions_are_sentences(
    committee: TestClient, admin: dict[str, str], db_url: str
) -> None:
    committee.put(
        "/api/v1/estates/jjq/rooms/r1/watch-slots",
        headers=admin,
        json={"weekday": [["18:00", "20:00"]]},
    )
    committee.put("/api/v1/estates/jjq/rooms/r2/watch-slots", headers=admin, json={})
    add_volunteer(committee, admin, "王阿姨")
    assert committee.post("/api/v1/estates/jjq/roster?month=2026-04", headers=admin).is_success
    # 2,400 drops at r1 on one weekday evening of the four weeks before 1 April: 2,400 / 20
    # weekdays = 120 per watch; one volunteer looks after 60, so 2 are suggested.
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO events (ts, bin_key, event_id, estate_id, category, kind, weight_g)"
            " SELECT timestamptz '2026-03-25 18:00+08' + g * interval '2 seconds', b.bin_key,"
            " 'sug-' || g, b.estate_id, b.category, 'drop', 100"
            " FROM bins b, generate_series(1, 2400) g WHERE b.estate_id = 'jjq' AND b.id = 'b-wet'"
        )
    page = committee.get(f"{ROSTER}?month=2026-04").text
    part = page.split('id="suggestions"', 1)[1].split("</div>", 1)[0]
    assert (
        "<li>1号厢房 · 工作日 18:00–20:00：平均每次 120 次投放，现有 1 名志愿者值守，"
        "建议安排 2 名。</li>"
    ) in part
    english = committee.get(f"{ROSTER}?month=2026-04&lang=en").text
    assert (
        "1号厢房 · weekdays 18:00–20:00: 120 drops per watch on average, 1 volunteer on duty;"
        " suggest 2 volunteers."
    ) in english


# --- one seat ---------------------------------------------------------------------------


def _overlapping_team(client: TestClient, admin: dict[str, str]) -> dict[str, Any]:
    """r1 weekdays 18:00-20:00 and r2 weekdays 19:00-21:00, one seat each: A and B hold
    the two at once every weekday; C is free."""
    client.put(
        "/api/v1/estates/jjq/rooms/r1/watch-slots",
        headers=admin,
        json={"weekday": [["18:00", "20:00"]]},
    )
    client.put(
        "/api/v1/estates/jjq/rooms/r2/watch-slots",
        headers=admin,
        json={"weekday": [["19:00", "21:00"]]},
    )
    team = {k: add_volunteer(client, admin, n) for k, n in (("a", "王阿姨"), ("b", "李叔叔"))}
    assert client.post("/api/v1/estates/jjq/roster?month=2026-04", headers=admin).is_success
    team["c"] = add_volunteer(client, admin, "张老师")
    held = api_roster(client, admin)
    team["r1"] = next(s for s in held if s["day"] == "2026-04-06" and s["room"] == "r1")
    team["r2"] = next(s for s in held if s["day"] == "2026-04-06" and s["room"] == "r2")
    return team


def _shift(client: TestClient, admin: dict[str, str], shift_id: int) -> dict[str, Any]:
    found: dict[str, Any] = next(s for s in api_roster(client, admin) if s["id"] == shift_id)
    return found


def test_one_seat_is_replaced_removed_and_added(
    committee: TestClient, admin: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    team = _overlapping_team(committee, admin)
    r1 = team["r1"]
    (seat,) = r1["assignees"]
    holder = next(team[k] for k in "ab" if team[k]["id"] == seat["volunteer_id"])
    other = next(team[k] for k in "ab" if team[k]["id"] != seat["volunteer_id"])
    path = f"/dashboards/estates/jjq/roster/shifts/{r1['id']}"
    page = committee.get(path)
    assert page.status_code == 200 and holder["name"] in page.text
    token = CSRF.findall(page.text)[0]
    caplog.set_level(logging.INFO, logger="fenlei.audit")

    # Replace the holder with C: the same seat, now C's.
    r = committee.post(
        f"{path}/seats/{seat['assignment_id']}/replace",
        data={"csrf": token, "volunteer_id": str(team["c"]["id"])},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    assert "已更换。" in committee.get(r.headers["location"]).text
    now = _shift(committee, admin, r1["id"])["assignees"]
    assert [(a["assignment_id"], a["volunteer_id"]) for a in now] == [
        (seat["assignment_id"], team["c"]["id"])
    ]
    assert any(getattr(x, "audit", None) == "assignment_replaced" for x in caplog.records)

    # The other one holds r2 at an overlapping time: refused, the pick kept.
    r = committee.post(f"{path}/add", data={"csrf": token, "volunteer_id": str(other["id"])})
    assert r.status_code == 409
    assert f"{other['name']} 在同一时间已有班次：2026年4月6日 周一 19:00–21:00，r2。" in r.text
    assert f'<option value="{other["id"]}" selected>' in r.text
    r = committee.post(f"{path}/add", data={"csrf": token, "volunteer_id": "999999"})
    assert r.status_code == 422 and "没有编号为 999999 的本小区志愿者。" in r.text
    r = committee.post(f"{path}/add", data={"csrf": token, "volunteer_id": str(team["c"]["id"])})
    assert r.status_code == 409 and "张老师 已在本班次中。" in r.text
    r = committee.post(f"{path}/add", data={"csrf": token, "volunteer_id": ""})
    assert r.status_code == 422 and "请选择一位志愿者。" in r.text
    assert len(_shift(committee, admin, r1["id"])["assignees"]) == 1

    # Remove C: the watch is uncovered, and the month page says so.
    r = committee.post(
        f"{path}/seats/{seat['assignment_id']}/remove", data={"csrf": token}, follow_redirects=False
    )
    assert r.status_code == 303
    emptied = _shift(committee, admin, r1["id"])
    assert emptied["assignees"] == [] and emptied["uncovered"] is True
    month = committee.get(f"{ROSTER}?month=2026-04").text
    assert str(r1["id"]) in rows_of(month, "uncovered-table")

    # Add the previous holder back (free again at that time).
    r = committee.post(
        f"{path}/add",
        data={"csrf": token, "volunteer_id": str(holder["id"])},
        follow_redirects=False,
    )
    assert r.status_code == 303
    back = _shift(committee, admin, r1["id"])
    assert [a["volunteer_id"] for a in back["assignees"]] == [holder["id"]]
    assert str(r1["id"]) not in rows_of(
        committee.get(f"{ROSTER}?month=2026-04").text, "uncovered-table"
    )

    # No session form, no change.
    r = committee.post(f"{path}/add", data={"csrf": "nope", "volunteer_id": str(team["c"]["id"])})
    assert r.status_code == 403
    assert len(_shift(committee, admin, r1["id"])["assignees"]) == 1

    # In English (the header's switch), the page and its refusals.
    committee.get(f"/dashboards/lang/en?next={path}")
    english = committee.get(path).text
    assert "Change a watch" in english and "Replace with" in english
    r = committee.post(f"{path}/add", data={"csrf": token, "volunteer_id": str(holder["id"])})
    assert r.status_code == 409 and f"{holder['name']} already holds this watch." in r.text


def test_checked_in_and_ended_watches_stay(
    committee: TestClient, admin: dict[str, str], clock: Clock
) -> None:
    team = _overlapping_team(committee, admin)
    r1 = team["r1"]
    (seat,) = r1["assignees"]
    holder = next(team[k] for k in "ab" if team[k]["id"] == seat["volunteer_id"])
    path = f"/dashboards/estates/jjq/roster/shifts/{r1['id']}"
    token = csrf(committee, path)
    clock.now = datetime(2026, 4, 6, 10, 5, tzinfo=UTC)  # Monday 18:05 in Shanghai
    r = committee.post(
        f"/api/v1/assignments/{seat['assignment_id']}/check-in", headers=holder["headers"]
    )
    assert r.status_code == 200, r.text
    r = committee.post(
        f"{path}/seats/{seat['assignment_id']}/replace",
        data={"csrf": token, "volunteer_id": str(team["c"]["id"])},
    )
    assert r.status_code == 409 and f"{holder['name']} 已签到" in r.text
    clock.now = datetime(2026, 4, 6, 12, 5, tzinfo=UTC)  # 20:05: the watch has ended
    r = committee.post(f"{path}/add", data={"csrf": token, "volunteer_id": str(team["c"]["id"])})
    assert r.status_code == 409 and "该班次已结束" in r.text
    assert "该班次已结束，人员不能再调整。" in committee.get(path).text
    assert [a["volunteer_id"] for a in _shift(committee, admin, r1["id"])["assignees"]] == [
        holder["id"]
    ]


def test_the_admin_json_routes_of_one_seat(
    committee: TestClient, admin: dict[str, str], db_url: str
) -> None:
    team = _overlapping_team(committee, admin)
    r1, r2 = team["r1"], team["r2"]
    (seat,) = r1["assignees"]
    holder = next(team[k] for k in "ab" if team[k]["id"] == seat["volunteer_id"])
    base = "/api/v1/estates/jjq"
    # The holder offers the seat; the committee gives it to C: the offer is withdrawn.
    offer = committee.post(
        f"/api/v1/assignments/{seat['assignment_id']}/swaps", headers=holder["headers"], json={}
    )
    assert offer.status_code == 201, offer.text
    r = committee.put(
        f"{base}/assignments/{seat['assignment_id']}",
        headers=admin,
        json={"volunteer_id": team["c"]["id"]},
    )
    assert r.status_code == 200, r.text
    assert [a["volunteer_id"] for a in r.json()["assignees"]] == [team["c"]["id"]]
    swaps = committee.get(f"{base}/swaps", headers=admin).json()
    assert [s["status"] for s in swaps if s["id"] == offer.json()["id"]] == ["cancelled"]
    # Double booking: r2's holder on r1 at an overlapping time.
    (r2_seat,) = r2["assignees"]
    r = committee.post(
        f"{base}/shifts/{r1['id']}/assignments",
        headers=admin,
        json={"volunteer_id": r2_seat["volunteer_id"]},
    )
    assert r.status_code == 409 and "overlaps" in r.json()["detail"]
    r = committee.post(
        f"{base}/shifts/{r1['id']}/assignments", headers=admin, json={"volunteer_id": 999999}
    )
    assert r.status_code == 422
    r = committee.post(
        f"{base}/shifts/{r1['id']}/assignments",
        headers=admin,
        json={"volunteer_id": holder["id"]},
    )
    assert r.status_code == 201 and len(r.json()["assignees"]) == 2
    assert r.json()["uncovered"] is False
    r = committee.delete(f"{base}/assignments/{seat['assignment_id']}", headers=admin)
    assert r.status_code == 200 and [a["volunteer_id"] for a in r.json()["assignees"]] == [
        holder["id"]
    ]
    assert (
        committee.delete(f"{base}/assignments/{seat['assignment_id']}", headers=admin).status_code
        == 404
    )
    # Another estate's admin, and a viewer, may not.
    other = make_token(db_url, Role.admin, estates=["other"])
    r = committee.post(
        f"{base}/shifts/{r1['id']}/assignments",
        headers=other,
        json={"volunteer_id": team["c"]["id"]},
    )
    assert r.status_code == 403
    viewer = make_token(db_url, Role.viewer)
    assert committee.delete(f"{base}/assignments/1", headers=viewer).status_code == 403
    r = committee.post(
        "/api/v1/estates/other/shifts/" + str(r1["id"]) + "/assignments",
        headers=admin,
        json={"volunteer_id": team["c"]["id"]},
    )
    assert r.status_code == 404
