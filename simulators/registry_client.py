"""Registering a simulated estate through the registry API (admin token), with httpx."""

from __future__ import annotations

from typing import Any

import httpx

from fenlei.errors import FenleiError
from ingest.contract import BinAddress
from simulators.broker import Login
from simulators.estate import Estate

# Households per bulk call: well under the API's limit, a few hundred KB of JSON.
HOUSEHOLDS_PER_CALL = 5_000
TIMEOUT_S = 60.0


class RegistryClient:
    """A thin client of ``/api/v1`` for what the simulator needs: register, read figures."""

    def __init__(self, base_url: str, token: str) -> None:
        self.http = httpx.Client(
            base_url=base_url.rstrip("/") + "/api/v1",
            headers={"Authorization": f"Bearer {token}"},
            timeout=TIMEOUT_S,
        )

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def register(self, estate: Estate) -> None:
        """Create or update the estate, its rooms, bins and households (idempotent)."""
        spec = estate.spec
        self._call(
            "PUT",
            f"/estates/{spec.id}",
            {
                "name": spec.name,
                "timezone": spec.timezone,
                "households_total": spec.households_total,
                "drop_windows": [list(w) for w in spec.drop_windows],
            },
        )
        for room in estate.rooms():
            self._call("PUT", f"/estates/{spec.id}/rooms/{room}", {"name": f"厢房 {room}"})
        for b in estate.bins:
            self._call(
                "PUT", f"/estates/{spec.id}/rooms/{b.room}/bins/{b.id}", {"category": b.category}
            )
        rows = [
            {
                "id": h.id,
                "building": h.building,
                "building_group": h.building_group,
                "enrolled_on": h.enrolled_on.isoformat() if h.enrolled_on else None,
            }
            for h in estate.households
        ]
        for i in range(0, len(rows), HOUSEHOLDS_PER_CALL):
            self._call("POST", f"/estates/{spec.id}/households", rows[i : i + HOUSEHOLDS_PER_CALL])

    def issue_logins(self, estate: Estate) -> dict[BinAddress, Login]:
        """MQTT credentials for every bin of ``estate``, as an installer gets them.

        ``POST …/bins/{bin}/credentials`` issues (or rotates: a previous run's password
        stops working) one login per bin; the password is in that answer only.
        """
        logins: dict[BinAddress, Login] = {}
        for b in estate.bins:
            path = f"/estates/{estate.id}/rooms/{b.room}/bins/{b.id}/credentials"
            answer = self._call("POST", path)
            if not isinstance(answer, dict) or not answer.get("username"):
                raise FenleiError(f"POST {path} did not return credentials")
            if answer.get("broker_applied") is False:
                # Stored, but the broker would refuse it: say so now, not at CONNACK.
                raise FenleiError(
                    f"POST {path}: the broker has not applied {answer['username']}'s login;"
                    " run `fenlei devices sync` (is FENLEI_ADMIN_MQTT_* set for the API?)"
                )
            logins[BinAddress(estate.id, b.room, b.id)] = Login(
                str(answer["username"]), str(answer["password"]), answer.get("client_id")
            )
        return logins

    def metrics(self, estate: str, start: str, end: str) -> dict[str, Any]:
        """``GET /estates/{estate}/metrics?from&to``: the computed figures."""
        answer = self._call("GET", f"/estates/{estate}/metrics", params={"from": start, "to": end})
        assert isinstance(answer, dict)
        return answer

    def _call(
        self, method: str, path: str, body: object = None, params: dict[str, str] | None = None
    ) -> Any:
        try:
            response = self.http.request(method, path, json=body, params=params)
        except httpx.HTTPError as exc:
            raise FenleiError(f"the API at {self.http.base_url} did not answer: {exc}") from exc
        if response.status_code >= 400:
            raise FenleiError(
                f"{method} {path} failed with {response.status_code}: {response.text[:500]}"
            )
        return response.json() if response.content else None
