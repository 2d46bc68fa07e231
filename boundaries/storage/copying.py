"""Bulk writes on PostgreSQL with ``COPY … FROM STDIN``: rows streamed to the server, no SQL parsed per batch.

A 1,000-row ``INSERT … VALUES`` is a new statement of 10,000+ parameters that psycopg 3 parses on the client every
time (it caches no statement over 4 KB or 50 parameters): 80 % of an import's time on PostgreSQL. ``COPY`` sends
the rows as text and the server parses them once per column type.

The ``COPY`` runs on the psycopg connection under the caller's SQLAlchemy connection, so it belongs to the
caller's transaction: it commits or rolls back with it. It fires the tables' ``AFTER INSERT`` triggers like an
``INSERT`` (the statement-level revision triggers of migration 0007 bump once per ``COPY``), and its errors
are raised as SQLAlchemy raises a driver's (``sqlalchemy.exc.IntegrityError`` for a unique violation). Values
are adapted by psycopg as for an ``INSERT``: ``bytes`` as ``bytea``, datetimes as timestamps (naive ones in the
session's time zone, as an ``INSERT`` reads them), booleans, ``None`` as NULL, text of any content escaped by
psycopg. Only the columns the rows carry are listed, never PostGIS's generated ``geom`` (migration 0018), which
is not in :mod:`core.storage.tables`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pandas as pd
import sqlalchemy as sa

__all__ = ["copy_rows", "copy_dicts", "copy_frame"]


def copy_rows(conn: sa.Connection, table: sa.Table, columns: Sequence[str], rows: Iterable[Sequence]) -> None:
    """Write ``rows`` (one value per column of ``columns``) into ``table`` with one ``COPY`` in ``conn``'s transaction.

    Parameters
    ----------
    conn : sqlalchemy.Connection
        A connection to PostgreSQL through psycopg 3, inside the caller's transaction.
    table : sqlalchemy.Table
    columns : sequence of str
        Names of columns of ``table``; columns not listed take their defaults.
    rows : iterable of sequences
        Values in the order of ``columns``.
    """
    if conn.dialect.name != "postgresql" or conn.dialect.driver != "psycopg":
        raise ValueError(f"COPY needs PostgreSQL through psycopg 3, not {conn.dialect.name}+{conn.dialect.driver}")
    unknown = [name for name in columns if name not in table.c]
    if unknown:
        raise KeyError(f"{table.name} has no column {', '.join(unknown)}")
    quote = conn.dialect.identifier_preparer.quote
    statement = f"COPY {quote(table.name)} ({', '.join(quote(name) for name in columns)}) FROM STDIN"
    dbapi = conn.dialect.loaded_dbapi
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        with cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
    except dbapi.Error as exc:  # raised as SQLAlchemy raises a driver's error (a unique violation: IntegrityError)
        raise sa.exc.DBAPIError.instance(statement, None, exc, dbapi.Error, dialect=conn.dialect) from exc
    finally:
        cursor.close()


def copy_dicts(conn: sa.Connection, table: sa.Table, rows: list[dict]) -> None:
    """Write rows given as dicts (keys: column names) with ``COPY``, each row with exactly the columns it carries.

    Rows of the same keys in a row go in one ``COPY`` (normally all of them); a row without a key leaves that
    column to its default, as an ``INSERT`` of that row would, and rows keep their order (and so their ids).
    """
    start = 0
    while start < len(rows):
        keys = rows[start].keys()
        end = start + 1
        while end < len(rows) and rows[end].keys() == keys:
            end += 1
        columns = [c.name for c in table.c if c.name in keys]
        copy_rows(conn, table, columns, ([row[name] for name in columns] for row in rows[start:end]))
        start = end


def copy_frame(conn: sa.Connection, table: sa.Table, frame: pd.DataFrame) -> None:
    """Write a DataFrame's rows (columns named as the table's) with one ``COPY``.

    Values go as they are (an ``INSERT`` of ``frame.to_dict("records")`` writes the same), but pandas' missing
    markers (``pd.NA``, ``pd.NaT``), which an ``INSERT`` cannot adapt, are written as NULL; a float NaN stays NaN.
    """
    if len(frame) == 0:
        return
    columns = [str(name) for name in frame.columns]
    values = []
    for name in frame.columns:
        column = frame[name]
        listed = column.tolist()
        if column.dtype.kind not in "fc":  # float columns keep NaN; elsewhere a missing marker is NULL
            missing = column.isna().to_numpy()
            if missing.any():
                listed = [None if m and not isinstance(v, float) else v for v, m in zip(listed, missing, strict=True)]
        values.append(listed)
    copy_rows(conn, table, columns, zip(*values, strict=True))
