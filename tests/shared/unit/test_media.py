"""A file is what its first bytes say, and only the formats kept for its kind are kept."""

from __future__ import annotations

import pytest

from shared.media import KEPT_TYPES, media_type_of

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
GIF = b"GIF89a\x01\x00\x01\x00"
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 "
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00"
MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00"
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"


@pytest.mark.parametrize(
    ("kind", "data", "expected"),
    [
        ("image", JPEG, "image/jpeg"),
        ("image", PNG, "image/png"),
        ("image", GIF, "image/gif"),
        ("image", WEBP, "image/webp"),
        ("audio", MP4, "audio/mp4"),
        ("audio", MP3, "audio/mpeg"),
        ("video", MP4, "video/mp4"),
        ("document", PDF, "application/pdf"),
    ],
)
def test_the_kept_formats(kind: str, data: bytes, expected: str) -> None:
    assert media_type_of(kind, data) == expected
    assert expected in KEPT_TYPES


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        ("image", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)">'),
        ("image", b"<html><body>"),
        ("image", PDF),  # a real file, of another kind
        ("document", JPEG),
        ("document", b"MZ\x90\x00\x03\x00\x00\x00"),  # a Windows program
        ("document", b"PK\x03\x04\x14\x00"),  # an archive (or an office file)
        ("video", MP3),
        ("video", b""),
        ("link", JPEG),  # a kind that is never kept
    ],
)
def test_anything_else_is_not_kept(kind: str, data: bytes) -> None:
    assert media_type_of(kind, data) is None
