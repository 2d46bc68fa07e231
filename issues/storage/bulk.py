"""Issues in bulk: which external ids were imported before, the rows and their entry events; clearing them all."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from core.storage import tables as t

__all__ = ["imported_external_ids", "insert_issue_rows", "open_issues_by_token_prefix", "insert_event_rows", "wipe"]

_CHUNK = 5000


def imported_external_ids(conn: sa.Connection, external_ids, user_id: int | None) -> set[str]:
    """The external ids among ``external_ids`` that ``user_id`` (``None``: the system) imported before.

    Parameters
    ----------
    conn : sqlalchemy.Connection
    external_ids : list of str
        Distinct, non-empty ids.
    user_id : int or None
    """
    c = t.issues.c
    mine = c.created_by.is_(None) if user_id is None else c.created_by == user_id
    wanted = list(external_ids)
    known: set[str] = set()
    for start in range(0, len(wanted), _CHUNK):
        batch = wanted[start : start + _CHUNK]
        statement = sa.select(c.external_id).where(c.channel == "import", mine, c.external_id.in_(batch))
        known |= set(conn.execute(statement).scalars())
    return known


def insert_issue_rows(store, conn: sa.Connection, rows: pd.DataFrame) -> None:
    """Insert issue rows (columns named as the table's) as fast as the database allows (``Store.bulk_insert``)."""
    store.bulk_insert(conn, t.issues.name, rows)


def open_issues_by_token_prefix(conn: sa.Connection, prefix: str) -> list[tuple[int, str, str]]:
    """``(id, state, level)`` of the issues not closed or void whose Open311 token starts with ``prefix``."""
    c = t.issues.c
    rows = conn.execute(
        sa.select(c.id, c.state, c.level).where(c.token.like(f"{prefix}%"), c.state.not_in(["closed", "void"]))
    ).all()
    return [tuple(r) for r in rows]


def insert_event_rows(store, conn: sa.Connection, events: pd.DataFrame) -> None:
    """Insert history events (columns named as the table's) in bulk (``Store.bulk_insert``)."""
    store.bulk_insert(conn, t.issue_events.name, events)


def wipe(conn: sa.Connection) -> None:
    """Delete every issue with its history events and photos, in ``conn``'s transaction (the demo rebuild).

    Parameters
    ----------
    conn : sqlalchemy.Connection
        A write transaction; the rebuild clears the registry's own rows in the same one.
    """
    for table in (t.issue_photos, t.photos, t.issue_events, t.issues):  # links before what they link
        conn.execute(sa.delete(table))
