"""The receipt a citizen takes home: case numbers and a QR code of the public tracker."""

from __future__ import annotations

from urllib.parse import quote

from shared.qr import qr_svg as _qr


def tracker_url(base: str, case_id: str) -> str:
    return f"{base.rstrip('/')}/track/{quote(case_id, safe='')}"


def qr_svg(url: str) -> str:
    """An inline SVG (no file, no request): a printed receipt carries it."""
    return _qr(url, scale=4, light="#fff")
