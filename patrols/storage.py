"""Every SQL statement of patrols, positions and check-ins (SQLAlchemy Core, portable SQLite / PostgreSQL).

Times go in as aware UTC and come back aware UTC (SQLite hands back naive values, read as UTC).
"""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import sqlalchemy as sa

from core.storage import tables as t

__all__ = [
    "utc",
    "position_stamp",
    "assets_revision",
    "patrol_by_client",
    "patrol_by_id",
    "insert_patrol",
    "end_patrol_row",
    "insert_positions",
    "positions",
    "patrol_rows",
    "checkin_by_client",
    "insert_checkin",
    "checkin_rows",
    "purge_positions",
    "users_in",
    "worker_areas",
    "position_count",
]


def utc(value: datetime | None) -> datetime | None:
    """A stored time as aware UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _bind(conn: sa.Connection, value: datetime | None):
    """A time for a comparison in SQL: naive UTC on SQLite (stored as text), aware elsewhere."""
    if value is None:
        return None
    value = value.astimezone(timezone.utc)
    return value.replace(tzinfo=None) if conn.dialect.name == "sqlite" else value


def _patrol(row) -> dict | None:
    if row is None:
        return None
    out = dict(row)
    for key in ("started_at", "ended_at", "created_at"):
        out[key] = utc(out[key])
    return out


def patrol_by_client(conn: sa.Connection, user_id: int, client_id: str) -> dict | None:
    """The patrol a user recorded with ``client_id``, if any."""
    p = t.patrols.c
    return _patrol(
        conn.execute(sa.select(t.patrols).where(p.user_id == user_id, p.client_id == client_id)).mappings().first()
    )


def patrol_by_id(conn: sa.Connection, patrol_id: int) -> dict | None:
    """One patrol row."""
    return _patrol(conn.execute(sa.select(t.patrols).where(t.patrols.c.id == int(patrol_id))).mappings().first())


def insert_patrol(conn: sa.Connection, **values) -> int:
    """Insert a patrol row; its id."""
    return int(conn.execute(t.patrols.insert().values(**values)).inserted_primary_key[0])


def end_patrol_row(conn: sa.Connection, patrol_id: int, ended_at: datetime, summary: dict) -> None:
    """Mark a patrol ended with its summary."""
    conn.execute(t.patrols.update().where(t.patrols.c.id == patrol_id).values(ended_at=ended_at, summary=summary))


def insert_positions(conn: sa.Connection, patrol_id: int, rows: list[dict]) -> int:
    """Insert the positions whose instant the patrol does not hold yet (nor earlier in ``rows``); how many."""
    if not rows:
        return 0
    c = t.patrol_positions.c
    times = [r["t"] for r in rows]
    stored = {
        utc(v)
        for v in conn.execute(
            sa.select(c.t).where(
                c.patrol_id == patrol_id, c.t >= _bind(conn, min(times)), c.t <= _bind(conn, max(times))
            )
        ).scalars()
    }
    fresh, seen = [], set(stored)
    for r in rows:
        if r["t"] not in seen:
            seen.add(r["t"])
            fresh.append({"patrol_id": patrol_id, **r})
    for start in range(0, len(fresh), 1000):
        conn.execute(t.patrol_positions.insert(), fresh[start : start + 1000])
    return len(fresh)


def positions(conn: sa.Connection, patrol_id: int) -> dict[str, np.ndarray]:
    """A patrol's fixes as arrays: ``t`` (seconds since the epoch), ``lon``, ``lat``, ``accuracy`` (nan: none)."""
    c = t.patrol_positions.c
    rows = conn.execute(sa.select(c.t, c.lon, c.lat, c.accuracy).where(c.patrol_id == patrol_id).order_by(c.t)).all()
    return {
        "t": np.array([utc(r[0]).timestamp() for r in rows], float),
        "lon": np.array([r[1] for r in rows], float),
        "lat": np.array([r[2] for r in rows], float),
        "accuracy": np.array([np.nan if r[3] is None else r[3] for r in rows], float),
    }


def patrol_rows(
    conn: sa.Connection,
    user_ids=None,
    since: datetime | None = None,
    until: datetime | None = None,
    ended: bool | None = None,
    limit: int | None = None,
) -> list[dict]:
    """Patrols (newest first) of some users (``None``: everyone's) started in ``[since, until)``."""
    p = t.patrols.c
    statement = sa.select(t.patrols, t.users.c.name.label("worker_name")).join(t.users, t.users.c.id == p.user_id)
    if user_ids is not None:
        statement = statement.where(p.user_id.in_([int(u) for u in user_ids]))
    if since is not None:
        statement = statement.where(p.started_at >= _bind(conn, since))
    if until is not None:
        statement = statement.where(p.started_at < _bind(conn, until))
    if ended is not None:
        statement = statement.where(p.ended_at.is_not(None) if ended else p.ended_at.is_(None))
    statement = statement.order_by(p.started_at.desc(), p.id.desc())
    if limit is not None:
        statement = statement.limit(limit)
    return [_patrol(r) for r in conn.execute(statement).mappings()]


def _checkin(row) -> dict | None:
    if row is None:
        return None
    out = dict(row)
    out["at"], out["created_at"] = utc(out["at"]), utc(out["created_at"])
    return out


def checkin_by_client(conn: sa.Connection, user_id: int, client_id: str) -> dict | None:
    """The check-in a user recorded with ``client_id``, if any."""
    c = t.checkins.c
    return _checkin(
        conn.execute(sa.select(t.checkins).where(c.user_id == user_id, c.client_id == client_id)).mappings().first()
    )


def insert_checkin(conn: sa.Connection, **values) -> int:
    """Insert a check-in row; its id."""
    return int(conn.execute(t.checkins.insert().values(**values)).inserted_primary_key[0])


def checkin_rows(
    conn: sa.Connection, building_ids=None, user_ids=None, since: datetime | None = None, until=None
) -> list[dict]:
    """Check-ins at some buildings and/or by some users in ``[since, until)``."""
    c = t.checkins.c
    statement = sa.select(t.checkins)
    if building_ids is not None:
        statement = statement.where(c.building_id.in_([int(b) for b in building_ids]))
    if user_ids is not None:
        statement = statement.where(c.user_id.in_([int(u) for u in user_ids]))
    if since is not None:
        statement = statement.where(c.at >= _bind(conn, since))
    if until is not None:
        statement = statement.where(c.at < _bind(conn, until))
    return [_checkin(r) for r in conn.execute(statement.order_by(c.at)).mappings()]


def purge_positions(conn: sa.Connection, before: datetime) -> int:
    """Delete every position recorded before ``before``; how many."""
    result = conn.execute(t.patrol_positions.delete().where(t.patrol_positions.c.t < _bind(conn, before)))
    return int(result.rowcount or 0)


def users_in(conn: sa.Connection, codes, role: str | None = "grid_worker") -> dict[int, dict]:
    """Users (of ``role``; ``None``: any) bound to one of the area ``codes`` (``None``: any): id → name, areas."""
    u, a = t.users.c, t.user_areas.c
    statement = sa.select(u.id, u.name, u.display_name, a.area_code).join(t.user_areas, a.user_id == u.id)
    if role is not None:
        statement = statement.where(u.role == role)
    out: dict[int, dict] = {}
    rows = conn.execute(statement).all()
    wanted = None if codes is None else set(codes)
    for user_id, name, display, code in rows:
        entry = out.setdefault(user_id, {"id": user_id, "name": name, "display_name": display, "areas": []})
        entry["areas"].append(code)
    return {k: v for k, v in out.items() if wanted is None or wanted & set(v["areas"])}


def worker_areas(conn: sa.Connection, user_id: int) -> list[str] | None:
    """The areas a user is bound to; ``None`` for an administrator (every area is theirs)."""
    role = conn.execute(sa.select(t.users.c.role).where(t.users.c.id == int(user_id))).scalar()
    if role == "admin":
        return None
    a = t.user_areas.c
    return sorted(conn.execute(sa.select(a.area_code).where(a.user_id == int(user_id))).scalars())


def position_count(conn: sa.Connection, patrol_id: int) -> int:
    """How many positions a patrol holds."""
    c = t.patrol_positions.c
    return int(conn.execute(sa.select(sa.func.count()).where(c.patrol_id == int(patrol_id))).scalar() or 0)


def position_stamp(conn: sa.Connection, patrol_id: int) -> tuple[int, int]:
    """``(count, highest id)`` of a patrol's positions: changes with every batch stored or purged."""
    c = t.patrol_positions.c
    count, last = conn.execute(sa.select(sa.func.count(), sa.func.max(c.id)).where(c.patrol_id == int(patrol_id))).one()
    return int(count or 0), int(last or 0)


def assets_revision(conn: sa.Connection) -> tuple:
    """The revisions of buildings and areas, read in ``conn`` (as :meth:`Store.data_version`)."""
    r = t.revisions.c
    rows = dict(conn.execute(sa.select(r.name, r.value).where(r.name.in_(["assets", "areas"]))).all())
    return rows.get("assets"), rows.get("areas")
