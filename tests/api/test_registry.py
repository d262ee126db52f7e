"""Registry answers: 404 / 409 / 422 that say what is wrong; sheets all or nothing."""

from __future__ import annotations

from pathlib import Path

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
    assert r.json() == {"upserted": 2, "created": 2, "updated": 0}
    r = client.post(url, headers=admin, json=[{**good, "left_on": "2026-04-01"}])
    assert r.json() == {"upserted": 1, "created": 0, "updated": 1}
    assert client.get(f"{url}/h1", headers=admin).json()["left_on"] == "2026-04-01"


def test_conflicts_are_409(
    client: TestClient, admin: dict[str, str], estate: str, db_url: str
) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO events (ts, bin_key, event_id, estate_id, category, kind,"
            " weight_g) SELECT now(), bin_key, 'e1', 'jjq', 'wet', 'drop', 5 FROM bins"
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
) -> None:
    import pandas as pd

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
    assert scalar(db_url, "SELECT count(*) FROM households WHERE enrolled_on IS NOT NULL") == 2500
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
