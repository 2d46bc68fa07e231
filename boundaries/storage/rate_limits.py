"""Rate-limit counters in the database, so every web worker of a deployment counts against one quota.

A counter is a fixed window: a name (the limit and the caller, as Flask-Limiter spells it), its hits and the instant
the window ends (seconds since the epoch, UTC; a number, so SQLite compares instants, not strings). A hit is one
statement, ``INSERT … ON CONFLICT (name) DO UPDATE … RETURNING`` (PostgreSQL, and SQLite ≥ 3.35), which adds to the
count — or starts a new window when the stored one has ended — and returns the new count: no read-then-write, so
threads and processes hitting the same name at once never lose an increment. On PostgreSQL it runs on its own,
in autocommit (one round trip; the row is locked only for the statement, as every request of one caller hits
the same row); SQLite runs it in the store's write transaction. Rows of ended windows are deleted
now and then by a hit (at most once per ``prune_every`` seconds per process), and by :meth:`RateCounters.prune`.

The limiter adapter (``web/limits.py``) calls these methods; this module holds the SQL.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from core.storage import tables as t

__all__ = ["RateCounters"]

_c = t.rate_limits.c


def _hit_statement(dialect: str):
    """The one atomic statement of a hit in ``dialect``: count (or restart) the window, return count and end."""
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}.get(dialect)
    if insert is None:
        raise NotImplementedError(f"rate limits in the database need PostgreSQL or SQLite, not {dialect}")
    statement = insert(t.rate_limits).values(
        name=sa.bindparam("name"), hits=sa.bindparam("amount"), expires_at=sa.bindparam("until")
    )
    ended = _c.expires_at <= sa.bindparam("now")
    return statement.on_conflict_do_update(
        index_elements=[_c.name],
        set_={
            "hits": sa.case((ended, statement.excluded.hits), else_=_c.hits + statement.excluded.hits),
            "expires_at": sa.case((ended, statement.excluded.expires_at), else_=_c.expires_at),
        },
    ).returning(_c.hits, _c.expires_at)


class RateCounters:
    """Fixed-window counters over a :class:`~boundaries.storage.store.Store`'s database.

    Parameters
    ----------
    store : Store
        The store (its ``transaction()`` and ``engine``).
    clock : callable, optional
        Seconds since the epoch (default :func:`time.time`); every process of a deployment should agree on it
        (NTP), as they agree on the database.
    prune_every : float or None, optional
        Delete ended windows during a hit at most this often (seconds; ``None``: only :meth:`prune`).
    """

    def __init__(self, store, clock: Callable[[], float] = time.time, prune_every: float | None = 60.0):
        self.store, self.clock, self.prune_every = store, clock, prune_every
        self._hit = _hit_statement(store.engine.dialect.name)
        server = store.engine.dialect.name != "sqlite"
        self._engine = store.engine.execution_options(isolation_level="AUTOCOMMIT") if server else store.engine
        self._pruned_at: float | None = None
        self._lock = threading.Lock()

    def hit(self, name: str, expiry: float, amount: int = 1) -> tuple[int, float]:
        """Add ``amount`` to the window ``name`` (a new window of ``expiry`` seconds if none is running).

        Returns
        -------
        tuple of (int, float)
            The window's count after this hit and the instant it ends (epoch seconds).
        """
        now = self.clock()
        params = {"name": name, "amount": int(amount), "until": now + float(expiry), "now": now}
        with self._writing() as conn:
            hits, ends = conn.execute(self._hit, params).one()
        if self.prune_every is not None and self._due_for_pruning(now):
            self.prune(now)
        return int(hits), float(ends)

    def _writing(self):
        """A connection for one write: autocommit on a server database, the store's write transaction on SQLite."""
        return self._engine.connect() if self._engine is not self.store.engine else self.store.transaction()

    def _due_for_pruning(self, now: float) -> bool:
        with self._lock:
            if self._pruned_at is not None and now - self._pruned_at < self.prune_every:
                return False
            self._pruned_at = now
            return True

    def count(self, name: str) -> int:
        """The hits of the running window ``name`` (0 when none runs)."""
        with self._engine.connect() as conn:
            found = conn.execute(sa.select(_c.hits).where(_c.name == name, _c.expires_at > self.clock())).scalar()
        return int(found or 0)

    def expires_at(self, name: str) -> float | None:
        """When the running window ``name`` ends (epoch seconds); ``None`` when none runs."""
        with self._engine.connect() as conn:
            found = conn.execute(sa.select(_c.expires_at).where(_c.name == name, _c.expires_at > self.clock())).scalar()
        return None if found is None else float(found)

    def clear(self, name: str) -> None:
        """End the window ``name`` (its next hit starts from zero)."""
        with self._writing() as conn:
            conn.execute(sa.delete(t.rate_limits).where(_c.name == name))

    def clear_all(self) -> int:
        """End every window; how many there were."""
        with self._writing() as conn:
            return conn.execute(sa.delete(t.rate_limits)).rowcount

    def prune(self, now: float | None = None) -> int:
        """Delete the rows of ended windows; how many."""
        now = self.clock() if now is None else now
        with self._writing() as conn:
            return conn.execute(sa.delete(t.rate_limits).where(_c.expires_at <= now)).rowcount

    def rows(self) -> int:
        """How many windows are stored (running or ended but not yet pruned)."""
        with self.store.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(t.rate_limits)).scalar_one())

    def ping(self) -> bool:
        """Whether the database answers."""
        with self.store.engine.connect() as conn:
            return conn.execute(sa.select(sa.literal(1))).scalar() == 1
