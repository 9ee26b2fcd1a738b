"""A web-form photo made safe to pass on: read its GPS position, then re-encode the pixels
alone, so no EXIF (camera serial, owner name, time, position), XMP or ICC comment leaves
the site. Pillow does the decoding; anything it cannot read as an image is refused."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

# A picture this large is a decompression bomb, not a photo of a pothole.
MAX_PIXELS = 40_000_000
# Long side of what is kept: plenty to see the problem, a fraction of the upload.
MAX_SIDE = 2048
GPS_IFD = 0x8825


class PhotoRefused(ValueError):
    """Not an image we can read."""


@dataclass(frozen=True)
class CleanPhoto:
    jpeg: bytes
    lat: float | None
    lon: float | None

    @property
    def photo_id(self) -> str:
        return hashlib.sha256(self.jpeg).hexdigest()[:32]


def _degrees(value: Any, ref: Any) -> float | None:
    try:
        d, m, s = (float(x) for x in value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    degrees = d + m / 60 + s / 3600
    return -degrees if str(ref).upper() in ("S", "W") else degrees


def gps_of(image: Image.Image) -> tuple[float | None, float | None]:
    gps = image.getexif().get_ifd(GPS_IFD)
    if not gps:
        return None, None
    # GPSLatitudeRef 1, GPSLatitude 2, GPSLongitudeRef 3, GPSLongitude 4
    lat = _degrees(gps.get(2), gps.get(1, "N"))
    lon = _degrees(gps.get(4), gps.get(3, "E"))
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None, None
    return round(lat, 6), round(lon, 6)


def clean(data: bytes) -> CleanPhoto:
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            lat, lon = gps_of(image)
            # The camera's orientation is applied to the pixels before the tag goes.
            upright = ImageOps.exif_transpose(image).convert("RGB")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, SyntaxError) as exc:
        raise PhotoRefused(f"not a readable image: {exc}") from exc
    upright.thumbnail((MAX_SIDE, MAX_SIDE))
    # A fresh image of the pixels alone: nothing of the original's metadata comes along.
    bare = Image.new("RGB", upright.size)
    bare.paste(upright)
    out = io.BytesIO()
    bare.save(out, format="JPEG", quality=85, optimize=True)
    return CleanPhoto(out.getvalue(), lat, lon)
