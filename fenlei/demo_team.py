"""The demo's volunteer team: registered through the API, its past check-ins stored,
and the volunteer sign-in link the demo prints.

The rosters cover last month (the backfilled telemetry's watches), this month and, in
its last week, next month (a committee publishes it by then), so there are past
watches to show and watches to come to swap on any day of the month.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from simulators.estate import Estate
from simulators.team import Attendance, build_team
from simulators.team_client import (
    SignInLink,
    month_last_day,
    months_of,
    register_team,
    signin_link,
)

# In the month's last days, next month's roster is out as well.
NEXT_MONTH_FROM_DAYS_LEFT = 7


@dataclass(frozen=True)
class TeamSetup:
    """The lines the demo prints about its team."""

    volunteer_line: str
    summary_line: str


def roster_months(today: date) -> list[str]:
    """YYYY-MM of last month, this month and, in this month's last week, next month."""
    first = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    last = today + timedelta(days=NEXT_MONTH_FROM_DAYS_LEFT)
    if last.month == today.month:
        last = today
    return months_of(first, last)


def setup_team(base: str, token: str, estate: Estate, seed: int, db_url: str) -> TeamSetup:
    """Register the demo's team for `estate` at the API `base` (admin `token`)."""
    started = time.monotonic()
    now = datetime.now(UTC)
    today = now.astimezone(ZoneInfo(estate.spec.timezone)).date()
    months = roster_months(today)
    first = date.fromisoformat(months[0] + "-01")
    team = build_team(estate, seed, first, month_last_day(months[-1]))
    report = register_team(base, token, estate, team, months, seed, now)
    record_attendance(db_url, estate.id, report.history.attendance)
    leader_id, leader = next(iter(report.volunteers.items()))
    link = signin_link(base, token, estate.id, leader_id, leader)
    seconds = time.monotonic() - started
    h = report.history
    mistaken = sum(any(x.mis_sorted for x in i.lines) for i in h.inspections)
    summary = (
        f"team       {len(report.volunteers)} volunteers, {report.shifts} watches"
        f" ({months[0]}..{months[-1]}), {len(h.attendance) + len(h.checking_in)} check-ins,"
        f" {len(h.inspections)} inspections ({mistaken} with mis-sorted drops),"
        f" {1 if report.swap_id else 0} swap offered  ({seconds:.1f} s)"
    )
    return TeamSetup(volunteer_line(base, link), summary)


def volunteer_line(base: str, link: SignInLink) -> str:
    """The volunteer pages' way in, printed beside the dashboard's URL."""
    if link.url is not None:
        return f"volunteer  {base}{link.url}  ({link.name}, one-time sign-in link)"
    # The API has no link route: the page, and where the committee makes a link.
    return (
        f"volunteer  {base}/volunteer  ({link.name}: a one-time sign-in link is made"
        " on the committee's volunteers screen)"
    )


def record_attendance(db_url: str, estate: str, attendance: Sequence[Attendance]) -> None:
    """Store the past watches' check-ins and check-outs, for the demo's estate only.

    The API takes a check-in only from 30 minutes before a watch until its end, as a
    volunteer at the bins does; watches already over are history, written here the way
    the backfill writes past telemetry: the demo's own past, straight into the store.
    """
    import psycopg

    rows = [(a.checked_in_at, a.checked_out_at, a.assignment_id, estate) for a in attendance]
    with psycopg.connect(db_url, application_name="fenlei-demo") as conn, conn.cursor() as cur:
        cur.executemany(
            "UPDATE assignments SET checked_in_at = %s, checked_out_at = %s"
            " WHERE id = %s AND shift_id IN (SELECT id FROM shifts WHERE estate_id = %s)",
            rows,
        )
