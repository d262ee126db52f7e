"""Revoked logins' open sessions, kicked off EMQX (what the API's admin client does
on Mosquitto).

EMQX refuses a revoked login's next CONNECT by itself (the row is gone from
emqx_authn), but a session already open stays open until it is kicked. The database
queues every deleted login in `mqtt_revocations` (a trigger, whatever deleted it); this
drains that queue through EMQX's REST API: log in as the dashboard user, list the
login's clients (`GET /api/v5/clients?username=…`), kick each
(`DELETE /api/v5/clients/{clientid}`), then forget the queue row. A login issued again
since (a new row with that username) is not kicked: its device may already be back with
the new password. A failure leaves the row queued for the next pass.

`python -m deploy.emqx.kicker` (compose's emqx-kicker, k8s's Deployment) loops:
FENLEI_DATABASE_URL, FENLEI_EMQX_API_URL (http://emqx:18083),
FENLEI_EMQX_API_USERNAME (admin), FENLEI_EMQX_DASHBOARD_PASSWORD. After every pass
that reached the database it touches FENLEI_EMQX_KICK_HEARTBEAT (its health check:
the file is younger than a minute).
"""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import psycopg

log = logging.getLogger(__name__)

# The same claim as the API's drain (api/devices/repository.py): rows locked for this
# transaction, skipped by another kicker's.
CLAIM_SQL = """
SELECT r.id, r.username,
       EXISTS (SELECT 1 FROM mqtt_accounts a WHERE a.username = r.username) AS reissued
FROM mqtt_revocations r ORDER BY r.id LIMIT %s FOR UPDATE OF r SKIP LOCKED
"""
FORGET_SQL = "DELETE FROM mqtt_revocations WHERE id = ANY(%s)"
BATCH = 100
TIMEOUT_S = 10.0
# fenlei's own logins run a few clients; a device one. A page this large holds them all.
CLIENTS_PAGE = 1000
HEARTBEAT = "/tmp/fenlei-emqx-kicker.alive"


class EmqxError(Exception):
    """EMQX's REST API did not do what was asked."""


class EmqxApi:
    """The few calls of EMQX 5's REST API the kicker needs, as the dashboard user."""

    def __init__(self, base_url: str, username: str, password: str) -> None:
        self._base = base_url.rstrip("/")
        self._username = username
        self._password = password
        self._token: str | None = None

    def _request(self, method: str, path: str, body: object | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self._base + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if self._token is not None:
            request.add_header("Authorization", f"Bearer {self._token}")
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            payload = response.read()
        return json.loads(payload) if payload else None

    def _login(self) -> None:
        self._token = None
        answer = self._request(
            "POST", "/api/v5/login", {"username": self._username, "password": self._password}
        )
        if not isinstance(answer, dict) or not isinstance(answer.get("token"), str):
            raise EmqxError("EMQX's login answered without a token")
        self._token = answer["token"]

    def _call(self, method: str, path: str) -> Any:
        """One call, logging in first (and again once when the token has expired)."""
        try:
            if self._token is None:
                self._login()
            try:
                return self._request(method, path)
            except urllib.error.HTTPError as exc:
                if exc.code != 401:
                    raise
                self._login()
                return self._request(method, path)
        except urllib.error.HTTPError as exc:
            raise EmqxError(f"{method} {path}: HTTP {exc.code}") from exc
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise EmqxError(f"{method} {path}: {exc}") from exc

    def client_ids(self, username: str) -> list[str]:
        """The connected (or session-holding) clients of `username`."""
        query = urlencode({"username": username, "limit": CLIENTS_PAGE})
        answer = self._call("GET", f"/api/v5/clients?{query}")
        rows = answer.get("data", []) if isinstance(answer, dict) else []
        return [str(row["clientid"]) for row in rows if "clientid" in row]

    def kick(self, client_id: str) -> None:
        """Disconnect the client and discard its session; gone already is done too."""
        try:
            self._call("DELETE", f"/api/v5/clients/{quote(client_id, safe='')}")
        except EmqxError as exc:
            if isinstance(exc.__cause__, urllib.error.HTTPError) and exc.__cause__.code == 404:
                return
            raise


def drain_once(database_url: str, api: EmqxApi) -> int:
    """One pass over the queue; how many revocations were done (kicked or moot)."""
    total = 0
    with psycopg.connect(database_url, application_name="fenlei-emqx-kicker") as conn:
        while True:
            with conn.transaction():
                rows = conn.execute(CLAIM_SQL, (BATCH,)).fetchall()
                done = [row_id for row_id, _, reissued in rows if reissued]
                failed = False
                for row_id, username, reissued in rows:
                    if reissued:
                        continue
                    try:
                        for client_id in api.client_ids(username):
                            api.kick(client_id)
                    except EmqxError as exc:
                        log.warning("kicking %s failed (%s); retrying later", username, exc)
                        failed = True
                        break
                    done.append(row_id)
                if done:
                    conn.execute(FORGET_SQL, (done,))
            total += len(done)
            if failed or len(rows) < BATCH:
                return total


def main() -> int:
    """Drain every FENLEI_EMQX_KICK_INTERVAL_S seconds (default 2), forever."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    database_url = os.environ.get("FENLEI_DATABASE_URL", "")
    password = os.environ.get("FENLEI_EMQX_DASHBOARD_PASSWORD", "")
    if not database_url or not password:
        raise SystemExit("FENLEI_DATABASE_URL and FENLEI_EMQX_DASHBOARD_PASSWORD must be set")
    api = EmqxApi(
        os.environ.get("FENLEI_EMQX_API_URL", "http://emqx:18083"),
        os.environ.get("FENLEI_EMQX_API_USERNAME", "admin"),
        password,
    )
    interval_s = float(os.environ.get("FENLEI_EMQX_KICK_INTERVAL_S", "2"))
    heartbeat = Path(os.environ.get("FENLEI_EMQX_KICK_HEARTBEAT", HEARTBEAT))
    while True:
        try:
            done = drain_once(database_url, api)
            heartbeat.touch()
            if done:
                log.info("revoked %d login(s) on EMQX", done)
        except psycopg.Error as exc:  # the database may be away; the next pass retries
            log.warning("draining revocations failed: %s", exc)
        time.sleep(interval_s)


if __name__ == "__main__":
    raise SystemExit(main())
