"""Every SQL statement of users, their areas, sessions and API tokens (SQLAlchemy Core, SQLite / PostgreSQL).

Each function works in the connection it is given, so the caller decides what one transaction holds (a change
and its audit entry commit together). Rows come back as plain dicts; times as stored (the domain modules make
them aware UTC).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from core.storage import tables as t

__all__ = [
    "IntegrityError",
    "user_rows",
    "login_row",
    "name_taken",
    "insert_user",
    "update_user_row",
    "add_user_areas",
    "replace_user_areas",
    "delete_expired_sessions",
    "insert_session",
    "session_row",
    "delete_session",
    "delete_user_sessions",
    "insert_token",
    "token_rows",
    "token_by_id",
    "token_by_hash",
    "update_token",
]

# -- users ---------------------------------------------------------------------------------------------------------


def user_rows(conn: sa.Connection, user_id: int | None = None) -> list[dict]:
    """Users by id (every user, or the one with ``user_id``), each with ``areas``: the codes it is bound to.

    Parameters
    ----------
    conn : sqlalchemy.Connection
    user_id : int, optional
        Only this user (an empty list when there is none).

    Returns
    -------
    list of dict
        The ``users`` columns and ``areas`` (a tuple of codes, sorted).
    """
    u = t.users
    statement = sa.select(u).order_by(u.c.id)
    if user_id is not None:
        statement = statement.where(u.c.id == int(user_id))
    rows = [dict(r) for r in conn.execute(statement).mappings()]
    areas: dict[int, list[str]] = {}
    if rows:
        ua = t.user_areas.c
        bound = conn.execute(
            sa.select(ua.user_id, ua.area_code).where(ua.user_id.in_([r["id"] for r in rows])).order_by(ua.area_code)
        )
        for bound_id, code in bound:
            areas.setdefault(bound_id, []).append(code)
    return [r | {"areas": tuple(areas.get(r["id"], ()))} for r in rows]


def _by_name(name: str, key: str):
    """The users row of a login name: the exact name, or the same name compared without case (``key``)."""
    u = t.users.c
    return sa.or_(u.name == name, u.name_key == key)


def login_row(conn: sa.Connection, name: str, key: str) -> dict | None:
    """``id``, ``name``, ``password_hash`` and ``active`` of the user signing in as ``name``, or ``None``.

    Parameters
    ----------
    conn : sqlalchemy.Connection
    name : str
        The login name as given (stripped).
    key : str
        The name as compared without case (:func:`accounts.users.name_key`).

    Returns
    -------
    dict or None
        The user with exactly this name first, else the oldest whose name matches ``key``. Names that differed
        only in case before migration 0008 keep signing in by their exact name.
    """
    u = t.users.c
    statement = sa.select(u.id, u.name, u.password_hash, u.active).where(_by_name(name, key)).order_by(u.id)
    rows = [dict(r) for r in conn.execute(statement).mappings()]
    exact = [r for r in rows if r["name"] == name]
    return (exact or rows or [None])[0]


def name_taken(conn: sa.Connection, name: str, key: str) -> bool:
    """Whether a user has the login name ``name``, or one equal to it without case (``key``)."""
    return conn.execute(sa.select(t.users.c.id).where(_by_name(name, key))).first() is not None


def insert_user(conn: sa.Connection, **values) -> int:
    """Insert a users row; its id. A name taken meanwhile raises :class:`IntegrityError` (the unique index)."""
    return int(conn.execute(t.users.insert().values(**values)).inserted_primary_key[0])


def update_user_row(conn: sa.Connection, user_id: int, **values) -> None:
    """Set columns of one users row."""
    conn.execute(t.users.update().where(t.users.c.id == int(user_id)).values(**values))


def add_user_areas(conn: sa.Connection, user_id: int, areas: list[str]) -> None:
    """Bind a user to more area codes."""
    if areas:
        conn.execute(t.user_areas.insert(), [{"user_id": int(user_id), "area_code": a} for a in areas])


def replace_user_areas(conn: sa.Connection, user_id: int, areas: list[str]) -> None:
    """Bind a user to exactly the area codes ``areas``."""
    conn.execute(sa.delete(t.user_areas).where(t.user_areas.c.user_id == int(user_id)))
    add_user_areas(conn, user_id, areas)


# -- sessions ------------------------------------------------------------------------------------------------------


def delete_expired_sessions(conn: sa.Connection, now: datetime) -> None:
    """Delete every session (of every user) that expired by ``now``."""
    conn.execute(sa.delete(t.user_sessions).where(t.user_sessions.c.expires_at <= now))


def insert_session(conn: sa.Connection, user_id: int, key_hash: str, created_at: datetime, expires_at: datetime):
    """Store a session by the hash of its key."""
    conn.execute(
        t.user_sessions.insert().values(
            user_id=int(user_id), key_hash=key_hash, created_at=created_at, expires_at=expires_at
        )
    )


def session_row(conn: sa.Connection, key_hash: str):
    """``(user_id, expires_at)`` of the session with this key hash (attributes of a row), or ``None``."""
    s = t.user_sessions.c
    return conn.execute(sa.select(s.user_id, s.expires_at).where(s.key_hash == key_hash)).first()


def delete_session(conn: sa.Connection, key_hash: str) -> int:
    """Delete the session with this key hash; how many were deleted (0 or 1)."""
    return conn.execute(sa.delete(t.user_sessions).where(t.user_sessions.c.key_hash == key_hash)).rowcount


def delete_user_sessions(conn: sa.Connection, user_id: int) -> None:
    """Delete every session of a user."""
    conn.execute(sa.delete(t.user_sessions).where(t.user_sessions.c.user_id == int(user_id)))


# -- API tokens ----------------------------------------------------------------------------------------------------


def insert_token(conn: sa.Connection, **values) -> int:
    """Insert an api_tokens row; its id."""
    return int(conn.execute(t.api_tokens.insert().values(**values)).inserted_primary_key[0])


def token_rows(conn: sa.Connection, user_id: int | None = None) -> list[dict]:
    """Every token row (by id), or those of one user."""
    k = t.api_tokens.c
    statement = sa.select(t.api_tokens).order_by(k.id)
    if user_id is not None:
        statement = statement.where(k.user_id == int(user_id))
    return [dict(r) for r in conn.execute(statement).mappings()]


def token_by_id(conn: sa.Connection, token_id: int) -> dict | None:
    """One token row by id, or ``None``."""
    row = conn.execute(sa.select(t.api_tokens).where(t.api_tokens.c.id == int(token_id))).mappings().first()
    return None if row is None else dict(row)


def token_by_hash(conn: sa.Connection, token_hash: str) -> dict | None:
    """The token row with this secret's hash, or ``None``."""
    row = conn.execute(sa.select(t.api_tokens).where(t.api_tokens.c.token_hash == token_hash)).mappings().first()
    return None if row is None else dict(row)


def update_token(conn: sa.Connection, token_id: int, **values) -> None:
    """Set columns of one token row (``revoked_at``, ``last_used_at``)."""
    conn.execute(t.api_tokens.update().where(t.api_tokens.c.id == int(token_id)).values(**values))
