"""The dashboards' test data: a registry, seeded raw drops, and pandas' figures over them.

The drops are generated here (same seed, same events), published over MQTT to the real
ingester, and the expected figures are computed with pandas from the list of events as
published and the registry as written — never from the database or the product's code.

The registry has history (migration 0016): a household that moved in March, one that
left and came back, one that arrived in February; most are "since before records". A
household belongs, on day d, where its place since the latest `since` <= d puts it, and
is enrolled on d when a spell [enrolled_on, left_on) covers d. Some households carry a
display name, with or without consent to publish it; one name is a spreadsheet formula.
"""

from __future__ import annotations

import numbers
import random
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import psycopg

from ingest.contract import encode_payload, events_topic
from simulators.broker import Broker
from simulators.publisher import Publisher

PERIOD = (date(2026, 1, 1), date(2026, 3, 31))
TIMEZONE = "Asia/Shanghai"
WINDOWS = (("07:00", "09:00"), ("18:00", "20:00"))
CATEGORIES = ("dry", "wet", "recyclable", "hazardous", "construction")
HOUSEHOLD_CATEGORIES = ("dry", "wet", "recyclable", "hazardous")
SEED = 20260101


@dataclass(frozen=True, slots=True)
class Place:
    """Where a household belongs from `since` (None: since before records) until the
    next place's `since`."""

    since: date | None
    building: str
    group: str | None


@dataclass(frozen=True, slots=True)
class Household:
    id: str
    places: tuple[Place, ...]  # oldest first
    spells: tuple[tuple[date, date | None], ...] = ()  # [enrolled_on, left_on), oldest first
    display_name: str | None = None
    publish_consent: bool = False

    def place_on(self, day: date) -> tuple[str, str | None] | None:
        """(building, group) on `day`; None before its first place."""
        found = None
        for p in self.places:
            if p.since is None or p.since <= day:
                found = (p.building, p.group)
        return found

    def enrolled(self, day: date) -> bool:
        return any(lo <= day and (hi is None or hi > day) for lo, hi in self.spells)

    def memberships(self) -> list[tuple[date | None, date | None, str, str | None]]:
        """(valid_from, valid_to, building, group) rows, valid_to exclusive."""
        ends = [p.since for p in self.places[1:]] + [None]
        pairs = zip(self.places, ends, strict=True)
        return [(p.since, end, p.building, p.group) for p, end in pairs]


@dataclass(frozen=True, slots=True)
class Estate:
    id: str
    name: str
    households_total: int
    households: tuple[Household, ...]


def _jjq_household(n: int) -> Household:
    building = str((n - 1) // 20 + 1)
    if n <= 10:
        group: str | None = "1-1"
    elif n <= 20:
        group = "1-2"
    elif n <= 38:
        group = "2-1"
    elif n <= 40:
        group = "2-2"  # two households: hidden on the disclosure board
    elif n <= 57:
        group = "3-1"
    else:
        group = None  # no building group recorded
    if n % 15 == 0:
        enrolled: date | None = None  # registered, never enrolled
    elif n % 7 == 0:
        enrolled = date(2026, 2, 15)  # enrolled mid-period
    else:
        enrolled = date(2025, 12, 1)
    left = date(2026, 3, 10) if n in (11, 23) else None  # moved out in March
    places: tuple[Place, ...] = (Place(None, building, group),)
    if n == 5:  # moved from 1/1-1 to 2/2-1 on 15 March
        places += (Place(date(2026, 3, 15), "2", "2-1"),)
    spells: tuple[tuple[date, date | None], ...] = ()
    if enrolled is not None:
        spells = ((enrolled, left),)
    if n == 11:  # left on 10 March, back on 20 March
        spells += ((date(2026, 3, 20), None),)
    name, consent = NAMES.get(n, (None, False))
    return Household(f"h{n:04d}", places, spells, name, consent)


# A display name that is a spreadsheet formula, with the characters HTML must escape.
FORMULA_NAME = '=HYPERLINK("http://evil.example/?a=1&b=<x>","点我")'
# {household number: (display name, publish consent)} in jjq.
NAMES: dict[int, tuple[str | None, bool]] = {
    1: ("1号楼 101室", True),
    2: ("1号楼 102室", False),  # a name without consent: never shown
    3: (None, True),  # consent without a name: its code
    4: (FORMULA_NAME, True),
}
# Households that drop on nearly every day: the star families of group 1-1.
KEEN = {"h0001", "h0002", "h0004"}

# jjq: 61 households of a committee count of 70, in 3 buildings (h0061 arrived on 1
# February); oyl: 30 of 40.
ESTATES = (
    Estate(
        "jjq",
        "蒋家桥",
        70,
        (
            *(_jjq_household(n) for n in range(1, 61)),
            Household("h0061", (Place(date(2026, 2, 1), "3", "3-1"),), ((date(2026, 2, 1), None),)),
        ),
    ),
    Estate(
        "oyl",
        "欧阳路",
        40,
        tuple(
            Household(
                f"h{n:04d}", (Place(None, "A", f"A-{n % 3 + 1}"),), ((date(2025, 12, 1), None),)
            )
            for n in range(1, 31)
        ),
    ),
)
BY_ID = {e.id: e for e in ESTATES}

# Device state and the quarantine, written directly: the pages show them as stored.
DEVICE_STATE_SQL = """
UPDATE bins SET online = (id <> 'b-hazardous'), fill_pct = 20 + length(id) * 5,
    battery_pct = 80, last_seen = timestamptz '2026-03-31 20:00+08', state_ts = last_seen;
UPDATE bins SET last_alarm = 'overflow', last_alarm_at = timestamptz '2026-03-30 19:12+08'
WHERE estate_id = 'jjq' AND id = 'b-wet';
INSERT INTO rejected_messages (received_at, topic, estate_id, reason, detail, payload)
SELECT timestamptz '2026-03-01 08:00+08' + (n % 20) * interval '1 day',
       'fenlei/v1/jjq/r1/b-x/events', 'jjq',
       CASE WHEN n % 3 = 0 THEN 'unknown_bin' ELSE 'bad_json' END, 'test', '\\x00'
FROM generate_series(1, 40) AS n;
"""


def write_registry(url: str) -> None:
    """Estates (with their drop windows), one room of five bins each, households."""
    windows = "[" + ", ".join(f'["{lo}", "{hi}"]' for lo, hi in WINDOWS) + "]"
    with psycopg.connect(url) as conn:
        for e in ESTATES:
            conn.execute(
                "INSERT INTO estates (id, name, timezone, households_total, drop_windows)"
                " VALUES (%s, %s, %s, %s, %s::jsonb)",
                (e.id, e.name, TIMEZONE, e.households_total, windows),
            )
            conn.execute("INSERT INTO rooms (estate_id, id) VALUES (%s, 'r1')", (e.id,))
            for c in CATEGORIES:
                conn.execute(
                    "INSERT INTO bins (estate_id, room_id, id, category) VALUES (%s, 'r1', %s, %s)",
                    (e.id, f"b-{c}", c),
                )
            buildings = sorted({p.building for h in e.households for p in h.places})
            for b in buildings:
                conn.execute("INSERT INTO buildings (estate_id, id) VALUES (%s, %s)", (e.id, b))
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO households (estate_id, id, display_name, publish_consent)"
                    " VALUES (%s, %s, %s, %s)",
                    [(e.id, h.id, h.display_name, h.publish_consent) for h in e.households],
                )
                cur.executemany(
                    "INSERT INTO household_memberships (estate_id, household_id, valid_from,"
                    " valid_to, building_id, building_group_id)"
                    " VALUES (%s, %s, coalesce(%s::date, '-infinity'), %s, %s, %s)",
                    [(e.id, h.id, *m) for h in e.households for m in h.memberships()],
                )
                cur.executemany(
                    "INSERT INTO household_spells (estate_id, household_id, enrolled_on, left_on)"
                    " VALUES (%s, %s, %s, %s)",
                    [(e.id, h.id, lo, hi) for h in e.households for lo, hi in h.spells],
                )


def write_device_state(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in DEVICE_STATE_SQL.split(";")[:-1]:
            conn.execute(statement)


# -- the raw drops ------------------------------------------------------------------------


def _moment(rng: random.Random) -> time:
    """A local time of day: mostly inside the windows, some on their edges and midnight's."""
    r = rng.random()
    if r < 0.02:
        return time(9, 0)  # a window's end: outside
    if r < 0.04:
        return time(7, 0)  # a window's start: inside
    if r < 0.05:
        return time(23, 59, 59)
    if r < 0.06:
        return time(0, 0)
    if r < 0.85:
        lo, hi = rng.choice(WINDOWS)
        start = int(lo[:2]) * 3600
        seconds = start + rng.randrange(int(hi[:2]) * 3600 - start)
    else:
        seconds = rng.randrange(86_400)
    return time(seconds // 3600, seconds % 3600 // 60, seconds % 60)


def make_events(seed: int = SEED) -> list[dict[str, Any]]:
    """Drops of both estates from two days before the period to one day after it.

    Each household drops on a day with its own probability (some never); anonymous
    drops and a card nobody registered come on top. Each event carries its `estate`
    and `bin` (the topic), the rest is its wire form.
    """
    rng = random.Random(seed)
    zone = ZoneInfo(TIMEZONE)
    events: list[dict[str, Any]] = []
    first, last = PERIOD[0] - timedelta(days=2), PERIOD[1] + timedelta(days=1)
    for estate in ESTATES:
        propensity = {
            h.id: 0.0 if int(h.id[1:]) % 13 == 0 else rng.uniform(0.05, 0.9)
            for h in estate.households
        }
        if estate.id == "jjq":
            propensity |= dict.fromkeys(KEEN, 0.97)
        day = first
        while day <= last:
            droppers: list[str | None] = []
            for h, p in propensity.items():
                if rng.random() < p:
                    droppers += [h] * (2 if rng.random() < 0.3 else 1)
            droppers += [None] * rng.randint(0, 4)
            if rng.random() < 0.2:
                droppers.append("ghost-1")  # a card the committee never registered
            for household in droppers:
                local = datetime.combine(day, _moment(rng), tzinfo=zone)
                category = rng.choices(CATEGORIES, weights=(35, 35, 20, 3, 7))[0]
                ts = (
                    local.isoformat()
                    if rng.random() < 0.5
                    else local.astimezone(UTC).isoformat().replace("+00:00", "Z")
                )
                event: dict[str, Any] = {
                    "estate": estate.id,
                    "bin": f"b-{category}",
                    "event_id": f"e-{len(events)}",
                    "ts": ts,
                    "kind": "drop",
                    "weight_g": rng.randint(50, 20_000 if category == "construction" else 4_000),
                }
                if household is not None:
                    event["household"] = household
                events.append(event)
            day += timedelta(days=1)
    return events


def _wire(event: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k not in ("estate", "bin")}


def publish(broker: Broker, events: list[dict[str, Any]], seed: int = SEED) -> None:
    """Publish per bin in arrays of 100, then redeliver a twentieth one by one (QoS 1)."""
    rng = random.Random(seed + 1)
    by_topic: dict[str, list[dict[str, Any]]] = {}
    for e in events:
        by_topic.setdefault(events_topic(e["estate"], "r1", e["bin"]), []).append(_wire(e))
    with Publisher(broker, f"test-dashboards-{uuid.uuid4().hex[:8]}") as pub:
        for topic, items in by_topic.items():
            for i in range(0, len(items), 100):
                pub.publish(topic, encode_payload(items[i : i + 100]))
        for e in rng.sample(events, len(events) // 20):
            pub.publish(events_topic(e["estate"], "r1", e["bin"]), encode_payload(_wire(e)))
        pub.flush()


# -- the independent computation ----------------------------------------------------------


def ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def _wet_share(g: pd.DataFrame) -> float | None:
    by = g.groupby("category")["weight_g"].sum()
    return ratio(float(by.get("wet", 0)), float(sum(by.get(c, 0) for c in HOUSEHOLD_CATEGORIES)))


class Expected:
    """The figures the pages should show, from the published events and the registry."""

    def __init__(self, events: Iterable[dict[str, Any]]) -> None:
        df = pd.DataFrame(list(events)).drop_duplicates(subset=["estate", "bin", "event_id"])
        df["category"] = df["bin"].str.removeprefix("b-")
        local = pd.to_datetime(df["ts"], utc=True, format="ISO8601").dt.tz_convert(TIMEZONE)
        df["day"] = local.dt.date
        clock = local.dt.strftime("%H:%M:%S")
        df["in_window"] = False
        for lo, hi in WINDOWS:
            df["in_window"] |= (clock >= f"{lo}:00") & (clock < f"{hi}:00")
        self.drops = df

    def registry(self, estate: str, day: date) -> pd.DataFrame:
        """The households registered on `day`, where they belong that day."""
        rows = []
        for h in BY_ID[estate].households:
            place = h.place_on(day)
            if place is not None:
                rows.append({"household": h.id, "building": place[0], "group": place[1]})
        return pd.DataFrame(rows)

    def _period(self, estate: str, start: date, end: date) -> pd.DataFrame:
        df = self.drops
        return df[(df["estate"] == estate) & (df["day"] >= start) & (df["day"] <= end)]

    def enrolled(self, estate: str, day: date) -> set[str]:
        """Households enrolled on `day`: a spell with enrolled_on <= day < left_on."""
        return {h.id for h in BY_ID[estate].households if h.enrolled(day)}

    def estate(self, estate: str, start: date, end: date) -> dict[str, Any]:
        """The cards' figures and what they are made of."""
        p = self._period(estate, start, end)
        on_to = self.enrolled(estate, end)
        active = on_to & set(p["household"].dropna())
        return {
            "households_total": BY_ID[estate].households_total,
            "households_enrolled": len(on_to),
            "households_active": len(active),
            "coverage": ratio(len(on_to), BY_ID[estate].households_total),
            "participation_rate": ratio(len(active), len(on_to)),
            "wet_share": _wet_share(p),
            "in_window_share": ratio(int(p["in_window"].sum()), len(p)),
            "drops": len(p),
            "kg_total": int(p["weight_g"].sum()) / 1000,
            "in_window_drops": int(p["in_window"].sum()),
            "grams": {c: int(p.loc[p["category"] == c, "weight_g"].sum()) for c in CATEGORIES},
        }

    def district(self, estates: list[str], start: date, end: date) -> dict[str, dict[str, Any]]:
        """Each estate's figures, and '(total)': ratios of the summed counts."""
        rows = {e: self.estate(e, start, end) for e in estates}
        s = {k: sum(r[k] for r in rows.values()) for k in rows[estates[0]] if k != "grams"}
        g = {c: sum(r["grams"][c] for r in rows.values()) for c in CATEGORIES}
        total = {
            **s,
            "coverage": ratio(s["households_enrolled"], s["households_total"]),
            "participation_rate": ratio(s["households_active"], s["households_enrolled"]),
            "wet_share": ratio(g["wet"], sum(g[c] for c in HOUSEHOLD_CATEGORIES)),
            "in_window_share": ratio(s["in_window_drops"], s["drops"]),
        }
        return {**rows, "(total)": total}

    def daily(self, estate: str, start: date, end: date) -> list[dict[str, Any]]:
        """One row per local day of [start, end], days without drops included."""
        p = self._period(estate, start, end)
        out = []
        day = start
        while day <= end:
            one = p[p["day"] == day]
            on_day = self.enrolled(estate, day)
            active = on_day & set(one["household"].dropna())
            out.append(
                {
                    "day": day,
                    "households_enrolled": len(on_day),
                    "households_active": len(active),
                    "participation_rate": ratio(len(active), len(on_day)),
                    "drops": len(one),
                    "wet_share": _wet_share(one),
                    "in_window_share": ratio(int(one["in_window"].sum()), len(one)),
                    **{
                        f"kg_{c}": int(one.loc[one["category"] == c, "weight_g"].sum()) / 1000
                        for c in CATEGORIES
                    },
                }
            )
            day += timedelta(days=1)
        return out

    def units(self, estate: str, start: date, end: date, by_group: bool) -> list[dict[str, Any]]:
        """Per building (or building group): the households registered there on `end`
        and their drops in the whole period.

        Ranked by participation rate, best first, rates of None last; equal rates keep
        the buildings' (then groups') order.
        """
        p = self._period(estate, start, end)
        reg = self.registry(estate, end)
        reg["group"] = reg["group"].fillna("")  # a key pandas can group by
        on_to = self.enrolled(estate, end)
        keys = ["building", "group"] if by_group else ["building"]
        rows: list[dict[str, Any]] = []
        for key, members in reg.groupby(keys, sort=True):
            ids = set(members["household"])
            theirs = p[p["household"].isin(ids)]
            enrolled = ids & on_to
            active = enrolled & set(theirs["household"])
            names = key if isinstance(key, tuple) else (key,)
            row: dict[str, Any] = dict(zip(keys, names, strict=True))
            if by_group:
                row["group"] = row["group"] or None
            rows.append(
                {
                    **row,
                    "households_registered": len(ids),
                    "households_enrolled": len(enrolled),
                    "households_active": len(active),
                    "participation_rate": ratio(len(active), len(enrolled)),
                    "drops": len(theirs),
                    "kg_total": int(theirs["weight_g"].sum()) / 1000,
                    "wet_share": _wet_share(theirs),
                }
            )
        rows.sort(key=lambda r: (r["participation_rate"] is None, -(r["participation_rate"] or 0)))
        return rows

    def stars(
        self,
        estate: str,
        start: date,
        end: date,
        shown: set[tuple[str, str | None]],
        n: int,
        code: Callable[[str], str],
    ) -> list[dict[str, Any]]:
        """The board's star families of the groups `shown`, each group's in building then
        group order (no group first): its `n` households enrolled on `end` with the most
        days with a drop in the period, then the most drops, then by what the board shows
        (`household`): the display name when the household consented to it, its code
        (`code(id)`) otherwise."""
        p = self._period(estate, start, end).dropna(subset=["household"])
        by_id = {h.id: h for h in BY_ID[estate].households}
        per: dict[tuple[str, str | None], list[dict[str, Any]]] = {}
        for household, theirs in p.groupby("household"):
            h = by_id.get(str(household))
            place = None if h is None or not h.enrolled(end) else h.place_on(end)
            if h is None or place is None or place not in shown:
                continue
            per.setdefault(place, []).append(
                {
                    "id": h.id,
                    "building": place[0],
                    "group": place[1],
                    "household": h.display_name
                    if h.publish_consent and h.display_name
                    else code(h.id),
                    "active_days": int(theirs["day"].nunique()),
                    "drops": len(theirs),
                }
            )
        out: list[dict[str, Any]] = []
        for key in sorted(per, key=lambda k: (k[0], k[1] or "")):
            ranked = sorted(
                per[key], key=lambda r: (-r["active_days"], -r["drops"], r["household"])
            )
            out += ranked[:n]
        return out


# -- comparing ----------------------------------------------------------------------------


def same(got: Any, want: Any) -> bool:
    """A shown value equals the expected one: None as empty/NaN, floats to 1e-12."""
    if want is None:
        return got is None or got == "" or (isinstance(got, float) and got != got)
    if isinstance(want, float):
        return isinstance(got, numbers.Real) and abs(float(got) - want) <= 1e-12 * max(1, abs(want))
    if isinstance(want, date):
        return str(got)[:10] == want.isoformat()
    return bool(got == want)


def mismatches(
    rows: list[dict[str, Any]], want: list[dict[str, Any]], columns: dict[str, str]
) -> list[str]:
    """Differences between exported rows and expected rows, `columns` = {key: header}."""
    if len(rows) != len(want):
        return [f"{len(rows)} rows, want {len(want)}"]
    return [
        f"row {i} {key}: {got[header]!r} != {w[key]!r}"
        for i, (got, w) in enumerate(zip(rows, want, strict=True))
        for key, header in columns.items()
        if not same(got[header], w[key])
    ]
