"""plotly.js from the installed plotly package, served by fenlei itself (no CDN).

Estates' networks are often offline. The file (~4.7 MB) is gzipped once in memory and
served with a versioned URL and a year-long immutable cache, so a browser fetches it
once per plotly upgrade.
"""

from __future__ import annotations

import functools
import gzip
from importlib import resources

import plotly
from fastapi import APIRouter, Request, Response

router = APIRouter()
PLOTLY_VERSION = plotly.__version__
PLOTLY_PATH = f"/dashboards/static/plotly-{PLOTLY_VERSION}.min.js"
CACHE_FOREVER = "public, max-age=31536000, immutable"


@functools.cache
def _plotly_js() -> tuple[bytes, bytes]:
    raw = resources.files("plotly").joinpath("package_data/plotly.min.js").read_bytes()
    return raw, gzip.compress(raw, compresslevel=9)


@router.get(PLOTLY_PATH, include_in_schema=False)
async def plotly_js(request: Request) -> Response:
    """plotly.min.js, gzipped when the browser accepts it."""
    raw, packed = _plotly_js()
    headers = {"Cache-Control": CACHE_FOREVER, "Vary": "Accept-Encoding"}
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return Response(packed, media_type="text/javascript", headers=headers)
    return Response(raw, media_type="text/javascript", headers=headers)
