"""The API's documentation pages, Swagger UI (/docs) and ReDoc (/redoc), with their
files served by fenlei itself: FastAPI's defaults load them from a CDN, and the
estates' networks are often offline (the pages were blank: `SwaggerUIBundle is not
defined`). This is FastAPI's "self-hosting JavaScript and CSS for docs" recipe.

The files come from the installed `fastapi-offline` package, which ships exactly the
builds FastAPI's page functions expect (Swagger UI 5's bundle and CSS, ReDoc 2's
standalone bundle, FastAPI's favicon) under their own licences; only its files are
used, not its FastAPI wrapper. Like plotly.js (`dashboards.static`) each file is read
and gzipped once in memory and served under a URL naming the package's version, with
a year-long immutable cache.

Each page sends its own Content-Security-Policy: scripts from this origin and the
page's inline start-up script by its hash, nothing from any other host.
"""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import re
from importlib import metadata, resources

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse

PACKAGE = "fastapi_offline"
ASSETS_PREFIX = f"/docs/static/{metadata.version('fastapi-offline')}"
SWAGGER_JS = "swagger-ui-bundle.js"
SWAGGER_CSS = "swagger-ui.css"
REDOC_JS = "redoc.standalone.js"
FAVICON = "favicon.png"
MEDIA_TYPES = {
    SWAGGER_JS: "text/javascript",
    SWAGGER_CSS: "text/css",
    REDOC_JS: "text/javascript",
    FAVICON: "image/png",
}
CACHE_FOREVER = "public, max-age=31536000, immutable"
# The online validator's badge would be an image from validator.swagger.io.
SWAGGER_UI_PARAMETERS = {"validatorUrl": None}
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)
# Both bundles insert <style> elements and style attributes as they render (ReDoc's
# styled-components, Swagger UI's React), hence 'unsafe-inline' for styles only; the
# CSS's icons are data: URLs; ReDoc's search runs in a Worker made from a blob: URL.
_POLICY = (
    "default-src 'none'",
    "script-src 'self'{hashes}",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "worker-src blob:",
    "form-action 'none'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
)


def content_security_policy(html: str) -> str:
    """The policy for one docs page: its files, and its inline scripts by their hashes."""
    hashes = "".join(
        f" 'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'"
        for s in _INLINE_SCRIPT.findall(html)
    )
    return "; ".join(_POLICY).format(hashes=hashes)


def _with_policy(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = content_security_policy(bytes(page.body).decode())
    return page


@functools.cache
def _asset(name: str) -> tuple[bytes, bytes]:
    raw = resources.files(PACKAGE).joinpath("static", name).read_bytes()
    return raw, gzip.compress(raw, compresslevel=9)


def _asset_route(name: str) -> APIRouter:
    router = APIRouter()

    @router.get(f"{ASSETS_PREFIX}/{name}", include_in_schema=False, name=f"docs-{name}")
    async def asset(request: Request) -> Response:
        raw, packed = _asset(name)
        headers = {"Cache-Control": CACHE_FOREVER, "Vary": "Accept-Encoding"}
        if "gzip" in request.headers.get("accept-encoding", ""):
            headers["Content-Encoding"] = "gzip"
            return Response(packed, media_type=MEDIA_TYPES[name], headers=headers)
        return Response(raw, media_type=MEDIA_TYPES[name], headers=headers)

    return router


def install(app: FastAPI, docs_url: str = "/docs", redoc_url: str = "/redoc") -> None:
    """The two pages, Swagger UI's OAuth2 redirect page and the files, on `app` (built
    with `docs_url=None, redoc_url=None`); none of them in the OpenAPI document."""
    openapi_url = app.openapi_url or "/openapi.json"
    oauth2_redirect_url = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"

    def root(request: Request) -> str:  # behind a proxy's prefix, as FastAPI's own pages
        return str(request.scope.get("root_path", "")).rstrip("/")

    @app.get(docs_url, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        prefix = root(request) + ASSETS_PREFIX
        return _with_policy(
            get_swagger_ui_html(
                openapi_url=root(request) + openapi_url,
                title=f"{app.title} - Swagger UI",
                oauth2_redirect_url=root(request) + oauth2_redirect_url,
                swagger_js_url=f"{prefix}/{SWAGGER_JS}",
                swagger_css_url=f"{prefix}/{SWAGGER_CSS}",
                swagger_favicon_url=f"{prefix}/{FAVICON}",
                swagger_ui_parameters={
                    **SWAGGER_UI_PARAMETERS,
                    **(app.swagger_ui_parameters or {}),
                },
            )
        )

    @app.get(oauth2_redirect_url, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return _with_policy(get_swagger_ui_oauth2_redirect_html())

    @app.get(redoc_url, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        prefix = root(request) + ASSETS_PREFIX
        return _with_policy(
            get_redoc_html(
                openapi_url=root(request) + openapi_url,
                title=f"{app.title} - ReDoc",
                redoc_js_url=f"{prefix}/{REDOC_JS}",
                redoc_favicon_url=f"{prefix}/{FAVICON}",
                with_google_fonts=False,
            )
        )

    for name in MEDIA_TYPES:
        app.include_router(_asset_route(name))
