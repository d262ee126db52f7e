"""Tokens over their life: an optional expiry, rotation from the command line and the
API (with an optional grace), only hashes stored, and one audit record per change."""

from __future__ import annotations

import argparse
import contextlib
import getpass
import hashlib
import io
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from api import cli
from api.auth.repository import create_token, revoke_token
from api.auth.tokens import Role
from api.errors import ApiError
from fenlei.logs import JsonFormatter
from tests.fix_data import register

pytestmark = pytest.mark.integration

METRICS = "/api/v1/estates/{estate}/metrics?from=2026-03-01&to=2026-03-31"


@pytest.fixture
def estates(db_url: str) -> None:
    register(db_url, "jjq")
    register(db_url, "other", {"o1": {"ob": "dry"}})


@pytest.fixture
def shanghai(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process's local time zone is Asia/Shanghai (UTC+8, no daylight saving)."""
    monkeypatch.setenv("TZ", "Asia/Shanghai")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def run_cli(db_url: str, monkeypatch: pytest.MonkeyPatch, *argv: str) -> list[str]:
    """`fenlei token ARGV...` in this process; its printed lines."""
    monkeypatch.setenv("FENLEI_DATABASE_URL", db_url)
    parser = argparse.ArgumentParser()
    cli.add_arguments("token", parser)
    args = parser.parse_args(argv)
    args.command = "token"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.run(args) == 0
    return out.getvalue().splitlines()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def row_of(db_url: str, token_id: int) -> dict[str, Any]:
    with psycopg.connect(db_url) as conn:
        cur = conn.execute(
            "SELECT *, row_to_json(t)::text AS everything, expires_at - now() AS left_,"
            " previous_valid_until - now() AS grace_left FROM api_tokens t WHERE id = %s",
            (token_id,),
        )
        names = [c.name for c in cur.description or []]
        found = cur.fetchone()
    assert found is not None
    return dict(zip(names, found, strict=True))


def sql(db_url: str, query: str, token_id: int) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(query.encode(), (token_id,))


def status(client: TestClient, token: str, estate: str = "jjq") -> int:
    return int(client.get(METRICS.format(estate=estate), headers=bearer(token)).status_code)


# --- expiry -------------------------------------------------------------------------------


def test_a_token_with_an_expiry_works_until_then_and_gets_a_clear_401_after(
    client: TestClient, db_url: str, estates: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = run_cli(db_url, monkeypatch, "create", "--role", "viewer", "--expires-in", "90d")
    token = lines[-1]
    token_id = int(lines[0].split()[1].rstrip(":"))
    left = row_of(db_url, token_id)["left_"]
    assert timedelta(days=90) - timedelta(minutes=1) < left <= timedelta(days=90)
    assert status(client, token) == 200
    sql(
        db_url,
        "UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE id = %s",
        token_id,
    )
    r = client.get(METRICS.format(estate="jjq"), headers=bearer(token))
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert "expired" in r.json()["detail"]
    # Revoked and unknown tokens say so too.
    revoked = run_cli(db_url, monkeypatch, "create", "--role", "viewer")
    run_cli(db_url, monkeypatch, "revoke", revoked[0].split()[1].rstrip(":"))
    r = client.get(METRICS.format(estate="jjq"), headers=bearer(revoked[-1]))
    assert r.status_code == 401 and "revoked" in r.json()["detail"]
    r = client.get(METRICS.format(estate="jjq"), headers=bearer("fl_" + "x" * 43))
    assert r.status_code == 401 and "unknown" in r.json()["detail"]
    listed = "\n".join(run_cli(db_url, monkeypatch, "list"))
    assert f"{token_id:>5}" in listed and "expired" in listed


def test_expires_on_a_date_means_through_the_end_of_that_local_day(
    db_url: str, shanghai: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = run_cli(db_url, monkeypatch, "create", "--role", "admin", "--expires-on", "2031-03-15")
    token_id = int(lines[0].split()[1].rstrip(":"))
    # Midnight after 15 March in Shanghai is 16:00 UTC on the 15th.
    assert row_of(db_url, token_id)["expires_at"] == datetime(2031, 3, 15, 16, tzinfo=UTC)
    for bad in (
        ("--expires-on", "2020-01-01"),  # the past
        ("--expires-in", "99999d"),  # beyond ten years
        ("--expires-on", "2999-01-01"),
    ):
        with pytest.raises(ApiError):
            run_cli(db_url, monkeypatch, "create", "--role", "viewer", *bad)
    for unreadable in (("--expires-in", "0d"), ("--expires-in", "3y"), ("--expires-on", "soon")):
        with pytest.raises((ApiError, SystemExit)):
            run_cli(db_url, monkeypatch, "create", "--role", "viewer", *unreadable)
    with pytest.raises(SystemExit):  # one or the other
        run_cli(
            db_url, monkeypatch, "create", "--role", "viewer", "--expires-in", "1d",
            "--expires-on", "2031-01-01",
        )  # fmt: skip


# --- rotation -----------------------------------------------------------------------------


def test_rotate_gives_the_same_token_a_new_secret_and_the_old_one_stops_at_once(
    client: TestClient, db_url: str, estates: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        token_id, old = create_token(conn, Role.viewer, ["jjq"], name="committee")
    assert status(client, old) == 200
    lines = run_cli(db_url, monkeypatch, "rotate", str(token_id))
    new = lines[-1]
    assert new.startswith("fl_") and new != old
    r = client.get(METRICS.format(estate="jjq"), headers=bearer(old))
    assert r.status_code == 401 and "rotation" in r.json()["detail"]
    # Same id, role and estates: the new secret sees jjq, not the other estate.
    assert status(client, new) == 200 and status(client, new, "other") == 403
    row = row_of(db_url, token_id)
    assert (row["role"], row["estates"], row["name"]) == ("viewer", ["jjq"], "committee")
    # Only hashes are stored, the new one current.
    assert bytes(row["token_sha256"]) == hashlib.sha256(new.encode()).digest()
    assert bytes(row["previous_sha256"]) == hashlib.sha256(old.encode()).digest()
    assert new not in row["everything"] and old not in row["everything"]
    listed = [
        line for line in run_cli(db_url, monkeypatch, "list") if line.split()[0] == str(token_id)
    ]
    assert len(listed) == 1 and "active" in listed[0]


def test_a_grace_keeps_the_old_secret_working_until_it_ends(
    client: TestClient, db_url: str, estates: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        token_id, first = create_token(conn, Role.viewer)
    second = run_cli(db_url, monkeypatch, "rotate", str(token_id), "--grace", "1h")[-1]
    assert status(client, first) == 200 and status(client, second) == 200
    grace_left = row_of(db_url, token_id)["grace_left"]
    assert timedelta(minutes=59) < grace_left <= timedelta(hours=1)
    sql(
        db_url,
        "UPDATE api_tokens SET previous_valid_until = now() - interval '1 second' WHERE id = %s",
        token_id,
    )
    assert status(client, first) == 401 and status(client, second) == 200
    # Another rotation (no grace): the second stops at once, the first is forgotten.
    third = run_cli(db_url, monkeypatch, "rotate", str(token_id))[-1]
    assert status(client, second) == 401 and status(client, third) == 200
    r = client.get(METRICS.format(estate="jjq"), headers=bearer(first))
    assert r.status_code == 401 and "unknown" in r.json()["detail"]
    with pytest.raises(ApiError):
        run_cli(db_url, monkeypatch, "rotate", str(token_id), "--grace", "31d")


def test_an_expired_token_is_rotated_only_with_a_new_expiry_and_a_revoked_one_never(
    client: TestClient, db_url: str, estates: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        token_id, _ = create_token(conn, Role.viewer)
        revoked_id, _ = create_token(conn, Role.viewer)
        revoke_token(conn, revoked_id)
    sql(
        db_url,
        "UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE id = %s",
        token_id,
    )
    with pytest.raises(ApiError, match="expired"):
        run_cli(db_url, monkeypatch, "rotate", str(token_id))
    renewed = run_cli(db_url, monkeypatch, "rotate", str(token_id), "--expires-in", "30d")[-1]
    assert status(client, renewed) == 200
    assert timedelta(days=29) < row_of(db_url, token_id)["left_"] <= timedelta(days=30)
    with pytest.raises(ApiError, match="revoked"):
        run_cli(db_url, monkeypatch, "rotate", str(revoked_id), "--expires-in", "30d")
    with pytest.raises(ApiError):
        run_cli(db_url, monkeypatch, "rotate", "999999")


def test_an_admin_rotates_over_the_api_within_its_estates(
    client: TestClient, db_url: str, estates: None, admin: dict[str, str]
) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        target, old = create_token(conn, Role.viewer, ["jjq"], name="committee jjq")
        everywhere, _ = create_token(conn, Role.viewer, None, name="district")
        _, jjq_admin = create_token(conn, Role.admin, ["jjq"])
        _, other_admin = create_token(conn, Role.admin, ["other"])
        _, viewer = create_token(conn, Role.viewer)
    url = f"/api/v1/tokens/{target}/rotate"
    assert client.post(url).status_code == 401
    assert client.post(url, headers=bearer(viewer)).status_code == 403
    assert client.post(url, headers=bearer(other_admin)).status_code == 403
    # An admin of some estates cannot take over a token that reaches further.
    assert (
        client.post(f"/api/v1/tokens/{everywhere}/rotate", headers=bearer(jjq_admin)).status_code
        == 403
    )
    assert client.post("/api/v1/tokens/999999/rotate", headers=admin).status_code == 404
    assert client.post(f"{url}?grace=5y", headers=admin).status_code == 422
    assert client.post(f"{url}?grace=31d", headers=admin).status_code == 422
    assert status(client, old) == 200  # none of those rotated it

    r = client.post(f"{url}?grace=10m", headers=bearer(jjq_admin))
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert (body["id"], body["role"], body["estates"], body["name"]) == (
        target,
        "viewer",
        ["jjq"],
        "committee jjq",
    )
    assert body["expires_at"] is None
    until = datetime.fromisoformat(body["previous_valid_until"])
    assert timedelta(minutes=9) < until - datetime.now(UTC) <= timedelta(minutes=10)
    assert status(client, old) == 200 and status(client, body["token"]) == 200
    r = client.post(f"{url}?expires_in=7d", headers=admin)
    assert r.status_code == 200, r.text
    newest = r.json()["token"]
    assert status(client, body["token"]) == 401 and status(client, newest) == 200
    left = datetime.fromisoformat(r.json()["expires_at"]) - datetime.now(UTC)
    assert timedelta(days=6, hours=23) < left <= timedelta(days=7)


# --- audit --------------------------------------------------------------------------------


def _audit(caplog: pytest.LogCaptureFixture, action: str) -> list[logging.LogRecord]:
    return [
        r for r in caplog.records if r.name == "fenlei.audit" and getattr(r, "audit", "") == action
    ]


def test_every_token_change_writes_one_audit_record_without_secrets(
    client: TestClient,
    db_url: str,
    estates: None,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        admin_id, admin_token = create_token(conn, Role.admin, name="operator")
    caplog.set_level(logging.INFO, logger="fenlei.audit")
    caplog.clear()
    created = run_cli(db_url, monkeypatch, "create", "--role", "viewer", "--name", "公示屏")
    token_id = int(created[0].split()[1].rstrip(":"))
    rotated = run_cli(db_url, monkeypatch, "rotate", str(token_id), "--grace", "1h")
    r = client.post(f"/api/v1/tokens/{token_id}/rotate", headers=bearer(admin_token))
    assert r.status_code == 200
    run_cli(db_url, monkeypatch, "revoke", str(token_id))

    user = getpass.getuser()
    (create,) = _audit(caplog, "token_created")
    assert (create.target_token_id, create.role, create.component, create.user) == (  # type: ignore[attr-defined]
        token_id,
        "viewer",
        "cli",
        user,
    )
    cli_rotate, api_rotate = _audit(caplog, "token_rotated")
    assert (cli_rotate.component, cli_rotate.grace_s) == ("cli", 3600)  # type: ignore[attr-defined]
    assert (api_rotate.component, api_rotate.token_id, api_rotate.token_name) == (  # type: ignore[attr-defined]
        "api",
        admin_id,
        "operator",
    )
    assert api_rotate.target_token_id == token_id  # type: ignore[attr-defined]
    (revoke,) = _audit(caplog, "token_revoked")
    assert revoke.target_token_id == token_id  # type: ignore[attr-defined]

    secrets = [admin_token, created[-1], rotated[-1], r.json()["token"]]
    secrets += [hashlib.sha256(s.encode()).hexdigest() for s in secrets]
    audit = [rec for rec in caplog.records if rec.name == "fenlei.audit"]
    assert len(audit) == 4
    for rec in caplog.records:  # the access log's lines too
        text = JsonFormatter().format(rec) + rec.getMessage()
        assert not [s for s in secrets if s in text], text
