"""/docs and /redoc work offline (#15): every file they reference is served by fenlei
itself, and their Content-Security-Policy lets those run and nothing from another host.

The HTML is read as a browser would (every src= and href=), the policy parsed, the
inline scripts hashed here; the last test draws /docs in headless Chromium (Debian's)
with every request recorded.
"""

from __future__ import annotations

import base64
import hashlib
import re
import socket
import threading
import time
import warnings
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import uvicorn
from playwright.sync_api import Request, sync_playwright

with warnings.catch_warnings():
    # See tests/api/conftest.py: Starlette's TestClient warns when driven by httpx.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from api.settings import ApiSettings
from dashboards.settings import DashboardSettings
from fenlei.app import create_app
from tests.fix_browser import CHROMIUM, CHROMIUM_ARGS

PAGES = ("/docs", "/redoc")
INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)
# Smaller than any real build of Swagger UI's bundle or CSS, or ReDoc's bundle.
MIN_BYTES = {"javascript": 100_000, "css": 50_000}
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


def app() -> Any:
    # No lifespan is run (no database): the pages and files need none.
    return create_app(
        ApiSettings(database_url="postgresql://nowhere/none", host="127.0.0.1"),
        DashboardSettings(session_secret="s"),
    )


class References(HTMLParser):
    """Every URL a page makes the browser fetch: script src, link href, img src."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.urls.append((tag, value))


def references(html: str) -> list[tuple[str, str]]:
    parser = References()
    parser.feed(html)
    return parser.urls


def csp_of(policy: str) -> dict[str, list[str]]:
    return {d.split()[0]: d.split()[1:] for d in (p.strip() for p in policy.split(";")) if d}


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(app())


@pytest.mark.parametrize("page", PAGES)
def test_the_docs_pages_reference_only_files_served_here(client: TestClient, page: str) -> None:
    r = client.get(page)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    urls = references(r.text)
    scripts = [u for tag, u in urls if tag == "script"]
    assert scripts, f"{page} loads no script file"
    assert not re.search(r"(?i)https?://", r.text), "another host named on the page"
    for _tag, url in urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc and url.startswith("/"), url
        asset = client.get(url)
        assert asset.status_code == 200, url
        kind = asset.headers["content-type"].split(";")[0]
        if url in scripts or url.endswith(".css"):
            family = "javascript" if url in scripts else "css"
            assert kind == f"text/{family}", (url, kind)
            assert len(asset.content) >= MIN_BYTES[family], (url, len(asset.content))
    if page == "/docs":
        assert any(u.endswith(".css") for _t, u in urls), "Swagger UI without its CSS"
        # What the inline start-up script calls is the global the bundle defines.
        assert "SwaggerUIBundle(" in r.text
        assert ".SwaggerUIBundle=" in client.get(scripts[0]).text
    else:
        assert ".Redoc=" in client.get(scripts[0]).text


@pytest.mark.parametrize("page", PAGES)
def test_the_docs_pages_run_only_their_own_scripts(client: TestClient, page: str) -> None:
    r = client.get(page)
    csp = csp_of(r.headers["content-security-policy"])
    assert csp["default-src"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"]
    inline = {
        f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'"
        for s in INLINE_SCRIPT.findall(r.text)
    }
    assert set(csp["script-src"]) == {"'self'"} | inline, csp["script-src"]
    if page == "/docs":
        assert inline, "Swagger UI's start-up script is inline"
    for directive, sources in csp.items():
        for source in sources:  # keywords, hashes and schemes only: no host anywhere
            assert source.startswith("'") or source in ("data:", "blob:"), (directive, source)


def test_the_files_are_gzipped_and_cached(client: TestClient) -> None:
    url = next(u for t, u in references(client.get("/docs").text) if t == "script")
    plain = client.get(url, headers={"accept-encoding": "identity"})
    packed = client.get(url, headers={"accept-encoding": "gzip"})
    assert plain.headers.get("content-encoding") is None
    assert packed.headers["content-encoding"] == "gzip"
    assert packed.content == plain.content  # httpx decodes it
    assert "immutable" in plain.headers["cache-control"]


def test_the_docs_stay_out_of_the_openapi_document(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if p.startswith(("/docs", "/redoc"))]


# --- in a browser ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(app(), host="127.0.0.1", port=port, lifespan="off", log_level="error")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not srv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no {CHROMIUM}")
@pytest.mark.parametrize(
    ("page", "drawn"), [("/docs", ".opblock"), ("/redoc", "[data-section-id]")]
)
def test_the_docs_draw_the_operations_in_chromium(server: str, page: str, drawn: str) -> None:
    errors: list[str] = []
    loaded_elsewhere: list[str] = []
    tried_elsewhere: list[tuple[str, str | None]] = []
    origin = urlsplit(server).netloc

    def elsewhere(url: str) -> bool:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and parts.netloc != origin

    def failed(request: Request) -> None:
        if elsewhere(request.url):
            tried_elsewhere.append((request.url, request.failure))

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            tab = browser.new_page()
            tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            tab.on("pageerror", lambda e: errors.append(str(e)))
            tab.on("requestfailed", failed)
            tab.on(
                "response", lambda r: loaded_elsewhere.append(r.url) if elsewhere(r.url) else None
            )
            tab.goto(server + page)
            tab.wait_for_selector(drawn, timeout=20_000)
            tab.wait_for_load_state("networkidle")
            operations = tab.locator(drawn).count()
        finally:
            browser.close()
    assert operations >= 10, operations
    assert not loaded_elsewhere, loaded_elsewhere
    if page == "/redoc":
        # ReDoc 2 hard-codes its attribution logo from its CDN: the policy refuses it
        # (a console error) and ReDoc then leaves the logo out. Nothing else is tried.
        assert tried_elsewhere == [(REDOC_LOGO, "csp")], tried_elsewhere
        errors = [e for e in errors if not (REDOC_LOGO in e and "Content Security Policy" in e)]
    else:
        assert not tried_elsewhere, tried_elsewhere
    assert not errors, errors
