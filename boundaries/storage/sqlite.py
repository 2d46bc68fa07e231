"""The embedded default: a SQLite file with WAL, foreign keys on and a busy timeout.

Write transactions (``Store.transaction``) start with ``BEGIN IMMEDIATE``; reads start a deferred ``BEGIN``.

This is the only module that knows it talks to SQLite.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

__all__ = ["sqlite_engine", "has_rtree", "rtree_ids"]

#: The R*Tree of building boxes (migration 0012), when this SQLite has the module.
_RTREES = {"buildings": "buildings_rtree"}


def sqlite_engine(url: str) -> sa.Engine:
    """Create an engine for a ``sqlite:///`` URL, creating the file's folder and setting the pragmas."""
    parsed = sa.make_url(url)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # let SQLAlchemy's BEGIN below control transactions
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA cache_size=-65536")  # 64 MiB of pages per connection (the default is 2 MiB)
        cursor.execute("PRAGMA temp_store=MEMORY")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(conn):
        # Writers take the write lock up front (no upgrade deadlocks); readers stay deferred so that, with WAL,
        # they read a snapshot without waiting for a writer.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("weige_write") else "BEGIN")

    return engine


def has_rtree(engine: sa.Engine, table: str) -> bool:
    """Whether ``table`` has an R*Tree of its boxes in this database (migration 0012 on a SQLite with the module)."""
    name = _RTREES.get(table)
    if name is None or engine.dialect.name != "sqlite":
        return False
    with engine.connect() as conn:
        found = conn.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,))
        return found.first() is not None


def rtree_ids(table: str, bbox):
    """A SELECT of the ids of ``table`` whose R*Tree box meets ``bbox`` (minx, miny, maxx, maxy): a superset."""
    minx, miny, maxx, maxy = (float(v) for v in bbox)
    rtree = sa.table(
        _RTREES[table], sa.column("id"), sa.column("minx"), sa.column("maxx"), sa.column("miny"), sa.column("maxy")
    )
    c = rtree.c
    return sa.select(c.id).where(c.maxx >= minx, c.minx <= maxx, c.maxy >= miny, c.miny <= maxy)
