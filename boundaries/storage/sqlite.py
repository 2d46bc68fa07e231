"""The embedded default: a SQLite file with WAL, foreign keys on and a busy timeout.

Write transactions (``Store.transaction``) start with ``BEGIN IMMEDIATE``; reads start a deferred ``BEGIN``.

This is the only module that knows it talks to SQLite.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

__all__ = ["sqlite_engine"]


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
