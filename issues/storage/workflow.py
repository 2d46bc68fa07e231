"""Writing issues: intake, workflow steps, assignment and escalation, with their history events.

Intake's statements are module constants (compiled once, cached by SQLAlchemy); the issue and its first event
are read back by ``RETURNING`` in the write itself, so a report needs no read after its transaction. Every
change is guarded by the state it was decided on (:func:`update_issue`): a step taken meanwhile by someone
else makes it change nothing, and the caller reports the conflict.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from core.storage import tables as t
from issues.workflow import ACTIVE_STATES, LADDER

__all__ = [
    "insert_issue",
    "insert_event",
    "issue_id_by_external_id",
    "issue_by_id",
    "report_photos",
    "update_issue",
    "first_escalation_due",
    "overdue_issues",
]

_INSERT_ISSUE = t.issues.insert().returning(*t.issues.c)
_INSERT_EVENT = t.issue_events.insert()
_INSERT_EVENT_RETURNING = t.issue_events.insert().returning(*t.issue_events.c)


def insert_issue(conn: sa.Connection, values: dict) -> dict:
    """Insert an issue; the stored row (read back by ``RETURNING``, in the same round trip)."""
    return dict(conn.execute(_INSERT_ISSUE, values).mappings().one())


def insert_event(conn: sa.Connection, values: dict, returning: bool = False):
    """Insert one history event; its id, or with ``returning`` the stored row (read back by ``RETURNING``)."""
    if returning:
        return dict(conn.execute(_INSERT_EVENT_RETURNING, values).mappings().one())
    return conn.execute(_INSERT_EVENT, values).inserted_primary_key[0]


def issue_id_by_external_id(conn: sa.Connection, channel: str, created_by: int | None, external_id: str):
    """The id of the issue a channel's user (or ``None``: the system) reported with ``external_id``, or ``None``."""
    c = t.issues.c
    return conn.execute(
        sa.select(c.id).where(c.channel == channel, c.created_by == created_by, c.external_id == external_id)
    ).scalar()


def issue_by_id(conn: sa.Connection, issue_id: int) -> dict:
    """The stored row of an issue known to exist (whoever may see it)."""
    return dict(conn.execute(sa.select(t.issues).where(t.issues.c.id == issue_id)).mappings().one())


def report_photos(conn: sa.Connection, issue_id: int) -> list[str]:
    """The hashes of the photos sent with an issue's report (its ``report`` event)."""
    p, e = t.issue_photos.c, t.issue_events.c
    return list(
        conn.execute(
            sa.select(p.sha256)
            .join(t.issue_events, e.id == p.event_id)
            .where(p.issue_id == issue_id, e.action == "report")
        ).scalars()
    )


def update_issue(
    conn: sa.Connection, issue_id: int, expected: dict, values: dict, due_before: datetime | None = None
) -> bool:
    """Set ``values`` on an issue if it still holds ``expected``; whether it did (one row changed).

    Parameters
    ----------
    conn : sqlalchemy.Connection
        In the caller's write transaction.
    issue_id : int
    expected : dict
        Column → the value the change was decided on (``state``, ``level``).
    values : dict
        Column → new value.
    due_before : datetime, optional
        Only if the issue's ``due_at`` lies before this instant (scheduled escalation).
    """
    c = t.issues.c
    condition = [c.id == issue_id, *[getattr(c, k) == v for k, v in expected.items()]]
    if due_before is not None:
        condition.append(c.due_at < due_before)
    return conn.execute(t.issues.update().where(*condition).values(**values)).rowcount == 1


def first_escalation_due(conn: sa.Connection, issue_id: int, state: str, within_stage) -> datetime | None:
    """The ``stage_due_at`` the first escalation of an issue's current stage recorded, or ``None``.

    The current stage began with the issue's latest event whose action is not among ``within_stage``.
    """
    e = t.issue_events.c
    started = (
        sa.select(sa.func.coalesce(sa.func.max(e.id), 0))
        .where(e.issue_id == issue_id, e.action.not_in(within_stage))
        .scalar_subquery()
    )
    first = conn.execute(
        sa.select(e.stage_due_at)
        .where(e.issue_id == issue_id, e.action == "escalate", e.stage == state, e.id > started)
        .order_by(e.id)
        .limit(1)
    ).first()
    return first.stage_due_at if first is not None else None


def _late_before_import(import_action: str):
    """SQL: the issue's stage deadline passed before it was imported (history, not to be escalated).

    Issues imported before imports marked their entry have no history at all: they count as history too until
    someone takes a step on them.
    """
    c, e = t.issues.c, t.issue_events.c
    marked_late = sa.exists().where(e.issue_id == c.id, e.action == import_action, e.at > c.due_at)
    unmarked = sa.and_(c.channel == "import", ~sa.exists().where(e.issue_id == c.id))
    return sa.or_(marked_late, unmarked)


def overdue_issues(conn: sa.Connection, now: datetime, limit: int, import_action: str) -> list[dict]:
    """Open issues below the ladder's top whose deadline passed by ``now``, most overdue first.

    Parameters
    ----------
    conn : sqlalchemy.Connection
    now : datetime
    limit : int
        At most this many.
    import_action : str
        The history action marking an imported issue's entry: stages already late then are left out.
    """
    c = t.issues.c
    statement = (
        sa.select(t.issues)
        .where(c.state.in_(ACTIVE_STATES), c.due_at < now, c.level != LADDER[-1], ~_late_before_import(import_action))
        .order_by(c.due_at)
        .limit(limit)
    )
    return [dict(r) for r in conn.execute(statement).mappings()]
