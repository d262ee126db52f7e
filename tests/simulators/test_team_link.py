"""The volunteer sign-in link the demo prints: the API's one-time link when the route
answers, the volunteer page otherwise (a stand-in HTTP server plays the API)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from fenlei.demo_team import volunteer_line
from fenlei.errors import FenleiError
from simulators.team_client import signin_link

LINK = {"url": "/volunteer/link/Zq3-abc", "expires_at": "2026-12-02T10:00:00+00:00"}


class Stub(ThreadingHTTPServer):
    status = 201
    seen: list[tuple[str, str | None]]


class Handler(BaseHTTPRequestHandler):
    server: Stub

    def do_POST(self) -> None:
        self.server.seen.append((self.path, self.headers.get("Authorization")))
        body = json.dumps(LINK if self.server.status == 201 else {"detail": "x"}).encode()
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def stub() -> Iterator[Stub]:
    server = Stub(("127.0.0.1", 0), Handler)
    server.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def base(stub: Stub) -> str:
    return f"http://127.0.0.1:{stub.server_address[1]}"


def test_the_link_route_answers_a_one_time_link(stub: Stub) -> None:
    link = signin_link(base(stub), "fl_admin", "jjq-demo", 7, "王阿姨")
    assert stub.seen == [("/api/v1/estates/jjq-demo/volunteers/7/signin-link", "Bearer fl_admin")]
    assert link.url == LINK["url"]
    line = volunteer_line(base(stub), link)
    assert (
        line == f"volunteer  {base(stub)}/volunteer/link/Zq3-abc  (王阿姨, one-time sign-in link)"
    )


@pytest.mark.parametrize("status", [404, 405])
def test_without_the_route_the_volunteer_page_is_printed(stub: Stub, status: int) -> None:
    stub.status = status
    link = signin_link(base(stub), "fl_admin", "jjq-demo", 7, "王阿姨")
    assert link.url is None
    line = volunteer_line(base(stub), link)
    assert line.startswith(f"volunteer  {base(stub)}/volunteer  (王阿姨: ")
    assert "committee" in line and "fl_admin" not in line


def test_another_refusal_is_an_error(stub: Stub) -> None:
    stub.status = 403
    with pytest.raises(FenleiError, match="403"):
        signin_link(base(stub), "fl_admin", "jjq-demo", 7, "王阿姨")
