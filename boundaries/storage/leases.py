"""Shared state of a deployment's processes in the store: leases and shared secrets.

**Leases** say which process runs a job that should run once per deployment.

Several web workers (and machines) share one database; each runs the escalation schedule's thread, and only the
holder of the ``escalation`` lease does the work. A holder renews its lease every run; when it stops (crash,
restart), the lease expires and another process takes it over on its next try.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from core.storage import tables as t

__all__ = ["LeaseStore"]


class LeaseStore:
    """Lease and shared-secret methods of :class:`~boundaries.storage.store.Store` (a mixin)."""

    engine: sa.Engine

    def acquire_lease(self, name: str, holder: str, seconds: float, now: datetime | None = None) -> bool:
        """Take or renew the lease ``name`` for ``holder`` for ``seconds``; ``False`` while another holds it.

        Decided in one write transaction (the row locked ``FOR UPDATE``; SQLite has one writer), so two processes
        asking at once never both get it; a first insert that loses the race to another's is a refusal too.
        """
        now = now or datetime.now(timezone.utc)
        until = now + timedelta(seconds=seconds)
        lease = t.leases.c
        try:
            with self.transaction() as conn:
                row = conn.execute(
                    sa.select(lease.holder, lease.expires_at).where(lease.name == name).with_for_update()
                ).first()
                if row is None:
                    conn.execute(t.leases.insert().values(name=name, holder=holder, expires_at=until))
                    return True
                expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=timezone.utc)
                if row.holder != holder and expires > now:
                    return False
                conn.execute(t.leases.update().where(lease.name == name).values(holder=holder, expires_at=until))
                return True
        except sa.exc.IntegrityError:  # another process inserted the first row at the same moment
            return False

    def lease_holder(self, name: str) -> tuple[str, datetime] | None:
        """The holder of the lease ``name`` and when it expires (``None`` when nobody ever took it)."""
        lease = t.leases.c
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(lease.holder, lease.expires_at).where(lease.name == name)).first()
        if row is None:
            return None
        expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=timezone.utc)
        return row.holder, expires

    def shared_secret(self, name: str) -> str:
        """The secret ``name`` every process of the deployment shares, made (random, 256 bits) by the first to ask.

        The session-signing key of a server database: every web worker signs and checks sessions with the same key,
        so a session made by one is valid on the others and after a restart.
        """
        s = t.shared_secrets.c
        with self.engine.connect() as conn:
            found = conn.execute(sa.select(s.value).where(s.name == name)).scalar()
        if found:
            return found
        try:
            with self.transaction() as conn:
                found = conn.execute(sa.select(s.value).where(s.name == name).with_for_update()).scalar()
                if found:
                    return found
                value = secrets.token_hex(32)
                conn.execute(t.shared_secrets.insert().values(name=name, value=value))
                return value
        except sa.exc.IntegrityError:  # another process made it at the same moment: use theirs
            with self.engine.connect() as conn:
                return conn.execute(sa.select(s.value).where(s.name == name)).scalar_one()
