"""Registering the demo's volunteer team through the volunteer API, over HTTP.

As the committee would: volunteers (`POST …/volunteers`, each answer carrying the
volunteer's own token), each room's watch slots, the months' rosters, then the
inspections of past watches (an admin may write one up at any time). What only a
volunteer may do goes with that volunteer's token: checking in to a watch under way
and offering a watch for a swap. Tokens stay in memory; nothing here prints them.

Past check-ins are not written here: the API takes a check-in only near the watch's
time, so `register_team` returns them (`TeamReport.history.attendance`) for the caller
to store as the history they are.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import httpx

from fenlei.errors import FenleiError
from simulators.estate import Estate
from simulators.team import SWAP_NOTE, History, Seat, Team, Watch, plan_history

TIMEOUT_S = 30.0
# A sign-in link's route that is not there (yet): the demo says how to get one instead.
NO_ROUTE = (404, 405)


@dataclass(frozen=True)
class TeamReport:
    """What registering the team did."""

    volunteers: dict[int, str]  # id → name, in registration order
    shifts: int
    history: History
    swap_id: int | None


@dataclass(frozen=True)
class SignInLink:
    """A volunteer's one-time sign-in link (a path), or None when the API has no route."""

    name: str
    url: str | None


class _Api:
    """``/api/v1`` with one bearer token."""

    def __init__(self, base_url: str, token: str) -> None:
        self.http = httpx.Client(
            base_url=base_url.rstrip("/") + "/api/v1",
            headers={"Authorization": f"Bearer {token}"},
            timeout=TIMEOUT_S,
        )

    def close(self) -> None:
        self.http.close()

    def response(
        self, method: str, path: str, body: object = None, params: dict[str, str] | None = None
    ) -> httpx.Response:
        try:
            return self.http.request(method, path, json=body, params=params)
        except httpx.HTTPError as exc:
            raise FenleiError(f"the API at {self.http.base_url} did not answer: {exc}") from exc

    def call(
        self, method: str, path: str, body: object = None, params: dict[str, str] | None = None
    ) -> Any:
        r = self.response(method, path, body, params)
        if r.status_code >= 400:
            raise FenleiError(f"{method} {path} failed with {r.status_code}: {r.text[:500]}")
        return r.json() if r.content else None


def months_of(first: date, last: date) -> list[str]:
    """The YYYY-MM months that local days [first, last] touch."""
    out, y, m = [], first.year, first.month
    while (y, m) <= (last.year, last.month):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def _watches(rows: Sequence[dict[str, Any]]) -> list[Watch]:
    return [
        Watch(
            shift_id=int(r["id"]),
            room=str(r["room"]),
            starts_at=datetime.fromisoformat(r["starts_at"]),
            ends_at=datetime.fromisoformat(r["ends_at"]),
            seats=tuple(
                Seat(int(a["assignment_id"]), int(a["volunteer_id"])) for a in r["assignees"]
            ),
        )
        for r in rows
    ]


def register_team(
    base_url: str,
    admin_token: str,
    estate: Estate,
    team: Team,
    months: Sequence[str],
    seed: int,
    now: datetime,
) -> TeamReport:
    """Register `team` for `estate` with rosters for `months` (YYYY-MM) and their
    history up to `now`; the volunteer tokens are used here and forgotten."""
    admin = _Api(base_url, admin_token)
    try:
        tokens: dict[int, str] = {}
        names: dict[int, str] = {}
        for member in team.members:
            created = admin.call("POST", f"/estates/{team.estate}/volunteers", member.body())
            tokens[int(created["id"])] = str(created["token"])
            names[int(created["id"])] = member.name
        watches = _publish_rosters(admin, team, months)
        served: dict[str, list[str]] = {}
        for h in estate.households:
            if h.building not in served.setdefault(h.room, []):
                served[h.room].append(h.building)
        # The first volunteer (the group leader who gets the sign-in link) can take the swap.
        history = plan_history(watches, now, seed, served, keep_free=next(iter(names)))
        for planned in history.inspections:
            admin.call("POST", f"/assignments/{planned.assignment_id}/inspections", planned.body())
    finally:
        admin.close()
    for seat in history.checking_in:
        path = f"/assignments/{seat.assignment_id}/check-in"
        _as(base_url, tokens[seat.volunteer_id], "POST", path)
    swap_id = None
    if history.swap is not None:
        path = f"/assignments/{history.swap.assignment_id}/swaps"
        offered = _as(
            base_url, tokens[history.swap.volunteer_id], "POST", path, {"note": SWAP_NOTE}
        )
        swap_id = int(offered["id"])
    return TeamReport(names, len(watches), history, swap_id)


def _publish_rosters(admin: _Api, team: Team, months: Sequence[str]) -> list[Watch]:
    """Each room's watch slots, the months' rosters, and the watches they made."""
    for room in team.rooms:
        admin.call("PUT", f"/estates/{team.estate}/rooms/{room}/watch-slots", team.slots_body())
    for month in months:
        admin.call("POST", f"/estates/{team.estate}/roster", params={"month": month})
    first, last = months[0] + "-01", month_last_day(months[-1]).isoformat()
    rows = admin.call("GET", f"/estates/{team.estate}/roster", params={"from": first, "to": last})
    return _watches(rows)


def month_last_day(month: str) -> date:
    """The last day of a YYYY-MM month."""
    y, m = (int(p) for p in month.split("-"))
    return date(y, m, calendar.monthrange(y, m)[1])


def _as(base_url: str, token: str, method: str, path: str, body: object = None) -> Any:
    """One call with a volunteer's own token."""
    api = _Api(base_url, token)
    try:
        return api.call(method, path, body)
    finally:
        api.close()


def signin_link(
    base_url: str, admin_token: str, estate: str, volunteer: int, name: str
) -> SignInLink:
    """`POST …/volunteers/{volunteer}/signin-link`: a one-time link for `volunteer`;
    its url None when the API has no such route (404/405)."""
    admin = _Api(base_url, admin_token)
    try:
        path = f"/estates/{estate}/volunteers/{volunteer}/signin-link"
        r = admin.response("POST", path)
        if r.status_code in NO_ROUTE:
            return SignInLink(name, None)
        if r.status_code >= 400:
            raise FenleiError(f"POST {path} failed with {r.status_code}: {r.text[:500]}")
        return SignInLink(name, str(r.json()["url"]))
    finally:
        admin.close()
