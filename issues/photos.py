"""Photos attached to issues: checked to be real images of an accepted type and size, stored by content hash.

Pillow decodes the header and verifies the file (a renamed PDF or a truncated upload is refused); the bytes are
stored as sent, once per SHA-256, in the database, so a photo commits or rolls back with its issue.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

import sqlalchemy as sa
from PIL import Image, UnidentifiedImageError

from boundaries.errors import InvalidInputError
from boundaries.storage import tables as t

__all__ = ["Photo", "check_photos", "store_photos", "FORMATS", "MAX_PHOTO_BYTES", "MAX_PHOTOS"]

#: Pillow format → content type of the images accepted.
FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
#: Largest photo accepted, in bytes (config ``PHOTO_MAX_BYTES`` overrides).
MAX_PHOTO_BYTES = 8 * 1024 * 1024
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


def check_photos(files, max_bytes: int = MAX_PHOTO_BYTES) -> list[Photo]:
    """Check ``(filename, bytes)`` pairs; every problem is reported with the file's name, nothing is kept."""
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
            with Image.open(io.BytesIO(data)) as image:
                kind, size = image.format, image.size
                image.verify()
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise InvalidInputError(f"不是图片 {name!r} is not a readable image (JPEG, PNG or WebP): {exc}") from exc
        if kind not in FORMATS:
            raise InvalidInputError(f"图片格式不支持 {name!r} is {kind}; send JPEG, PNG or WebP")
        out.append(Photo(hashlib.sha256(data).hexdigest(), FORMATS[kind], len(data), size[0], size[1], data))
    return out


def store_photos(conn: sa.Connection, issue_id: int, photos: list[Photo], event_id: int | None = None) -> None:
    """Store photos (once per hash) and link them to an issue (and the workflow step that brought them)."""
    for photo in photos:
        known = conn.execute(sa.select(t.photos.c.sha256).where(t.photos.c.sha256 == photo.sha256)).first()
        if known is None:
            conn.execute(
                t.photos.insert().values(
                    sha256=photo.sha256,
                    content_type=photo.content_type,
                    size=photo.size,
                    width=photo.width,
                    height=photo.height,
                    data=photo.data,
                )
            )
        linked = conn.execute(
            sa.select(t.issue_photos.c.sha256).where(
                t.issue_photos.c.issue_id == issue_id, t.issue_photos.c.sha256 == photo.sha256
            )
        ).first()
        if linked is None:
            conn.execute(t.issue_photos.insert().values(issue_id=issue_id, sha256=photo.sha256, event_id=event_id))
