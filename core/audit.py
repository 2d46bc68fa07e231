"""The audit log: who changed what, when, with the object's state before and after.

Every domain function that changes data takes an :class:`Actor` and calls :func:`record` inside the same
transaction as the change, so a change and its audit entry are committed (or rolled back) together.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import sqlalchemy as sa
from shapely import Geometry

from core.storage.audit import entry_page, insert_entry

__all__ = ["Actor", "SYSTEM", "record", "entries", "jsonable"]


@dataclass(frozen=True)
class Actor:
    """Who makes a change: a user (``user_id``), or the command line / system (``user_id=None``)."""

    user_id: int | None
    name: str
    source: str = ""


#: The actor of command-line and startup changes.
SYSTEM = Actor(None, "system", "cli")


def jsonable(value):
    """``value`` made JSON-safe for the log.

    Bytes and geometries are dropped, dates become ISO text and numpy scalars plain numbers.
    """
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items() if not isinstance(v, bytes | memoryview | Geometry)}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "item") and not isinstance(value, str):
        return value.item()
    return value


def record(conn: sa.Connection, actor: Actor, action: str, object_type: str, object_id="", before=None, after=None):
    """Write one audit entry in the caller's transaction."""
    insert_entry(
        conn,
        {
            "at": datetime.now(timezone.utc),
            "user_id": actor.user_id,
            "user_name": actor.name,
            "action": action,
            "object_type": object_type,
            "object_id": str(object_id),
            "before": jsonable(before),
            "after": jsonable(after),
            "source": actor.source[:64],
        },
    )


def entries(
    engine: sa.Engine,
    user: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[dict], int]:
    """One page of audit entries, newest first, with the total count matching the filters.

    Parameters
    ----------
    user : str, optional
        The user's login name.
    object_type, object_id : str, optional
        What was changed (``area``, ``generation``, ``building``, ``service_point``, ``user``, ``token``, ``issue``).
    since, until : datetime, optional
        Time window (``since`` inclusive, ``until`` exclusive).
    page, per_page : int
        1-based page number and page size.
    """
    return entry_page(engine, user, object_type, object_id, since, until, page, per_page)
