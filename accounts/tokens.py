"""API tokens: random secrets shown once, stored as SHA-256 hashes, revocable, with an expiry.

A token is 256 bits from :mod:`secrets`, so a fast hash is enough to store it safely (unlike passwords, it
cannot be guessed from a dictionary); lookups are by hash, so the secret itself is never stored.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta, timezone

from accounts import storage as st
from accounts.users import User, get_user
from boundaries.registry import Registry
from core.audit import SYSTEM, Actor, record
from core.errors import InvalidInputError, NotFoundError

__all__ = ["create_token", "revoke_token", "list_tokens", "resolve_token", "PREFIX", "MAX_DAYS"]

#: Every token starts with this, so secret scanners and people can recognise one.
PREFIX = "wg_"
#: Longest lifetime a token may be given.
MAX_DAYS = 3650


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _public(row: dict) -> dict:
    now = datetime.now(timezone.utc)
    out = {k: row[k] for k in ("id", "user_id", "name", "prefix")}
    for key in ("created_at", "expires_at", "revoked_at", "last_used_at"):
        out[key] = _utc(row[key]).isoformat() if row[key] else None
    out["active"] = row["revoked_at"] is None and _utc(row["expires_at"]) > now
    return out


def create_token(
    registry: Registry, user_id: int, name: str = "", days: int = 90, actor: Actor = SYSTEM
) -> tuple[str, dict]:
    """Create a token for a user; returns ``(secret, token)``. The secret is not kept and cannot be shown again."""
    if not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise InvalidInputError(f"有效期须为 1–{MAX_DAYS} 天 days must be 1–{MAX_DAYS}")
    user = get_user(registry, user_id)
    if not user.active:
        raise InvalidInputError("用户已停用 the user is disabled")
    secret = PREFIX + secrets.token_urlsafe(32)
    now = datetime.now(timezone.utc)
    values = {
        "user_id": user.id,
        "name": str(name),
        "token_hash": _hash(secret),
        "prefix": secret[:10],
        "created_at": now,
        "expires_at": now + timedelta(days=days),
    }
    with registry.store.transaction() as conn:
        token_id = st.insert_token(conn, **values)
        token = _public({**values, "id": token_id, "revoked_at": None, "last_used_at": None})
        record(conn, actor, "create", "token", token_id, None, token | {"user": user.name})
    return secret, token


def list_tokens(registry: Registry, user_id: int | None = None) -> list[dict]:
    """Tokens (never their secrets), optionally of one user."""
    with registry.store.engine.connect() as conn:
        return [_public(r) for r in st.token_rows(conn, user_id)]


def revoke_token(registry: Registry, token_id: int, actor: Actor = SYSTEM) -> dict:
    """Revoke a token at once; revoking twice is harmless."""
    with registry.store.transaction() as conn:
        row = st.token_by_id(conn, token_id)
        if row is None:
            raise NotFoundError(f"令牌不存在 no token with id {token_id}")
        before = _public(row)
        if row["revoked_at"] is None:
            now = datetime.now(timezone.utc)
            st.update_token(conn, row["id"], revoked_at=now)
            after = _public({**row, "revoked_at": now})
            record(conn, actor, "revoke", "token", row["id"], before, after)
            return after
    return before


def resolve_token(registry: Registry, secret: str) -> User | None:
    """The active user owning an unexpired, unrevoked token, else ``None``."""
    if not isinstance(secret, str) or not secret.startswith(PREFIX) or len(secret) > 200:
        return None
    now = datetime.now(timezone.utc)
    with registry.store.engine.connect() as conn:
        row = st.token_by_hash(conn, _hash(secret))
    if row is None or row["revoked_at"] is not None or _utc(row["expires_at"]) <= now:
        return None
    last = _utc(row["last_used_at"])
    if last is None or now - last > timedelta(minutes=5):  # not a write per request
        with registry.store.transaction() as conn:
            st.update_token(conn, row["id"], last_used_at=now)
    user = get_user(registry, row["user_id"])
    return user if user.active else None
