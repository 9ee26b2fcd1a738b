"""QR codes of links as inline SVG (no file, no request): the portal's case pages and the
console's printed receipts."""

from __future__ import annotations

from functools import lru_cache

import segno


@lru_cache(maxsize=2048)
def qr_svg(url: str, *, scale: int, title: str | None = None, light: str | None = None) -> str:
    """Drawn once per link and kept: choosing the code's mask was two thirds of the CPU of
    a case page, and a link's code never changes."""
    svg: str = segno.make(url, error="m").svg_inline(
        scale=scale, title=title, dark="#000", light=light
    )
    return svg
