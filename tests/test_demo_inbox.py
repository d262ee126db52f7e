"""The demo's inbox: what it prints of a webhook message, and what it refuses."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from fenlei.demo_inbox import MAX_BODY, PRINTED, Inbox, line_of


def test_a_message_is_one_line_with_its_mentions() -> None:
    body = {"title": "【满溢】金桥 1号房 b-wet\n湿垃圾", "mentions": ["13800001111", 5]}
    want = "notice     值班群 ← 【满溢】金桥 1号房 b-wet 湿垃圾  @13800001111"
    assert line_of("/duty", body) == want
    assert line_of("/committee", {"title": "t"}) == "notice     居委会 ← t"


def test_it_keeps_every_message_prints_the_first_ones_and_refuses_the_rest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Inbox(tmp_path) as inbox:
        for i in range(PRINTED + 3):
            r = httpx.post(inbox.url("duty"), json={"title": f"m{i}"}, timeout=5)
            assert r.status_code == 200
        assert httpx.post(inbox.url("duty"), content=b"[1]", timeout=5).status_code == 400
        assert httpx.post(inbox.url("duty"), content=b"{", timeout=5).status_code == 400
        big = json.dumps({"title": "x" * MAX_BODY}).encode()
        assert httpx.post(inbox.url("duty"), content=big, timeout=5).status_code == 413
    kept = [json.loads(li) for li in (tmp_path / "inbox.jsonl").read_text().splitlines()]
    assert [k["title"] for k in kept] == [f"m{i}" for i in range(PRINTED + 3)]
    out = capsys.readouterr().out.splitlines()
    assert out[:PRINTED] == [f"notice     值班群 ← m{i}" for i in range(PRINTED)]
    assert out[PRINTED:] == [f"notice     … more in {tmp_path / 'inbox.jsonl'}"]
