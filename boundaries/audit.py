"""The audit log: who changed what, when, with the object's state before and after.

Every domain function that changes data takes an :class:`Actor` and calls :func:`record` inside the same
transaction as the change, so a change and its audit entry are committed (or rolled back) together.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone

import sqlalchemy as sa
from shapely import Geometry

from boundaries.storage import tables as t

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


_INSERT = t.audit_log.insert()  # one statement, compiled once: the values are parameters


def record(conn: sa.Connection, actor: Actor, action: str, object_type: str, object_id="", before=None, after=None):
    """Write one audit entry in the caller's transaction."""
    conn.execute(
        _INSERT,
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
    a = t.audit_log.c
    if engine.dialect.name == "sqlite":  # SQLite keeps naive UTC timestamps
        since, until = (None if v is None else v.astimezone(timezone.utc).replace(tzinfo=None) for v in (since, until))
    conditions = []
    if user is not None:
        conditions.append(a.user_name == user)
    if object_type is not None:
        conditions.append(a.object_type == object_type)
    if object_id is not None:
        conditions.append(a.object_id == str(object_id))
    if since is not None:
        conditions.append(a.at >= since)
    if until is not None:
        conditions.append(a.at < until)
    where = sa.and_(sa.true(), *conditions)
    with engine.connect() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(t.audit_log).where(where)).scalar_one()
        rows = conn.execute(
            sa.select(t.audit_log).where(where).order_by(a.id.desc()).limit(per_page).offset((page - 1) * per_page)
        ).mappings()
        out = []
        for row in rows:
            row = dict(row)
            row["at"] = (
                row["at"].replace(tzinfo=timezone.utc).isoformat()
                if row["at"].tzinfo is None
                else row["at"].isoformat()
            )
            for key in ("before", "after"):
                if isinstance(row[key], str):  # some drivers hand JSON back as text
                    row[key] = json.loads(row[key])
            out.append(row)
    return out, int(total)
