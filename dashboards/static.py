"""plotly.js served by fenlei itself (no CDN): the estates' networks are often offline.

The pages draw only bar and scatter traces, so the preferred file is plotly.js's
"basic" bundle (bar, scatter, pie; 1.2 MB), vendored in `dashboards/vendor/` with its
MIT licence: a browser evaluates it in about a quarter of the time of the full 4.7 MB
bundle, which dominated the time to a drawn page. Without the vendored file (a build
that left it out) the full bundle from the installed plotly package is served instead.
The file is gzipped once in memory and served with a versioned URL and a year-long
immutable cache, so a browser fetches it once per plotly.js upgrade.
"""

from __future__ import annotations

import functools
import gzip
from importlib import resources
from pathlib import Path

import plotly
from fastapi import APIRouter, Request, Response

router = APIRouter()
# plotly.js's own version, which the vendored bundle must match (see its first line).
PLOTLY_JS_VERSION = "4.1.1"
BASIC_BUNDLE = Path(__file__).parent / "vendor" / f"plotly-basic-{PLOTLY_JS_VERSION}.min.js"
BUNDLE = "basic" if BASIC_BUNDLE.is_file() else "full"
PLOTLY_PATH = (
    f"/dashboards/static/plotly-{BUNDLE}-{PLOTLY_JS_VERSION}.min.js"
    if BUNDLE == "basic"
    else f"/dashboards/static/plotly-{plotly.__version__}.min.js"
)
CACHE_FOREVER = "public, max-age=31536000, immutable"


@functools.cache
def _plotly_js() -> tuple[bytes, bytes]:
    if BUNDLE == "basic":
        raw = BASIC_BUNDLE.read_bytes()
    else:
        raw = resources.files("plotly").joinpath("package_data/plotly.min.js").read_bytes()
    return raw, gzip.compress(raw, compresslevel=9)


@router.get(PLOTLY_PATH, include_in_schema=False)
async def plotly_js(request: Request) -> Response:
    """plotly.js, gzipped when the browser accepts it."""
    raw, packed = _plotly_js()
    headers = {"Cache-Control": CACHE_FOREVER, "Vary": "Accept-Encoding"}
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return Response(packed, media_type="text/javascript", headers=headers)
    return Response(raw, media_type="text/javascript", headers=headers)
