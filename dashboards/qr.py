"""QR codes on the pages: a URL as an SVG data: URI (the pages' CSP allows data: images),
for phones to scan (volunteers' sign-in links, the public board's link on the poster)."""

from __future__ import annotations

import segno


def data_uri(url: str, scale: int = 4, border: int = 2) -> str:
    """`url` as a QR code (error correction M: a printed code survives a smudge)."""
    return str(segno.make(url, error="m").svg_data_uri(scale=scale, border=border))
