"""One server of `python -m bench.dashboards --baseline REF`: a checkout's API with its
dashboards under uvicorn, on a database bench.dashboards made (not run by hand).

    FENLEI_DATABASE_URL=<scratch db> PYTHONPATH=<checkout> \\
        python -P bench/dashboards_side.py --root <checkout> --port P [--reference]

With `-P` and that PYTHONPATH, `fenlei`, `api` and `dashboards` are the checkout's (a
baseline commit's throwaway worktree, or this one); it refuses to run if they come
from elsewhere. It imports nothing of the bench, which an older commit may not have.
It does not migrate: the database is this checkout's schema, which an older app reads
unchanged (newer migrations only add). `--reference` also serves the reference page
(`REFERENCE_PATH`: the checkout's plotly.js file and nothing to draw), which
bench.dashboards times next to the current page. SIGTERM stops it (uvicorn's own
graceful shutdown).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from fastapi import Response

REFERENCE_PATH = "/bench/reference"


def reference_html(plotly_path: str) -> str:
    """An empty page that only evaluates the plotly.js file at `plotly_path`."""
    return (
        f'<!doctype html><html><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width">'
        f'<script defer src="{plotly_path}"></script></head><body></body></html>'
    )


def add_reference(app: Any, plotly_path: str, csp: str) -> None:
    """The reference page on `app`, with the pages' policy `csp`: outside /dashboards
    the app's middleware would add the API's `default-src 'none'`, which blocks every
    script (the reference before the phone cases was timed so: an empty page whose
    plotly.js never ran)."""
    html = reference_html(plotly_path)

    async def page() -> Response:
        return Response(
            html,
            media_type="text/html",
            headers={"Cache-Control": "no-store", "Content-Security-Policy": csp},
        )

    app.add_api_route(REFERENCE_PATH, page, include_in_schema=False)


def _check_origin(root: Path, *modules: Any) -> None:
    for module in modules:
        origin = Path(module.__file__).resolve()
        if not origin.is_relative_to(root):
            raise RuntimeError(f"{module.__name__} is {origin}, not from {root}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True, help="the checkout served")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--reference", action="store_true", help="serve the reference too")
    args = parser.parse_args()
    root = args.root.resolve()

    import api
    import dashboards
    import fenlei

    # Before anything else of them is imported: a missing module would mix checkouts.
    _check_origin(root, api, dashboards, fenlei)
    import uvicorn

    from api.settings import ApiSettings
    from dashboards.settings import DashboardSettings
    from fenlei.app import create_app

    # The default pool (up to 10 connections), as bench.dashboards' in-process server.
    app = create_app(
        ApiSettings(database_url=os.environ["FENLEI_DATABASE_URL"], port=args.port),
        DashboardSettings(session_secret="bench"),
    )
    if args.reference:
        from dashboards.layout import CONTENT_SECURITY_POLICY
        from dashboards.static import PLOTLY_PATH

        add_reference(app, PLOTLY_PATH, CONTENT_SECURITY_POLICY)
    print(f"dashboards_side: {fenlei.app.__file__} on port {args.port}", file=sys.stderr)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=args.port, log_level="warning", lifespan="on"
    )
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
