"""Photos attached to issues: checked to be real images of an accepted type and size, stored by content hash.

Pillow decodes the header and verifies the file (a renamed PDF or a truncated upload is refused); the bytes are
stored as sent, once per SHA-256, in the database, so a photo commits or rolls back with its issue. The
pixel count is checked from the header before anything is decoded, so a small file that would expand to
gigabytes (a decompression bomb) is refused at once.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PIL import Image, UnidentifiedImageError

from core.errors import InvalidInputError
from issues import storage as st

if TYPE_CHECKING:
    import sqlalchemy as sa

__all__ = ["Photo", "check_photos", "store_photos", "FORMATS", "MAX_PHOTO_BYTES", "MAX_PHOTO_PIXELS", "MAX_PHOTOS"]

#: Pillow format → content type of the images accepted.
FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
#: Largest photo accepted, in bytes (config ``PHOTO_MAX_BYTES`` overrides).
MAX_PHOTO_BYTES = 8 * 1024 * 1024
#: Most pixels (width × height) of a photo: 100 megapixels, above any phone camera's usual output.
MAX_PHOTO_PIXELS = 100_000_000
#: Most photos on one report or step.
MAX_PHOTOS = 9


@dataclass(frozen=True)
class Photo:
    """A checked photo."""

    sha256: str
    content_type: str
    size: int
    width: int
    height: int
    data: bytes


def _too_many_pixels(name, width, height, max_pixels) -> InvalidInputError:
    return InvalidInputError(
        f"照片像素过多 photo {name!r} is {width}×{height} pixels; the limit is {max_pixels / 1e6:g} megapixels"
    )


def check_photos(files, max_bytes: int = MAX_PHOTO_BYTES, max_pixels: int = MAX_PHOTO_PIXELS) -> list[Photo]:
    """Check ``(filename, bytes)`` pairs; every problem is reported with the file's name, nothing is kept.

    Parameters
    ----------
    files : iterable of (str, bytes)
    max_bytes, max_pixels : int
        Largest file size and pixel count (width × height) accepted.
    """
    files = list(files)
    if len(files) > MAX_PHOTOS:
        raise InvalidInputError(f"照片过多 at most {MAX_PHOTOS} photos per report, got {len(files)}")
    out = []
    for name, data in files:
        if len(data) == 0:
            raise InvalidInputError(f"照片为空 photo {name!r} is empty")
        if len(data) > max_bytes:
            raise InvalidInputError(
                f"照片过大 photo {name!r} is {len(data) / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.1f} MB"
            )
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                with Image.open(io.BytesIO(data)) as image:
                    kind, size = image.format, image.size
                    if size[0] * size[1] > max_pixels:
                        raise _too_many_pixels(name, size[0], size[1], max_pixels)
                    image.verify()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:  # past Pillow's own limit
            raise InvalidInputError(
                f"照片像素过多 photo {name!r} has too many pixels; the limit is {max_pixels / 1e6:g} megapixels"
            ) from exc
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise InvalidInputError(f"不是图片 {name!r} is not a readable image (JPEG, PNG or WebP): {exc}") from exc
        if kind not in FORMATS:
            raise InvalidInputError(f"图片格式不支持 {name!r} is {kind}; send JPEG, PNG or WebP")
        out.append(Photo(hashlib.sha256(data).hexdigest(), FORMATS[kind], len(data), size[0], size[1], data))
    return out


def store_photos(conn: sa.Connection, issue_id: int, photos: list[Photo], event_id: int | None = None) -> None:
    """Store photos (once per hash) and link them to an issue (and the workflow step that brought them)."""
    st.store_photos(conn, issue_id, photos, event_id)
