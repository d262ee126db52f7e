"""How far the ingester has got with what a simulation sent (read-only SQL)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

import psycopg

# Events of a period are counted in a range this much wider on each side: devices in
# UTC and alarms just after midnight fall slightly outside the local days.
MARGIN = timedelta(days=1)


class StoreProbe:
    """Counts an estate's stored events and the rejections since the probe was made."""

    def __init__(self, database_url: str, estate: str) -> None:
        self.conn = psycopg.connect(
            database_url, autocommit=True, application_name="fenlei-simulate"
        )
        self.estate = estate
        row = self.conn.execute("SELECT now()").fetchone()
        assert row is not None
        self.since: datetime = row[0]

    def stored(self, first: datetime, last: datetime) -> int:
        """Events of the estate stored with ts in ``[first, last]`` (widened by a day)."""
        row = self.conn.execute(
            "SELECT count(*) FROM events WHERE estate_id = %s AND ts BETWEEN %s AND %s",
            (self.estate, first - MARGIN, last + MARGIN),
        ).fetchone()
        return int(row[0]) if row else 0

    def keys(self, first: datetime, last: datetime) -> Counter[tuple[str, str]]:
        """Stored rows per (bin, event_id) of the estate (``stored``'s range): what
        lost and duplicated are counted on."""
        rows = self.conn.execute(
            "SELECT b.id, e.event_id, count(*) FROM events e JOIN bins b USING (bin_key)"
            " WHERE e.estate_id = %s AND e.ts BETWEEN %s AND %s GROUP BY 1, 2",
            (self.estate, first - MARGIN, last + MARGIN),
        ).fetchall()
        return Counter({(str(b), str(event_id)): int(n) for b, event_id, n in rows})

    def rejected(self) -> int:
        """Messages of the estate quarantined since this probe was made."""
        row = self.conn.execute(
            "SELECT count(*) FROM rejected_messages WHERE estate_id = %s AND received_at >= %s",
            (self.estate, self.since),
        ).fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        self.conn.close()
