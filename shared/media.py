"""What a file a citizen sent is, read from its first bytes rather than from what the sender
(or LINE) claims, among the formats Ruam keeps and serves back: only formats a browser shows
or plays and never runs (no SVG, no HTML, no archive). Intake checks a copy before it keeps
it; the console serves nothing of another type."""

from __future__ import annotations

from collections.abc import Mapping

# By attachment kind (shared.events.cases.Attachment): the media types kept.
KEPT: Mapping[str, frozenset[str]] = {
    "image": frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"}),
    "audio": frozenset({"audio/mp4", "audio/mpeg"}),
    "video": frozenset({"video/mp4"}),
    "document": frozenset({"application/pdf"}),
}
KEPT_TYPES = frozenset().union(*KEPT.values())


def media_type_of(kind: str, data: bytes) -> str | None:
    """The media type of `data` if it is one kept for an attachment of `kind`; else None."""
    head = data[:16]
    found: str | None = None
    if head.startswith(b"\xff\xd8\xff"):
        found = "image/jpeg"
    elif head.startswith(b"\x89PNG\r\n\x1a\n"):
        found = "image/png"
    elif head.startswith((b"GIF87a", b"GIF89a")):
        found = "image/gif"
    elif head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        found = "image/webp"
    elif head[4:8] == b"ftyp":  # ISO media (M4A, MP4): LINE's voice messages and videos
        found = "video/mp4" if kind == "video" else "audio/mp4"
    elif head.startswith(b"ID3") or head[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        found = "audio/mpeg"
    elif head.startswith(b"%PDF-"):
        found = "application/pdf"
    return found if found in KEPT.get(kind, frozenset()) else None
