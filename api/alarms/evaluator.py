"""The alarm evaluator: one tick reads the events stored since its watermark and the
bins' state, and writes every alarm record in one transaction with the new watermark.

Idempotent by construction: a device alarm's `repeats` is recounted from the stored
events, derived records are upserted on the one-unresolved-per-key index, and the
watermark commits with the records. So a tick cut short (SIGKILL) leaves nothing, and
the next one redoes it; re-reading the margin before the watermark changes nothing.

The rules (README "Alarms"):
- device alarms (`overflow`, `odour`, `temperature`, `tilt`, `sensor_fault`): open or
  repeat the record of (bin, kind); resolve when the device has not repeated it for
  the estate's device_clear_minutes, and an overflow also at the bin's next `empty`.
- fill_high: the newest fill reading >= fill_pct; resolves when a newer reading (an
  `empty` counts as 0 unless it says otherwise) is below. Not opened while the bin has
  an unresolved `overflow` from the device, which says the same (one message, not two).
- battery_low: battery <= battery_pct; resolves above it.
- offline: the last will (online false), or no message for offline_minutes
  (offline_window_minutes during a drop-off window); resolves at the next message.
- silent_room: after a drop-off window in which the room had no identified drop,
  though the same window had some on >= 3 of the last 4 same-type days; resolves at
  the room's next identified drop.
- stuck_sensor: the last 10 drops weighed the same, or impossible fill levels were
  refused from the bin; resolves when a different weight or a valid fill arrives.
A record a person resolved is not reopened by the same evidence: a derived condition
reopens only with a message from the bin stored after that resolution.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import psycopg

from api.alarms import repository as repo
from api.alarms import rules
from api.alarms.settings import AlarmSettings
from api.rows import Conn, Row
from ingest.contract import ALARMS, TOPIC_ROOT

log = logging.getLogger("fenlei.alarms")
APPLICATION_NAME = "fenlei-alarms"
DERIVED = ("fill_high", "battery_low", "offline", "silent_room", "stuck_sensor")
Key = tuple[str, str, str, str]  # estate, room, bin ('' for a room), kind


@dataclass
class TickResult:
    """What one tick did (for logs and tests)."""

    until: datetime
    opened: int = 0
    repeated: int = 0
    resolved: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)


def _key(row: Row) -> Key:
    return (row["estate"], row["room"], row["bin"] or "", row["kind"])


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError):
        return ZoneInfo("Asia/Shanghai")


class _Tick:
    """The state of one tick: what is unresolved, what people resolved, the estates."""

    def __init__(self, conn: Conn, now: datetime, since: datetime, until: datetime) -> None:
        self.conn = conn
        self.now = now
        self.since = since
        self.until = until
        self.result = TickResult(until)
        self.open: dict[Key, Row] = {}
        self.people: dict[Key, datetime] = {}
        self.estates: dict[str, Row] = {}
        self.bins: dict[int, Row] = {}

    async def load(self) -> None:
        self.estates = {r["estate"]: r for r in await repo.estates_with_settings(self.conn)}
        self.bins = {r["bin_key"]: r for r in await repo.bins_state(self.conn)}
        await self.reload_open()
        self.people = {
            _key(r): r["resolved_at"] for r in await repo.people_resolutions(self.conn, DERIVED)
        }

    async def reload_open(self) -> None:
        self.open = {_key(r): r for r in await repo.unresolved(self.conn)}

    def blocked(self, key: Key, evidence: datetime | None) -> bool:
        """A person resolved this key after the evidence was stored: not again for it."""
        resolved = self.people.get(key)
        return resolved is not None and (evidence is None or evidence <= resolved)

    async def open_rows(self, rows: list[Row]) -> None:
        fresh = [r for r in rows if not self.blocked(_key(r), r.pop("evidence"))]
        n = await repo.open_derived(self.conn, fresh)
        self.result.opened += n
        for r in fresh:
            if _key(r) not in self.open:
                self.result.by_kind[r["kind"]] = self.result.by_kind.get(r["kind"], 0) + 1

    async def resolve(self, ids: list[int], why: str) -> None:
        self.result.resolved += await repo.resolve_auto(self.conn, ids, why)

    def settings(self, estate: str) -> Row | None:
        return self.estates.get(estate)

    # --- device alarms -----------------------------------------------------------------

    async def device(self) -> None:
        rows = await repo.upsert_device_alarms(self.conn, self.since, self.until, ALARMS)
        for r in rows:
            if r["inserted"]:
                self.result.opened += 1
                self.result.by_kind[r["kind"]] = self.result.by_kind.get(r["kind"], 0) + 1
            else:
                self.result.repeated += 1
        await self.resolve([r["id"] for r in await repo.overflows_emptied(self.conn)], "empty")
        quiet = await repo.device_alarms_quiet(self.conn, self.now)
        await self.resolve([r["id"] for r in quiet], "not repeated")

    # --- fill, battery, offline --------------------------------------------------------

    async def fill(self) -> None:
        opening: list[Row] = []
        clearing: list[int] = []
        for r in await repo.fill_readings(self.conn, self.since, self.until):
            b = self.bins.get(r["bin_key"])
            s = self.settings(b["estate"]) if b else None
            if b is None or s is None:
                continue
            key = (b["estate"], b["room"], b["bin"], "fill_high")
            record = self.open.get(key)
            if record is not None and r["ts"] < record["last_seen"]:
                continue  # an older reading (a backfill) says nothing about now
            if r["fill_pct"] >= s["fill_pct"]:
                if record is None and (b["estate"], b["room"], b["bin"], "overflow") in self.open:
                    # The bin's own overflow alarm already says it is full: a second
                    # record (and message) for the same bin would only repeat it.
                    continue
                opening.append(
                    self._row(
                        b,
                        "fill_high",
                        r["ts"],
                        r["received_at"],
                        {"fill_pct": r["fill_pct"], "threshold": s["fill_pct"]},
                    )
                )
            elif record is not None:
                clearing.append(record["id"])
        await self.open_rows(opening)
        await self.resolve(clearing, "fill below threshold")

    def _row(
        self, b: Row, kind: str, seen: datetime, evidence: datetime | None, detail: dict[str, Any]
    ) -> Row:
        return {
            "estate": b["estate"],
            "room": b["room"],
            "bin": b["bin"],
            "kind": kind,
            "seen": seen,
            "evidence": evidence,
            "detail": detail,
        }

    async def battery_and_offline(self) -> None:
        opening: list[Row] = []
        clearing: dict[str, list[int]] = {"battery above threshold": [], "message": []}
        for b in self.bins.values():
            s = self.settings(b["estate"])
            if s is None:
                continue
            battery = self.open.get((b["estate"], b["room"], b["bin"], "battery_low"))
            level = b["battery_pct"]
            if level is not None and level <= s["battery_pct"]:
                opening.append(
                    self._row(
                        b,
                        "battery_low",
                        self.now,
                        b["last_seen"],
                        {"battery_pct": level, "threshold": s["battery_pct"]},
                    )
                )
            elif level is not None and battery is not None:
                clearing["battery above threshold"].append(battery["id"])

            zone = _zone(s["timezone"])
            windows = rules.parse_windows(s["drop_windows"])
            minutes = rules.offline_minutes(
                self.now, windows, zone, s["offline_minutes"], s["offline_window_minutes"]
            )
            offline = self.open.get((b["estate"], b["room"], b["bin"], "offline"))
            if rules.is_offline(self.now, b["online"], b["last_seen"], minutes):
                if offline is None:
                    last = b["last_seen"]
                    opening.append(
                        self._row(
                            b,
                            "offline",
                            self.now,
                            last,
                            {
                                "last_message": last.isoformat() if last else None,
                                "last_will": b["online"] is False,
                                "minutes": minutes,
                            },
                        )
                    )
            elif offline is not None:
                before = offline["detail"].get("last_message")
                last = b["last_seen"]
                if last is not None and (before is None or last > datetime.fromisoformat(before)):
                    clearing["message"].append(offline["id"])
        await self.open_rows(opening)
        for why, ids in clearing.items():
            await self.resolve(ids, why)

    # --- stuck sensor ------------------------------------------------------------------

    async def stuck(self) -> None:
        opening: list[Row] = []
        clearing: list[int] = []
        for r in await repo.recent_drop_weights(self.conn, self.since, self.until, rules.STUCK_RUN):
            b = self.bins.get(r["bin_key"])
            s = self.settings(b["estate"]) if b else None
            if b is None or s is None or not s["stuck_sensor"]:
                continue
            key = (b["estate"], b["room"], b["bin"], "stuck_sensor")
            if rules.stuck_weights(r["weights"]):
                opening.append(
                    self._row(
                        b,
                        "stuck_sensor",
                        self.now,
                        r["newest_received"],
                        {"weight_g": r["weights"][0], "drops": rules.STUCK_RUN},
                    )
                )
            elif key in self.open and "weight_g" in self.open[key]["detail"]:
                clearing.append(self.open[key]["id"])
        by_topic = {
            f"{TOPIC_ROOT}/{b['estate']}/{b['room']}/{b['bin']}/events": b
            for b in self.bins.values()
        }
        for r in await repo.rejected_fill(self.conn, self.since, self.until):
            b = by_topic.get(r["topic"])
            s = self.settings(b["estate"]) if b else None
            if b is None or s is None or not s["stuck_sensor"]:
                continue
            opening.append(
                self._row(
                    b, "stuck_sensor", self.now, r["newest"], {"impossible_fill": int(r["n"])}
                )
            )
        for r in await repo.fill_readings(self.conn, self.since, self.until):
            b = self.bins.get(r["bin_key"])
            if b is None:
                continue
            record = self.open.get((b["estate"], b["room"], b["bin"], "stuck_sensor"))
            if (
                record is not None
                and "impossible_fill" in record["detail"]
                and not rules.fill_out_of_range(r["fill_pct"])
                and r["received_at"] > record["opened_at"]
            ):
                clearing.append(record["id"])
        await self.open_rows(opening)
        await self.resolve(clearing, "sensor reads again")

    # --- silent rooms ------------------------------------------------------------------

    async def silent(self) -> None:
        for estate, s in self.estates.items():
            zone = _zone(s["timezone"])
            windows = rules.parse_windows(s["drop_windows"])
            for key, record in list(self.open.items()):
                if key[0] == estate and key[3] == "silent_room":
                    start = datetime.fromisoformat(record["detail"]["window_start"])
                    if await repo.room_has_drop_since(self.conn, estate, key[1], start):
                        await self.resolve([record["id"]], "drop")
            if not s["silent_room"]:
                continue
            window = rules.last_ended_window(self.now, windows, zone)
            if window is None:
                continue
            done = await repo.silent_windows_recorded(self.conn, estate, window.start)
            rooms = [r for r in await repo.rooms_with_bins(self.conn, estate) if r not in done]
            if not rooms:
                continue
            spans = [(window.start, window.end)]
            for day in rules.same_type_days(window.day):
                w = rules.windows_on(day, windows, zone)[window.index]
                spans.append((w.start, w.end))
            counts: dict[tuple[str, int], int] = {
                (r["room"], int(r["i"]) - 1): int(r["n"])
                for r in await repo.identified_drops(self.conn, estate, spans)
            }
            opening = []
            for room in rooms:
                before = [counts.get((room, i), 0) for i in range(1, len(spans))]
                if rules.silent_room(counts.get((room, 0), 0), before):
                    opening.append(
                        {
                            "estate": estate,
                            "room": room,
                            "bin": None,
                            "kind": "silent_room",
                            "seen": window.end,
                            "evidence": None,
                            "detail": {
                                "window_start": window.start.isoformat(),
                                "window_end": window.end.isoformat(),
                                "usual_days": sum(1 for n in before if n > 0),
                                "of_days": len(before),
                            },
                        }
                    )
            self.result.opened += await repo.open_derived(self.conn, opening)
            if opening:
                n = self.result.by_kind.get("silent_room", 0) + len(opening)
                self.result.by_kind["silent_room"] = n


async def tick(conn: Conn, settings: AlarmSettings, now: datetime | None = None) -> TickResult:
    """One evaluation in one transaction. `now`: the clock the time-based rules use
    (offline, quiet device alarms, silent rooms); the database's by default."""
    async with conn.transaction():
        db_now, watermark = await repo.lock_and_watermark(conn)
        clock = now or db_now
        until = db_now
        if watermark is None:
            since = until - timedelta(seconds=settings.alarm_first_lookback_s)
        else:
            since = watermark - timedelta(seconds=settings.alarm_overlap_s)
        t = _Tick(conn, clock, since, until)
        await t.load()
        await t.device()
        await t.reload_open()
        await t.fill()
        await t.battery_and_offline()
        await t.stuck()
        await t.reload_open()
        await t.silent()
        await repo.save_watermark(conn, until)
        if t.result.opened or t.result.resolved:
            await repo.notify(
                conn,
                orjson.dumps(
                    {
                        "opened": t.result.opened,
                        "resolved": t.result.resolved,
                        "kinds": t.result.by_kind,
                    }
                ).decode(),
            )
    r = t.result
    level = logging.INFO if (r.opened or r.resolved) else logging.DEBUG
    log.log(
        level,
        "alarms: %d opened, %d repeated, %d resolved",
        r.opened,
        r.repeated,
        r.resolved,
        extra={
            "opened": r.opened,
            "repeated": r.repeated,
            "resolved_count": r.resolved,
            "kinds": r.by_kind,
        },
    )
    return r


async def connect(settings: AlarmSettings) -> Conn:
    conn: Conn = await psycopg.AsyncConnection.connect(
        settings.database_url, autocommit=True, application_name=APPLICATION_NAME
    )
    return conn


async def run_forever(
    settings: AlarmSettings,
    stop: asyncio.Event,
    clock: Callable[[], datetime | None] = lambda: None,
) -> None:
    """Tick every FENLEI_ALARM_INTERVAL_S until `stop`; reconnect with backoff while
    the database is away."""
    backoff = settings.retry_min_s
    conn: Conn | None = None
    while not stop.is_set():
        try:
            if conn is None or conn.closed:
                conn = await connect(settings)
            await tick(conn, settings, clock())
            backoff = settings.retry_min_s
            wait = settings.alarm_interval_s
        except (psycopg.OperationalError, psycopg.errors.QueryCanceled) as exc:
            log.warning(
                "alarms: database unavailable (%s); retrying in %.1f s",
                str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                backoff,
            )
            if conn is not None:
                await conn.close()
            conn = None
            wait = backoff
            backoff = min(backoff * 2, settings.retry_max_s)
        except Exception:
            # A tick that fails for another reason wrote nothing (one transaction); the
            # process stays up and says why, and the next tick tries again.
            log.exception("alarms: tick failed; retrying in %.1f s", backoff)
            wait = backoff
            backoff = min(backoff * 2, settings.retry_max_s)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=wait)
    if conn is not None:
        await conn.close()


def main(settings: AlarmSettings) -> int:
    async def go() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        log.info("alarms: evaluating every %.1f s", settings.alarm_interval_s)
        await run_forever(settings, stop)

    asyncio.run(go())
    return 0


def utcnow() -> datetime:
    return datetime.now(UTC)
