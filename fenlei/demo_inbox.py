"""The demo's inbox: a webhook receiver on loopback standing in for the duty group's
and the committee's robots, so `make demo` shows what `fenlei notify` sends to people.

Each message is printed as one line (the first `PRINTED` of them; the rest only in the
inbox's log file), and all are kept in `inbox.jsonl` beside the demo's other logs.
Bodies are bounded; anything but a JSON object is answered 400 and not printed.
"""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from fenlei.errors import FenleiError

# A webhook message is a few hundred bytes; a notice list bounded far above that.
MAX_BODY = 64 * 1024
PRINTED = 20
AUDIENCES = {"/duty": "值班群", "/committee": "居委会"}


class Inbox:
    """Serves from `start()` until `close()` (or as a `with` block); `url(audience)`."""

    def __init__(self, log_dir: Path) -> None:
        self.path = log_dir / "inbox.jsonl"
        self.count = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fenlei-demo-inbox", daemon=True
        )

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def url(self, audience: str) -> str:
        return f"{self.base}/{audience}"

    def start(self) -> Inbox:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Inbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def receive(self, path: str, body: dict[str, Any]) -> None:
        """Keep a message and print it (while fewer than PRINTED were)."""
        with self._lock:
            self.count += 1
            with self.path.open("a", encoding="utf-8") as f:
                f.write(json.dumps({"path": path, **body}, ensure_ascii=False) + "\n")
            if self.count <= PRINTED:
                print(line_of(path, body), flush=True)
            elif self.count == PRINTED + 1:
                print(f"notice     … more in {self.path}", flush=True)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        inbox = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                try:
                    length = int(self.headers.get("content-length", "0"))
                except ValueError:
                    length = -1
                if not 0 < length <= MAX_BODY:
                    self._answer(413 if length > MAX_BODY else 400)
                    return
                try:
                    body = json.loads(self.rfile.read(length))
                except ValueError:
                    body = None
                if not isinstance(body, dict):
                    self._answer(400)
                    return
                inbox.receive(self.path, body)
                self._answer(200)

            def _answer(self, status: int) -> None:
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass  # the demo's terminal shows the messages, not the requests

        return Handler


def line_of(path: str, body: dict[str, Any]) -> str:
    """`notice     值班群 ← 【满溢】… @13800001111` for one message."""
    where = AUDIENCES.get(path, path)
    title = str(body.get("title", "")).replace("\n", " ")[:160]
    mentions = " ".join(f"@{m}" for m in body.get("mentions") or [] if isinstance(m, str))
    return f"notice     {where} ← {title}" + (f"  {mentions}" if mentions else "")


def add_channels(base: str, token: str, estate: str, inbox: Inbox) -> None:
    """The estate's two webhook channels, pointed at the inbox, through the API as an
    estate admin adds them (a second demo run's reset took the first's with the estate)."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30.0) as client:
        path = f"/api/v1/estates/{estate}/notification-channels"
        for audience, name in (("duty", "值班群"), ("committee", "居委会")):
            body = {"kind": "webhook", "name": name, "audience": audience}
            r = client.post(path, json={**body, "url": inbox.url(audience)})
            if r.status_code != 201:
                raise FenleiError(f"adding the demo's {name} channel: HTTP {r.status_code}")


if __name__ == "__main__":  # pragma: no cover - a manual look: python -m fenlei.demo_inbox
    with Inbox(Path(sys.argv[1] if len(sys.argv) > 1 else ".")) as box:
        print(box.base, flush=True)
        threading.Event().wait()
