"""Browser sessions kept on the server, so that signing out ends a session for good.

Flask's session is a signed cookie held by the browser: clearing it at sign-out does not stop a copy of the old
cookie from being replayed. Each sign-in therefore gets a random key, carried in the (signed) session and
stored here as its SHA-256; a request's session counts only while its key is stored and unexpired. Signing
out deletes the key, which ends that one session and no other. Changing a user's password, role, areas or
active flag ends all of their sessions (see :func:`accounts.users.update_user`).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from accounts import storage as st
from boundaries.registry import Registry

if TYPE_CHECKING:
    import sqlalchemy as sa

__all__ = ["start_session", "session_is_live", "end_session", "end_user_sessions"]


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def start_session(registry: Registry, user_id: int, lifetime: timedelta) -> str:
    """Record a new session of ``user_id`` valid for ``lifetime``; returns its key (to keep in the cookie).

    Expired sessions of every user are removed in the same transaction, so the table does not grow.
    """
    key = secrets.token_urlsafe(32)
    now = datetime.now(timezone.utc)
    with registry.store.transaction() as conn:
        st.delete_expired_sessions(conn, now)
        st.insert_session(conn, int(user_id), _hash(key), now, now + lifetime)
    return key


def session_is_live(registry: Registry, user_id: int, key: str) -> bool:
    """Whether ``key`` is a stored, unexpired session of ``user_id``."""
    if not isinstance(key, str) or not key or len(key) > 200:
        return False
    with registry.store.engine.connect() as conn:
        row = st.session_row(conn, _hash(key))
    return row is not None and row.user_id == int(user_id) and _utc(row.expires_at) > datetime.now(timezone.utc)


def end_session(registry: Registry, key: str) -> bool:
    """End the session with ``key`` (sign-out); ``True`` if there was one. Ending it twice is harmless."""
    if not isinstance(key, str) or not key:
        return False
    with registry.store.transaction() as conn:
        deleted = st.delete_session(conn, _hash(key))
    return deleted > 0


def end_user_sessions(conn: sa.Connection, user_id: int) -> None:
    """Delete every session of ``user_id``, inside the caller's write transaction."""
    st.delete_user_sessions(conn, user_id)
