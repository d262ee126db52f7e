"""Bad input gets a clear 4xx, never a 500 (#14): request bodies, 422 answers, ranges.

- Bodies: a body sent to the API is not read before its token is accepted, and one
  larger than FENLEI_MAX_BODY_BYTES is refused with 413 without being read (declared)
  or as soon as its count passes the cap (streamed). Driven at the ASGI level, so the
  test sees exactly how much of each body the app pulled.
- A 422 lists the errors with their locations and a cut-down input, never the body.
- The seven 500s of the issue, each as the prober sent it, and every database
  DataError (a value the edge missed) as a 4xx.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, MutableMapping
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api import handlers
from api.periods import FIRST_DAY, PeriodRules, utc_today
from api.problems import MAX_ERRORS_LISTED, MAX_INPUT_CHARS
from api.registry.schemas import HouseholdIn
from api.settings import ApiSettings
from dashboards.period import resolve
from dashboards.settings import DashboardSettings
from fenlei.app import create_app
from tests.api.conftest import SECRET
from tests.fix_data import register

pytestmark = pytest.mark.integration

API = "/api/v1"
# The documented example household row (the OpenAPI's and the README's): what a
# committee's upload looks like.
_EXTRA = HouseholdIn.model_config.get("json_schema_extra")
assert isinstance(_EXTRA, dict) and isinstance(_EXTRA["examples"], list)
EXAMPLE_ROW = dict(_EXTRA["examples"][0])  # type: ignore[arg-type]


@pytest.fixture
def estate(db_url: str) -> str:
    register(db_url, "jjq", {"r1": {"b-dry": "dry", "b-wet": "wet"}})
    return "jjq"


def raw_request(
    client: TestClient,
    method: str,
    path: str,
    headers: dict[str, str],
    chunks: list[bytes],
    declare_length: bool = True,
) -> tuple[int, dict[str, str], bytes, int]:
    """One request straight into the ASGI app, on the client's event loop (its
    lifespan's pool): (status, headers, body, how many of `chunks` the app read)."""
    raw_headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    if declare_length:
        raw_headers.append((b"content-length", str(sum(map(len, chunks))).encode()))
    else:
        raw_headers.append((b"transfer-encoding", b"chunked"))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 50000),
        "root_path": "",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": raw_headers,
    }
    read = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal read
        if read < len(chunks):
            read += 1
            return {
                "type": "http.request",
                "body": chunks[read - 1],
                "more_body": read < len(chunks),
            }
        return {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    async def run() -> None:
        await client.app(scope, receive, send)

    assert client.portal is not None
    client.portal.call(run)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    answer_headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    return start["status"], answer_headers, body, read


def households_body(rows: int, row: dict[str, Any] | None = None) -> bytes:
    base = row or EXAMPLE_ROW
    return json.dumps([{**base, "id": f"JJQ-{i:05d}"} for i in range(rows)]).encode()


# -- bodies ------------------------------------------------------------------------------


def test_a_body_is_not_read_without_a_known_token(
    client: TestClient, admin: dict[str, str], estate: str
) -> None:
    path = f"{API}/estates/{estate}/households"
    chunks = [b"[" + b" " * 1_000_000] * 48 + [b"]"]  # 48 MB, declared up front
    for headers, why in (
        ({}, "no token"),
        ({"Authorization": "Bearer fl_not-a-token"}, "unknown token"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "not a bearer token"),
    ):
        status, answer, body, read = raw_request(client, "POST", path, headers, chunks)
        assert status == 401, (why, body)
        assert read == 0, f"{why}: the app read {read} chunks before refusing"
        assert answer.get("www-authenticate") == "Bearer", answer
        assert "detail" in json.loads(body)
    # A streamed body (no Content-Length) is refused the same way, unread.
    status, _, _, read = raw_request(client, "POST", path, {}, chunks, declare_length=False)
    assert (status, read) == (401, 0)
    # The pages are not the API: their forms (sign-in included) carry no bearer token,
    # and are read.
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    _, _, _, read = raw_request(client, "POST", "/dashboards/signin", form, [b"token=x"])
    assert read == 1


def test_a_body_past_the_cap_is_413_declared_or_streamed(
    db_url: str, admin: dict[str, str], estate: str
) -> None:
    cap = 64 * 1024
    app = create_app(
        ApiSettings(database_url=db_url, pool_min_size=1, pool_max_size=2, max_body_bytes=cap),
        DashboardSettings(session_secret=SECRET),
    )
    path = f"{API}/estates/{estate}/households"
    with TestClient(app) as client:
        chunks = [b"[" + b" " * (16 * 1024)] * 8 + [b"]"]  # 128 KiB
        status, _, body, read = raw_request(client, "POST", path, admin, chunks)
        assert status == 413 and read == 0, (status, body, read)
        assert f"{cap:,} bytes" in json.loads(body)["detail"]
        # Streamed: read until the count passes the cap, then refused (the rest unread).
        status, _, body, read = raw_request(client, "POST", path, admin, chunks, False)
        assert status == 413, body
        assert read == cap // len(chunks[0]) + 1, read  # the first chunk past the cap
        # Under the cap the body is read and the route answers (one household stored).
        small = [json.dumps([EXAMPLE_ROW]).encode()]
        json_type = {**admin, "Content-Type": "application/json"}
        status, _, body, _ = raw_request(client, "POST", path, json_type, small)
        assert status == 200, body
        # The pages' forms are capped too.
        status, _, _, read = raw_request(client, "POST", "/dashboards/signin", {}, chunks)
        assert (status, read) == (413, 0)


def test_the_default_cap_takes_a_50k_row_households_post(
    client: TestClient, admin: dict[str, str]
) -> None:
    """50,000 rows (the POST's own cap) of the README's example row fit under the
    default FENLEI_MAX_BODY_BYTES, as JSON clients send them (non-ASCII escaped)."""
    body = households_body(50_000)
    cap = ApiSettings.model_fields["max_body_bytes"].default
    print(f"50,000 example rows: {len(body):,} bytes; default cap {cap:,} bytes")
    assert len(body) < cap
    # Read, parsed and validated (not refused at the door): the estate does not exist.
    r = client.post(
        f"{API}/estates/nobody/households",
        content=body,
        headers={**admin, "Content-Type": "application/json"},
    )
    assert r.status_code == 404, r.text[:300]


# -- 422 answers -------------------------------------------------------------------------


def test_a_422_lists_errors_with_a_cut_down_input_never_the_body(
    client: TestClient, admin: dict[str, str], estate: str
) -> None:
    path = f"{API}/estates/{estate}/households"
    # Over the 50,000-row cap: the error's input is the whole list (2.3 MB).
    body = json.dumps([{"id": f"h{i}", "building": "1"} for i in range(60_000)]).encode()
    r = client.post(path, content=body, headers={**admin, "Content-Type": "application/json"})
    assert r.status_code == 422, r.text[:300]
    assert len(r.content) < 2_000, len(r.content)
    answer = r.json()
    assert isinstance(answer["detail"], str) and "body" in answer["detail"]
    [error] = answer["errors"]
    assert error["loc"] == ["body"] and error["type"] == "too_long"
    assert len(error["input"]) <= MAX_INPUT_CHARS and error["input"].startswith('[{"id":"h0"')
    # Many bad rows: the first ones are listed, all are counted.
    bad = [{"id": f"h{i}", "building": "x" * 65} for i in range(5_000)]
    r = client.post(path, json=bad, headers=admin)
    assert r.status_code == 422 and len(r.content) < 50_000, len(r.content)
    answer = r.json()
    assert len(answer["errors"]) == MAX_ERRORS_LISTED
    assert "4,999 more errors" in answer["detail"], answer["detail"]
    assert answer["errors"][0]["loc"] == ["body", 0, "building"]
    assert answer["errors"][0]["input"] == "x" * 65
    # A query parameter's error has the same shape.
    r = client.get(f"{API}/estates/{estate}/metrics?from=yesterday&to=2026-01-01", headers=admin)
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == ["query", "from"], r.json()


# -- the seven 500s ----------------------------------------------------------------------


def assert_422(r: Any, *where: str | int) -> dict[str, Any]:
    assert r.status_code == 422, f"{r.request.method} {r.request.url}: {r.status_code} {r.text}"
    answer: dict[str, Any] = r.json()
    assert isinstance(answer["detail"], str), answer
    if where:
        assert any(e["loc"][-len(where) :] == list(where) for e in answer["errors"]), answer
    return answer


@pytest.mark.parametrize(
    "path",
    [
        "/estates/jjq/daily",
        "/estates/jjq/metrics",
        "/metrics",
        "/estates/jjq/buildings/metrics",
    ],
)
def test_periods_at_the_end_of_the_calendar_are_422(
    client: TestClient, admin: dict[str, str], estate: str, path: str
) -> None:
    today = utc_today()
    for start, end, field in [
        ("9999-12-31", "9999-12-31", "from"),  # case 1
        ("0001-01-01", "0001-01-01", "from"),
        ("2026-01-01", "9999-12-31", "to"),
        (str(today), str(today + timedelta(days=400)), "to"),  # beyond today + a year
        ("2026-03-02", "2026-03-01", "to"),  # reversed
        ("2000-01-01", "2026-03-01", "to"),  # longer than ten years
    ]:
        r = client.get(f"{API}{path}", params={"from": start, "to": end}, headers=admin)
        assert_422(r, "query", field)
    ok = client.get(
        f"{API}{path}", params={"from": "2016-03-02", "to": "2026-03-01"}, headers=admin
    )
    assert ok.status_code == 200, ok.text  # 3,652 days: ten years is allowed


def test_period_rules_are_configurable(db_url: str, admin: dict[str, str], estate: str) -> None:
    app = create_app(
        ApiSettings(database_url=db_url, pool_min_size=1, pool_max_size=2, max_period_days=7),
        DashboardSettings(session_secret=SECRET),
    )
    with TestClient(app) as client:
        week = {"from": "2026-03-01", "to": "2026-03-07"}
        assert client.get(f"{API}/estates/jjq/daily", params=week, headers=admin).is_success
        week["to"] = "2026-03-08"
        r = client.get(f"{API}/estates/jjq/daily", params=week, headers=admin)
        assert "at most 7" in assert_422(r, "query", "to")["detail"]


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("0001-01-01", None),  # case 2: dashboards with from=0001-01-01
        ("0001-01-01", "0001-01-01"),
        ("0001-01-01", "9999-12-31"),  # case 3: the district view
        ("9999-12-31", None),  # case 4: the disclosure board
        ("9999-12-31", "9999-12-31"),
        (None, "0001-01-01"),
    ],
)
def test_the_pages_period_stays_inside_the_days_served(start: str | None, end: str | None) -> None:
    """The pages' period (dashboards.period.resolve) never leaves the API's days, so
    the pages' own arithmetic (the previous period; the API's figures) cannot overflow."""
    rules = PeriodRules()
    period = resolve(start, end)
    assert FIRST_DAY <= period.start <= period.end <= rules.last_day()
    assert period.days <= rules.max_days
    rules.check(period.start, period.end)  # what the API would accept
    previous = period.previous()  # the overview's comparison: no OverflowError
    assert previous.end < period.start


def _sign_in(client: TestClient, admin: dict[str, str]) -> None:
    """Through the sign-in form, as a browser does (with its CSRF field, if it has one)."""
    form = client.get("/dashboards/signin").text
    found = re.search(r'name="csrf" value="([^"]+)"', form)
    data = {"token": admin["Authorization"].split()[1], **({"csrf": found[1]} if found else {})}
    r = client.post("/dashboards/signin", data=data, follow_redirects=False)
    assert r.status_code == 303, r.text


@pytest.mark.parametrize(
    "page",
    [
        "/dashboards/estates/jjq?from=0001-01-01",  # case 2
        "/dashboards/estates/jjq?from=0001-01-01&to=0001-01-01",
        "/dashboards/district?from=0001-01-01&to=9999-12-31",  # case 3
        "/dashboards/estates/jjq/disclosure?from=9999-12-31",  # case 4
        "/dashboards/estates/jjq/export/daily?from=0001-01-01&to=9999-12-31&format=csv",
    ],
)
def test_the_pages_show_a_page_for_any_period(
    client: TestClient, admin: dict[str, str], estate: str, page: str
) -> None:
    _sign_in(client, admin)
    r = client.get(page)
    assert r.status_code == 200, r.text[:300]


def test_offsets_and_integers_fit_their_columns(
    client: TestClient, admin: dict[str, str], estate: str
) -> None:
    for offset in ("18446744073709551616", "9223372036854775808", "2147483648"):  # case 5
        r = client.get(f"{API}/estates/jjq/households", params={"offset": offset}, headers=admin)
        assert_422(r, "query", "offset")
    assert client.get(f"{API}/estates/jjq/households?offset=2147483647", headers=admin).is_success
    big = {"name": "J", "households_total": 3_000_000_000}  # case 6
    assert_422(client.put(f"{API}/estates/jjq", json=big, headers=admin), "households_total")
    top = {"name": "J", "households_total": 2**31 - 1}
    assert client.put(f"{API}/estates/jjq", json=top, headers=admin).is_success


@pytest.fixture
def volunteer(client: TestClient, admin: dict[str, str], estate: str) -> dict[str, Any]:
    r = client.post(f"{API}/estates/jjq/volunteers", headers=admin, json={"name": "王阿姨"})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def test_nul_and_lone_surrogates_are_refused_in_every_text_field(
    client: TestClient, admin: dict[str, str], estate: str, volunteer: dict[str, Any]
) -> None:
    """Case 7: a NUL byte in a volunteer, room or building name (PostgreSQL text cannot
    hold one); a lone surrogate cannot even be encoded."""
    for bad in ("王\x00阿姨", "a\ud800b"):
        for method, path, body, loc in [
            ("POST", "/estates/jjq/volunteers", {"name": bad}, "name"),
            ("PUT", f"/estates/jjq/volunteers/{volunteer['id']}", {"name": bad}, "name"),
            ("POST", "/estates/jjq/volunteers", {"name": "v", "contact": bad}, "contact"),
            ("PUT", "/estates/jjq/rooms/r2", {"name": bad}, "name"),
            ("PUT", "/estates/jjq", {"name": bad, "households_total": 3}, "name"),
            ("POST", "/estates/jjq/households", [{"id": "h1", "building": bad}], "building"),
            (
                "POST",
                "/estates/jjq/households",
                [{"id": "h1", "building": "1", "display_name": bad}],
                "display_name",
            ),
        ]:
            # json.dumps escapes both as \u0000 / \ud800, as a JSON client sends them.
            r = client.request(
                method,
                f"{API}{path}",
                content=json.dumps(body),
                headers={**admin, "Content-Type": "application/json"},
            )
            assert_422(r, loc)
    # A query cannot carry a lone surrogate (a URL is UTF-8); a NUL it can.
    r = client.get(f"{API}/estates/jjq/households", params={"building": "a\x00"}, headers=admin)
    assert_422(r, "query", "building")
    schema = client.get("/openapi.json").json()["components"]["schemas"]
    assert schema["VolunteerIn"]["properties"]["name"]["pattern"] == "^[^\\u0000]*$"


def test_times_of_day_with_an_offset_are_refused(
    client: TestClient, admin: dict[str, str], estate: str
) -> None:
    """Case 7: the watch-slot start "10:02:48-21:44" (a time at offset -21:44)."""
    slots = f"{API}/estates/jjq/rooms/r1/watch-slots"
    for start in ("10:02:48-21:44", "10:00+08:00", "10:00Z", "25:00", "3600"):
        assert_422(client.put(slots, json={"weekday": [[start, "21:44"]]}, headers=admin))
    r = client.put(slots, json={"weekday": [["10:02:48", "21:44"]]}, headers=admin)
    assert r.status_code == 200 and r.json()["slots"][0]["start"] == "10:02:48", r.text
    # Availability is kept to the minute: an offset, or seconds it would drop, are refused.
    people = f"{API}/estates/jjq/volunteers"
    for start in ("10:02:48-21:44", "10:02:48"):
        window = {"days": [0], "start": start, "end": "21:00"}
        assert_422(client.post(people, json={"name": "v", "availability": [window]}, headers=admin))
    # Drop-off windows (HH:MM text): an offset made the ends incomparable (a TypeError).
    windows = {"name": "J", "households_total": 3, "drop_windows": [["07:00-21:44", "09:00"]]}
    assert_422(client.put(f"{API}/estates/jjq", json=windows, headers=admin), "drop_windows", 0, 0)


def test_dates_and_instants_stay_inside_the_calendar(
    client: TestClient, admin: dict[str, str], estate: str
) -> None:
    r = client.post(f"{API}/estates/jjq/roster", params={"month": "9999-12"}, headers=admin)
    assert_422(r, "query", "month")  # was an OverflowError
    people = f"{API}/estates/jjq/volunteers"
    assert_422(
        client.post(people, json={"name": "v", "unavailable_on": ["9999-12-31"]}, headers=admin)
    )
    for at in ("9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59", "2026-04-03T19:00:00"):
        r = client.get(f"{API}/estates/jjq/rooms/r1/on-duty", params={"at": at}, headers=admin)
        assert_422(r, "query", "at")
        assert_422(client.get(f"{API}/rejected", params={"since": at}, headers=admin))


# -- every DataError is a 4xx -------------------------------------------------------------


@pytest.fixture
def refusing_app(db_url: str) -> Iterator[TestClient]:
    """A bare app with the API's error handler whose routes send the database values it
    refuses, unchecked: what a route with a missing bound would do."""
    app = FastAPI()
    handlers.install(app)

    @app.get("/refused/{kind}")
    def refused(kind: str) -> None:
        statements = {
            "integer": ("SELECT %s::int", (3_000_000_000,)),
            "bigint": ("SELECT %s::bigint", ("18446744073709551616",)),
            "datetime": ("SELECT %s::timestamptz", ("10:02:48-21:44 of no day",)),
            "timezone": ("SELECT %s::timetz", ("10:02:48-21:44",)),
            "nul": ("SELECT %s::text", ("a\x00b",)),
            "json_nul": ("SELECT %s::jsonb ->> 0", ('["a\\u0000"]',)),
            "date": ("SELECT %s::date + 1", ("5874897-12-31",)),
        }
        query, params = statements[kind]
        with psycopg.connect(db_url) as conn:
            conn.execute(query.encode(), params)

    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.mark.parametrize(
    "kind", ["integer", "bigint", "datetime", "timezone", "nul", "json_nul", "date"]
)
def test_every_database_data_error_is_a_422(refusing_app: TestClient, kind: str) -> None:
    r = refusing_app.get(f"/refused/{kind}")
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert detail.startswith("a value of this request is out of range or malformed")
    assert "\n" not in detail and len(detail) < 300, detail


def test_data_error_subclasses_all_map_to_422() -> None:
    """psycopg's DataError family, as named in the issue, under the one handler."""
    errors = psycopg.errors
    for cls in (
        errors.DataError,
        errors.NumericValueOutOfRange,
        errors.InvalidDatetimeFormat,
        errors.UntranslatableCharacter,
        errors.CharacterNotInRepertoire,
        errors.InvalidTimeZoneDisplacementValue,
        errors.DatetimeFieldOverflow,
    ):
        app = FastAPI()
        handlers.install(app)

        def fail(cls: type[Exception] = cls) -> None:
            raise cls("refused")

        app.get("/x")(fail)
        with TestClient(app, raise_server_exceptions=False) as client:
            assert client.get("/x").status_code == 422, cls


# -- OpenAPI truths ----------------------------------------------------------------------


def test_405_allows_every_method_of_the_path(client: TestClient, admin: dict[str, str]) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path, documented in (
        ("/api/v1/estates/jjq", paths["/api/v1/estates/{estate}"]),
        ("/api/v1/estates/jjq/households", paths["/api/v1/estates/{estate}/households"]),
    ):
        r = client.request("PATCH", path, headers=admin)
        assert r.status_code == 405, r.text
        allowed = {m.strip() for m in r.headers["allow"].split(",")}
        assert allowed == {m.upper() for m in documented}, (path, allowed)
        assert isinstance(r.json()["detail"], str)


def test_error_answers_are_documented_with_their_real_shape(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    assert schemas["Problem"]["properties"]["detail"]["type"] == "string"
    households = document["paths"]["/api/v1/estates/{estate}/households"]["post"]["responses"]
    for code in ("401", "403", "404", "409", "413", "422", "503"):
        schema = households[code]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/Problem"}, (code, schema)
    assert "HTTPValidationError" not in schemas
