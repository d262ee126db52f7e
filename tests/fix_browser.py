"""Debian's Chromium, as the browser tests and the page benchmark launch it."""

from __future__ import annotations

# Debian's package, never a Playwright-downloaded build (no browser downloads here).
CHROMIUM = "/usr/bin/chromium"
# Headless in a container as root: no sandbox, no GPU, and nothing that phones home
# or updates itself during a measurement.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
