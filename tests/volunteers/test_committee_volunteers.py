"""The committee's volunteer screens on the real database: add, edit, deactivate and
reactivate through the pages, checked against the API's own list; problems worded in
the page's language with what was typed kept; the sheet import all or none."""

from __future__ import annotations

import io
import logging
import re
import time
from datetime import time as clock_time
from html import unescape
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from fastapi.testclient import TestClient

from api.auth.tokens import Role
from tests.api.conftest import make_token
from tests.api.test_hardening_import import sparse_xlsx

pytestmark = pytest.mark.integration

CSRF = re.compile(r'name="csrf" value="([^"]*)"')
BASE = "/dashboards/estates/jjq/volunteers"
WANG = "周一至周五 17:30-20:30; 周六、周日 06:30-20:30"
HEADER = ["姓名", "电话", "楼组/楼号", "每周可值班时间"]


def sign_in(client: TestClient, headers: dict[str, str]) -> None:
    """Sign the client in to the dashboards with the token of `headers`, by the form."""
    token = headers["Authorization"].split()[1]
    form = client.get("/dashboards/signin").text
    r = client.post(
        "/dashboards/signin",
        data={"token": token, "next": "/dashboards/", "csrf": CSRF.findall(form)[0]},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text


def csrf(client: TestClient, path: str = BASE) -> str:
    return str(CSRF.findall(client.get(path).text)[0])


def api_list(client: TestClient, admin: dict[str, str]) -> list[dict[str, Any]]:
    r = client.get("/api/v1/estates/jjq/volunteers", headers=admin)
    assert r.status_code == 200, r.text
    rows: list[dict[str, Any]] = r.json()
    return rows


def windows(rows: list[dict[str, Any]]) -> list[tuple[list[int], str, str]]:
    """Availability as (days, HH:MM, HH:MM), whatever the API's time format."""
    return [
        (
            w["days"],
            clock_time.fromisoformat(w["start"]).strftime("%H:%M"),
            clock_time.fromisoformat(w["end"]).strftime("%H:%M"),
        )
        for w in rows
    ]


def test_add_edit_deactivate_and_reactivate(
    client: TestClient, admin: dict[str, str], estate: str
) -> None:
    sign_in(client, admin)
    page = client.get(BASE)
    assert page.status_code == 200 and 'id="no-volunteers"' in page.text
    assert f'href="{BASE}"' in page.text  # the header links the committee's screens
    token = csrf(client)
    r = client.post(
        f"{BASE}/new",
        data={
            "name": "王阿姨",
            "contact": "13900001111",
            "building": "12",
            "kind": "group_leader",
            "availability": WANG,
            "csrf": token,
        },
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == f"{BASE}?done=added"
    [wang] = api_list(client, admin)
    assert (wang["name"], wang["contact"], wang["building"], wang["kind"], wang["active"]) == (
        "王阿姨",
        "13900001111",
        "12",
        "group_leader",
        True,
    )
    assert windows(wang["availability"]) == [
        ([0, 1, 2, 3, 4], "17:30", "20:30"),
        ([5, 6], "06:30", "20:30"),
    ]
    assert wang["token_id"] is not None  # registered as the API does, with a token
    listed = client.get(f"{BASE}?done=added").text
    assert "已新增志愿者" in listed and WANG in listed and "楼组长" in listed

    # Bad input: the page says what is wrong, in its language, and keeps what was typed.
    bad = {"name": " ", "contact": "139", "availability": "周八 17:30-20:30", "csrf": token}
    r = client.post(f"{BASE}/new", data=bad)
    assert r.status_code == 422
    assert "姓名：必填" in r.text and "无法识别星期“周八”" in r.text
    assert 'value="周八 17:30-20:30"' in r.text and 'value="139"' in r.text
    r = client.post(f"{BASE}/new?lang=en", data={**bad, "name": "Bob", "kind": "boss"})
    assert r.status_code == 422
    text = unescape(r.text)
    assert 'Weekly availability: unknown day "周八"' in text and "Kind: unknown kind" in text
    assert 'value="Bob"' in r.text
    assert len(api_list(client, admin)) == 1

    vid = wang["id"]
    edit = client.get(f"{BASE}/{vid}/edit")
    assert f'value="{WANG}"' in edit.text  # the stored availability, in words
    r = client.post(
        f"{BASE}/{vid}/edit",
        data={
            "name": "王阿姨",
            "contact": "13900002222",
            "building": "15",
            "kind": "resident",
            "availability": "Mon-Fri 18:00-20:00",
            "csrf": token,
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    [wang] = api_list(client, admin)
    assert (wang["contact"], wang["building"], wang["kind"]) == ("13900002222", "15", "resident")
    assert windows(wang["availability"]) == [([0, 1, 2, 3, 4], "18:00", "20:00")]
    r = client.post(f"{BASE}/{vid}/edit", data={"name": "", "csrf": token})
    assert r.status_code == 422 and api_list(client, admin)[0]["name"] == "王阿姨"

    # Deactivate, reactivate; a POST without the session's CSRF token changes nothing.
    assert client.post(f"{BASE}/{vid}/active", data={"active": "0"}).status_code == 403
    assert api_list(client, admin)[0]["active"] is True
    r = client.post(f"{BASE}/{vid}/active", data={"active": "0", "csrf": token})
    assert r.status_code == 200 and "已停用该志愿者" in r.text and "已停用" in r.text
    assert api_list(client, admin)[0]["active"] is False
    assert f"reactivate-{vid}" in r.text
    client.post(f"{BASE}/{vid}/active", data={"active": "1", "csrf": token})
    after = api_list(client, admin)[0]
    assert after["active"] is True and after["building"] == "15"

    # Another estate's volunteer is not found here.
    other = client.post(
        "/api/v1/estates/other/volunteers", headers=admin, json={"name": "O"}
    ).json()
    assert client.get(f"{BASE}/{other['id']}/edit").status_code == 404


def test_only_the_estates_committee(client: TestClient, db_url: str, estate: str) -> None:
    assert client.get(BASE, follow_redirects=False).status_code == 303  # to sign-in
    sign_in(client, make_token(db_url, Role.viewer))
    assert client.get(BASE).status_code == 403
    client.cookies.clear()
    sign_in(client, make_token(db_url, Role.admin, ["other"]))
    assert client.get(BASE).status_code == 403
    assert client.get("/dashboards/estates/other/volunteers").status_code == 200


def xlsx(rows: list[list[Any]]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


GOOD: list[list[Any]] = [
    ["王阿姨", "13900001111", "12", WANG],
    ["李叔叔", 13900002222, 7, "每天 06:30-08:30"],
    ["Ann", "13900003333", "3", "Mon-Fri 17:30-20:30; Sat, Sun 06:30-20:30"],
]


def upload(client: TestClient, body: bytes, name: str = "volunteers.xlsx", lang: str = "") -> Any:
    token = csrf(client, f"{BASE}/import")
    return client.post(
        f"{BASE}/import{lang}",
        data={"csrf": token},
        files={"sheet": (name, body, "application/octet-stream")},
        follow_redirects=False,
    )


def test_import_is_all_or_none(
    client: TestClient, admin: dict[str, str], estate: str, caplog: pytest.LogCaptureFixture
) -> None:
    sign_in(client, admin)
    caplog.set_level(logging.INFO, "fenlei.audit")
    bad_rows = [
        *GOOD,
        ["", "139", "1", "周一 08:00-09:00"],
        ["赵", "1", "1", "周一至周八 8:00-9:00"],
    ]
    r = upload(client, xlsx([HEADER, *bad_rows]))
    assert r.status_code == 422
    assert "未导入任何志愿者" in r.text
    problems = re.findall(
        r'<tr data-line="(\d+)"><td>\d+</td><td>([^<]*)</td><td>([^<]*)</td>', r.text
    )
    assert problems == [
        ("5", "姓名", "姓名：必填"),
        ("6", "每周可值班时间", "每周可值班时间：无法识别星期“周八”"),
    ]
    assert api_list(client, admin) == []  # the good rows are not stored either

    r = upload(client, xlsx([HEADER, *bad_rows]), lang="?lang=en")
    assert "Nothing was imported" in r.text and "姓名: required" in r.text

    r = upload(client, xlsx([HEADER, *GOOD]))
    assert r.status_code == 303 and r.headers["location"] == f"{BASE}?done=imported&count=3"
    stored = sorted(api_list(client, admin), key=lambda v: v["id"])
    assert [(v["name"], v["contact"], v["building"]) for v in stored] == [
        (n, str(c), str(b)) for n, c, b, _ in GOOD
    ]
    assert windows(stored[1]["availability"]) == [([0, 1, 2, 3, 4, 5, 6], "06:30", "08:30")]
    assert windows(stored[2]["availability"]) == windows(stored[0]["availability"])
    assert all(v["token_id"] is not None and v["active"] for v in stored)
    [imported] = [r for r in caplog.records if getattr(r, "audit", None) == "volunteers_imported"]
    assert (getattr(imported, "estate", None), getattr(imported, "rows", None)) == ("jjq", 3)
    english = unescape(client.get(f"{BASE}?lang=en").text)
    assert "Mon-Fri 17:30-20:30; Sat, Sun 06:30-20:30" in english and "Every day" in english

    # The same sheet again: every row is already registered, nothing is added.
    r = upload(client, xlsx([HEADER, *GOOD]))
    assert r.status_code == 422 and r.text.count("该志愿者已登记") == 3
    assert len(api_list(client, admin)) == 3

    # CSV too, with English headers; a repeated row within the sheet is refused.
    text = (
        "name,phone,building,weekly availability\nBo,1,2,Sat 08:00-09:00\nBo,1,2,Sun 08:00-09:00\n"
    )
    r = upload(client, text.encode(), "v.csv")
    assert r.status_code == 422 and "与第 2 行重复" in r.text
    r = upload(client, text.encode().rsplit(b"Bo,", 1)[0], "v.csv")
    assert r.status_code == 303 and len(api_list(client, admin)) == 4


def test_import_is_bounded_before_it_is_read(
    client: TestClient, admin: dict[str, str], estate: str, tmp_path: Path
) -> None:
    sign_in(client, admin)
    started = time.monotonic()
    r = upload(client, sparse_xlsx(tmp_path / "sparse.xlsx").read_bytes())
    assert r.status_code == 413 and "文件过大" in r.text
    assert time.monotonic() - started < 5
    many = "name\n" + "".join(f"v{i}\n" for i in range(2_001))
    r = upload(client, many.encode(), "many.csv")
    assert r.status_code == 413 and "2,000" in r.text
    r = upload(client, b"not a zip", "v.xlsx")
    assert r.status_code == 400 and "无法读取文件" in r.text
    r = upload(client, b"x", "v.pdf")
    assert r.status_code == 400 and "仅支持" in r.text
    r = client.post(
        f"{BASE}/import",
        data={"csrf": csrf(client, f"{BASE}/import")},
        files={"sheet": ("big.csv", b"name\n" + b"x" * (6 * 1024 * 1024), "text/csv")},
    )
    assert r.status_code == 413
    r = client.post(f"{BASE}/import", files={"sheet": ("v.csv", b"name\nA\n", "text/csv")})
    assert r.status_code == 403  # no CSRF token
    assert api_list(client, admin) == []
