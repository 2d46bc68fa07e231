"""Photos of issues: stored once per SHA-256, linked to an issue (and the step that brought them)."""

from __future__ import annotations

import sqlalchemy as sa

from core.storage import tables as t

__all__ = ["store_photos", "photo_data"]


def store_photos(conn: sa.Connection, issue_id: int, photos, event_id: int | None = None) -> None:
    """Store photos (once per hash) and link them to an issue, in the caller's transaction.

    Parameters
    ----------
    conn : sqlalchemy.Connection
    issue_id : int
    photos : iterable of issues.photos.Photo
        Checked photos (``sha256``, ``content_type``, ``size``, ``width``, ``height``, ``data``).
    event_id : int, optional
        The history event (workflow step) the photos came with.
    """
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


def photo_data(conn: sa.Connection, issue_id: int, sha256: str) -> tuple[str, bytes] | None:
    """Content type and bytes of the photo ``sha256`` linked to an issue, or ``None``."""
    p, ph = t.issue_photos.c, t.photos.c
    row = conn.execute(
        sa.select(ph.content_type, ph.data)
        .select_from(t.photos.join(t.issue_photos, p.sha256 == ph.sha256))
        .where(p.issue_id == int(issue_id), p.sha256 == str(sha256))
    ).first()
    return None if row is None else (row.content_type, row.data)
