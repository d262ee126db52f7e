"""The poster as an A4 PDF, made by WeasyPrint from the poster's own HTML and CSS.

WeasyPrint lays text out with Pango and takes its fonts from the system (fontconfig):
Debian's `fonts-noto-cjk` (deploy/local/install-system.sh) draws the Chinese, and only
the glyphs used are embedded (subsets), so the file stays small and prints anywhere.
The page's size and margins are the print CSS's `@page` (dashboards/poster.py).
"""

from __future__ import annotations

import asyncio

from weasyprint import HTML
from weasyprint.urls import URLFetcher

PDF_TYPE = "application/pdf"


def render(document: str) -> bytes:
    """A complete HTML document (no external resources) as PDF bytes."""
    # No base URL, and data: URLs only: the document holds everything it shows (the QR
    # is a data: URI), so nothing it names is ever fetched, from the network or a file.
    fetcher = URLFetcher(allowed_protocols={"data"})
    pdf = HTML(string=document, url_fetcher=fetcher).write_pdf()
    assert pdf is not None
    return bytes(pdf)


async def render_async(document: str) -> bytes:
    """`render` off the event loop: laying out and subsetting CJK fonts takes a while."""
    return await asyncio.to_thread(render, document)
