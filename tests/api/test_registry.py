"""Registry answers: 404 / 409 / 422 that say what is wrong; sheets all or nothing."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest
from fastapi.testclient import TestClient

from api import cli
from fenlei.cli import build_parser
from fenlei.errors import FenleiError
from tests.fix_data import scalar

pytestmark = pytest.mark.integration


@pytest.fixture
def estate(client: TestClient, admin: dict[str, str]) -> str:
    assert (
        client.put(
            "/api/v1/estates/jjq", headers=admin, json={"name": "JJQ", "households_total": 3}
        ).status_code
        == 201
    )
    assert client.put("/api/v1/estates/jjq/rooms/r1", headers=admin).status_code == 201
    assert (
        client.put(
            "/api/v1/estates/jjq/rooms/r1/bins/b1", headers=admin, json={"category": "wet"}
        ).status_code
        == 201
    )
    return "jjq"


def test_unknown_estate_room_or_bin_is_404(
    client: TestClient, admin: dict[str, str], estate: str
) -> None:
    for method, path, body in [
        ("GET", "/api/v1/estates/nope", None),
        ("PUT", "/api/v1/estates/nope/rooms/r1", {}),
        ("GET", "/api/v1/estates/jjq/rooms/r9", None),
        ("PUT", "/api/v1/estates/jjq/rooms/r9/bins/b1", {"category": "dry"}),
        ("GET", "/api/v1/estates/jjq/rooms/r1/bins/b9", None),
        ("POST", "/api/v1/estates/nope/households", [{"id": "h1", "building": "1"}]),
        ("GET", "/api/v1/estates/nope/metrics?from=2026-01-01&to=2026-01-02", None),
        ("GET", "/api/v1/metrics?from=2026-01-01&to=2026-01-02&estate=nope", None),
        ("GET", "/api/v1/estates/jjq/households/h9", None),
    ]:
        r = client.request(method, path, json=body, headers=admin)
        assert r.status_code == 404, f"{method} {path}: {r.text}"
        assert r.json()["detail"].startswith("no "), r.text


def test_bad_values_are_422(client: TestClient, admin: dict[str, str], estate: str) -> None:
    for method, path, body in [
        ("PUT", "/api/v1/estates/jjq/rooms/r1/bins/b2", {"category": "glass"}),
        ("PUT", "/api/v1/estates/jjq", {"name": "J", "households_total": -1}),
        (
            "PUT",
            "/api/v1/estates/jjq",
            {"name": "J", "households_total": 1, "timezone": "Mars/Olympus"},
        ),
        (
            "PUT",
            "/api/v1/estates/jjq",
            {"name": "J", "households_total": 1, "drop_windows": [["09:00", "07:00"]]},
        ),
        ("PUT", "/api/v1/estates/Bad_Id", {"name": "J", "households_total": 1}),
        ("GET", "/api/v1/estates/jjq/metrics?from=2026-02-01&to=2026-01-01", None),
        ("GET", "/api/v1/estates/jjq/metrics?from=2026-02-30&to=2026-03-01", None),
    ]:
        r = client.request(method, path, json=body, headers=admin)
        assert r.status_code == 422, f"{method} {path}: {r.text}"
    assert (
        scalar(
            client.app.state.settings.database_url,  # type: ignore[attr-defined]
            "SELECT count(*) FROM bins",
        )
        == 1
    )


def test_households_are_all_or_nothing(
    client: TestClient, admin: dict[str, str], estate: str, db_url: str
) -> None:
    url = "/api/v1/estates/jjq/households"
    good = {"id": "h1", "building": "1", "enrolled_on": "2026-03-01"}
    r = client.post(
        url,
        headers=admin,
        json=[
            good,
            {"id": "h2", "building": "1", "enrolled_on": "2026-03-05", "left_on": "2026-03-01"},
        ],
    )
    assert r.status_code == 422 and "left_on" in r.text
    r = client.post(url, headers=admin, json=[good, {"id": "bad token!", "building": "1"}])
    assert r.status_code == 422
    r = client.post(url, headers=admin, json=[good, good])
    assert r.status_code == 409 and "h1" in r.json()["detail"]
    assert scalar(db_url, "SELECT count(*) FROM households") == 0
    r = client.post(
        url, headers=admin, json=[good, {"id": "h2", "building": "2", "building_group": "2-1"}]
    )
    done = r.json()
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    assert (done["upserted"], done["created"], done["updated"], done["unchanged"]) == (2, 2, 0, 0)
    # h1's enrolment reaches back before today (h2 belongs from today on): said so.
    back = (today - date(2026, 3, 1)).days
    assert done["backdated"] == {
        "rows": 1,
        "earliest": "2026-03-01",
        "days_touched": back,
        "changes": [{"id": "h1", "from": "2026-03-01", "days": back}],
    }
    r = client.post(url, headers=admin, json=[{**good, "left_on": "2026-04-01"}])
    done = r.json()
    assert (done["upserted"], done["created"], done["updated"], done["unchanged"]) == (1, 0, 1, 0)
    assert done["backdated"]["days_touched"] == (today - date(2026, 4, 1)).days
    assert client.get(f"{url}/h1", headers=admin).json()["left_on"] == "2026-04-01"
    # The same rows again change nothing.
    r = client.post(url, headers=admin, json=[{**good, "left_on": "2026-04-01"}])
    assert (r.json()["unchanged"], r.json()["backdated"]["rows"]) == (1, 0)


def test_conflicts_are_409(
    client: TestClient, admin: dict[str, str], estate: str, db_url: str
) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO events (ts, bin_key, event_id, estate_id, category, kind,"
            " weight_g) SELECT now(), bin_key, 'e1', 'jjq', 'wet', 'drop', 5 FROM bins"
        )
        # The ingester claims each event's key with it (a bin's history is its keys:
        # raw-event retention drops old events and keeps them).
        conn.execute(
            "INSERT INTO event_keys (bin_key, event_id, ts) SELECT bin_key, 'e1', now() FROM bins"
        )
        conn.execute("INSERT INTO daily_category VALUES ('jjq', '2026-03-01', 'wet', 1, 5, 0, 0)")
    r = client.put("/api/v1/estates/jjq/rooms/r1/bins/b1", headers=admin, json={"category": "dry"})
    assert r.status_code == 409 and "wet" in r.json()["detail"]
    assert (
        client.put(
            "/api/v1/estates/jjq/rooms/r1/bins/b1", headers=admin, json={"category": "wet"}
        ).status_code
        == 200
    )  # unchanged is fine
    r = client.put(
        "/api/v1/estates/jjq",
        headers=admin,
        json={"name": "J", "households_total": 3, "timezone": "UTC"},
    )
    assert r.status_code == 409 and "time zone" in r.json()["detail"]
    assert client.delete("/api/v1/estates/jjq/rooms/r1/bins/b1", headers=admin).status_code == 409
    assert client.delete("/api/v1/estates/jjq/rooms/r1", headers=admin).status_code == 409
    assert client.delete("/api/v1/estates/jjq", headers=admin).status_code == 409


def test_a_delete_racing_an_ingester_is_409(
    client: TestClient, admin: dict[str, str], estate: str, db_url: str
) -> None:
    # The ingester has claimed the bin's first event key but its commit was not yet
    # visible to the API's own check: the foreign key refuses the delete.
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO event_keys (bin_key, event_id, ts) SELECT bin_key, 'k1', now() FROM bins"
        )
    for path in ("/rooms/r1/bins/b1", ""):
        r = client.delete(f"/api/v1/estates/jjq{path}", headers=admin)
        assert r.status_code == 409 and "recorded events" in r.json()["detail"], r.text
    assert scalar(db_url, "SELECT count(*) FROM bins") == 1


def run_cli(argv: list[str], monkeypatch: pytest.MonkeyPatch, db_url: str) -> int:
    monkeypatch.setenv("FENLEI_DATABASE_URL", db_url)
    return cli.run(build_parser().parse_args(argv))


def test_sheet_import_rejects_malformed_rows_and_imports_nothing(
    estate: str,
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sheet = tmp_path / "households.csv"
    sheet.write_text(
        "\ufeffid,building,building_group,enrolled_on,left_on\n"
        "h1,1,1-1,2026-03-01,\n"
        "h2,1,,2026-13-01,\n"  # no such month
        "h3,,1-1,2026-03-01,\n"  # no building
        "h1,2,,2026-03-01,\n"  # repeats line 2
        "h5,2,2-1,2026-03-05,2026-03-01\n",
        encoding="utf-8",
    )
    with pytest.raises(FenleiError, match="4 rejected"):
        run_cli(["registry", "import", str(sheet), "--estate", estate], monkeypatch, db_url)
    err = capsys.readouterr().err
    for line in ("line 3", "line 4", "line 5", "line 6"):
        assert line in err
    assert "  line 2:" not in err
    assert scalar(db_url, "SELECT count(*) FROM households") == 0


def test_sheet_import_csv_and_excel(
    estate: str,
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    import pandas as pd

    caplog.set_level(logging.INFO, logger="fenlei.audit")
    rows = [
        {
            "户号": f"h{i}",
            "楼号": str(i % 3),
            "楼组": f"{i % 3}-1",
            "入户日期": "2026-03-01",
            "退出日期": "",
        }
        for i in range(2500)
    ]
    pd.DataFrame(rows).to_excel(tmp_path / "sheet.xlsx", index=False)
    assert (
        run_cli(
            ["registry", "import", str(tmp_path / "sheet.xlsx"), "--estate", estate],
            monkeypatch,
            db_url,
        )
        == 0
    )
    assert "2500 households" in capsys.readouterr().out
    assert scalar(db_url, "SELECT count(DISTINCT household_id) FROM household_spells") == 2500
    # A sheet is audited like the API's POST, as the local user's change.
    (imported,) = [r.__dict__ for r in caplog.records if r.name == "fenlei.audit"]
    assert (imported["audit"], imported["component"], imported["households_created"]) == (
        "households",
        "cli",
        2500,
    )
    assert scalar(db_url, "SELECT count(*) FROM building_groups") == 3
    with pytest.raises(FenleiError, match="no estate"):
        run_cli(
            ["registry", "import", str(tmp_path / "sheet.xlsx"), "--estate", "nope"],
            monkeypatch,
            db_url,
        )


def test_token_cli_prints_a_working_token_last(
    client: TestClient,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert (
        run_cli(["token", "create", "--role", "viewer", "--estate", "jjq"], monkeypatch, db_url)
        == 0
    )
    token = capsys.readouterr().out.strip().splitlines()[-1]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/estates", headers=headers).status_code == 403
    r = client.get("/api/v1/metrics?from=2026-01-01&to=2026-01-02", headers=headers)
    assert r.status_code == 200 and r.json()["estates"] == []
    run_cli(["token", "list"], monkeypatch, db_url)
    assert "viewer" in capsys.readouterr().out
    token_id = int(str(scalar(db_url, "SELECT max(id) FROM api_tokens")))
    run_cli(["token", "revoke", str(token_id)], monkeypatch, db_url)
    assert (
        client.get("/api/v1/metrics?from=2026-01-01&to=2026-01-02", headers=headers).status_code
        == 401
    )


def test_registry_changes_are_audited(
    client: TestClient, admin: dict[str, str], estate: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="fenlei.audit")
    url = "/api/v1/estates/jjq/households"
    rows = [{"id": "a1", "building": "1", "enrolled_on": "2026-03-01"}]
    assert client.post(url, headers=admin, json=rows).status_code == 200
    assert client.delete(f"{url}/a1", headers=admin).status_code == 204
    audited = [r for r in caplog.records if r.name == "fenlei.audit"]
    assert [r.__dict__["audit"] for r in audited] == ["households", "household_deleted"]
    changed = audited[0].__dict__
    assert (changed["estate"], changed["households_created"], changed["backdated_rows"]) == (
        "jjq",
        1,
        1,
    )
    token = admin["Authorization"].split()[-1]
    assert all(token not in r.getMessage() and token not in str(r.__dict__) for r in audited)


def test_csv_exports_are_formula_safe(
    client: TestClient, admin: dict[str, str], estate: str
) -> None:
    rows = [{"id": "f1", "building": "=HYPERLINK(1)", "building_group": "+x", "enrolled_on": None}]
    assert client.post("/api/v1/estates/jjq/households", headers=admin, json=rows).is_success
    soon = datetime.now(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=30)
    r = client.get(
        "/api/v1/estates/jjq/buildings/metrics",
        # A period ending soon enough (the API refuses one far in the future).
        params={"from": "2026-01-01", "to": str(soon), "format": "csv"},
        headers=admin,
    )
    assert r.status_code == 200, r.text
    cells = [c for line in r.text.splitlines()[1:] for c in line.split(",")]
    assert "'=HYPERLINK(1)" in cells and "'+x" in cells
    assert not any(c.startswith(("=", "+", "@")) for c in cells)
