"""The audit log's SQL: one entry written in the caller's transaction, and pages of entries read back."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import sqlalchemy as sa

from core.storage import tables as t

__all__ = ["insert_entry", "entry_page"]

_INSERT = t.audit_log.insert()  # one statement, compiled once: the values are parameters


def insert_entry(conn: sa.Connection, values: dict) -> None:
    """Write one audit entry (the audit_log columns) in ``conn``'s transaction."""
    conn.execute(_INSERT, values)


def entry_page(
    engine: sa.Engine,
    user: str | None,
    object_type: str | None,
    object_id: str | None,
    since: datetime | None,
    until: datetime | None,
    page: int,
    per_page: int,
) -> tuple[list[dict], int]:
    """One page of entries matching the filters, newest first, with their total; times as aware ISO text (UTC)."""
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
            at = row["at"]
            row["at"] = (at.replace(tzinfo=timezone.utc) if at.tzinfo is None else at).isoformat()
            for key in ("before", "after"):
                if isinstance(row[key], str):  # some drivers hand JSON back as text
                    row[key] = json.loads(row[key])
            out.append(row)
    return out, int(total)
