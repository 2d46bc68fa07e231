"""Reading issues through a caller's scope: one issue, its history and photos, queue pages, figures.

Visibility is one condition (:func:`visible`): an issue is seen when one of the area codes it was located in
lies among the caller's bound areas (one indexed ``IN`` per level), or, for an intake channel, when the channel
reported it. Filters come as an :class:`IssueFilter` whose times are UTC instants.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd
import sqlalchemy as sa

from boundaries.scope import Scope
from boundaries.storage import tables as t
from issues.workflow import ACTIVE_STATES, OPEN311_STATUS

__all__ = [
    "IssueFilter",
    "visible",
    "visible_issue",
    "issue_events",
    "issue_photo_links",
    "issue_page",
    "issue_frame",
    "last_notes",
    "issue_id_by_token",
    "finished_stages",
    "issue_counts",
]

_LEVEL_COLUMNS = t.LEVEL_CODE_COLUMNS
#: Rows per ``IN (…)`` list when reading by many ids.
_CHUNK = 5000


def visible(scope: Scope):
    """The SQL condition selecting the issues a caller with ``scope`` may see.

    Parameters
    ----------
    scope : boundaries.scope.Scope

    Returns
    -------
    sqlalchemy.ColumnElement
        A condition on the ``issues`` table (for a query of another module, e.g. the OGC API's features).
    """
    c = t.issues.c
    if scope.reporter is not None:
        return c.created_by == scope.reporter
    if scope.unrestricted:
        return sa.true()
    roots = sorted(scope.roots)
    return sa.or_(*[getattr(c, column).in_(roots) for column in _LEVEL_COLUMNS])


@dataclass(frozen=True)
class IssueFilter:
    """Which issues a queue, an export or the figures take (every field optional but ``scope``).

    Parameters
    ----------
    scope : Scope
        The caller's: only issues it may see.
    area : tuple of (str, str), optional
        ``(level, code)``: issues located in that area (none for a level issues do not record).
    since, until : datetime, optional
        Report time from ``since`` (inclusive) to ``until`` (exclusive), aware UTC.
    state : str, optional
        A workflow state, or ``open`` (any state with a running clock).
    category : str, optional
    overdue : bool, optional
        Open and past ``due_at`` at ``now`` (``False``: the others).
    now : datetime, optional
        The instant ``overdue`` is judged at.
    unlocated : bool, optional
        Without a micro-grid (``False``: with one).
    ids : tuple of int, optional
    status : str, optional
        Open311's ``open`` / ``closed``.
    """

    scope: Scope
    area: tuple[str, str] | None = None
    since: datetime | None = None
    until: datetime | None = None
    state: str | None = None
    category: str | None = None
    overdue: bool | None = None
    now: datetime | None = None
    unlocated: bool | None = None
    ids: tuple[int, ...] | None = None
    status: str | None = None

    def condition(self):
        """The SQL condition of the filter."""
        c = t.issues.c
        conditions = [visible(self.scope)]
        if self.area is not None:
            level, code = self.area
            column = f"{level}_code"
            conditions.append(getattr(c, column) == code if column in _LEVEL_COLUMNS else sa.false())
        if self.since is not None:
            conditions.append(c.created_at >= self.since)
        if self.until is not None:
            conditions.append(c.created_at < self.until)
        if self.state is not None:
            conditions.append(c.state.in_(ACTIVE_STATES) if self.state == "open" else c.state == self.state)
        if self.category is not None:
            conditions.append(c.category == self.category)
        if self.overdue is not None:
            late = sa.and_(c.state.in_(ACTIVE_STATES), c.due_at < self.now)
            conditions.append(late if self.overdue else sa.not_(late))
        if self.unlocated is not None:
            conditions.append(c.micro_grid_code.is_(None) if self.unlocated else c.micro_grid_code.is_not(None))
        if self.ids is not None:
            conditions.append(c.id.in_([int(i) for i in self.ids]))
        if self.status is not None:
            closed = c.state.in_([s for s, v in OPEN311_STATUS.items() if v == "closed"])
            conditions.append(closed if self.status == "closed" else sa.not_(closed))
        return sa.and_(*conditions)


def visible_issue(conn: sa.Connection, scope: Scope, issue_id: int) -> dict | None:
    """The stored row of one issue a caller with ``scope`` may see, else ``None`` (unknown or out of scope)."""
    statement = sa.select(t.issues).where(t.issues.c.id == int(issue_id), visible(scope))
    row = conn.execute(statement).mappings().first()
    return None if row is None else dict(row)


def issue_events(conn: sa.Connection, issue_id: int) -> list[dict]:
    """Every history event of an issue, oldest first."""
    e = t.issue_events.c
    return [
        dict(r) for r in conn.execute(sa.select(t.issue_events).where(e.issue_id == issue_id).order_by(e.id)).mappings()
    ]


def issue_photo_links(conn: sa.Connection, issue_id: int) -> list[tuple[str, int | None]]:
    """The photos of an issue as ``(sha256, event_id)`` pairs."""
    p = t.issue_photos.c
    return [tuple(r) for r in conn.execute(sa.select(p.sha256, p.event_id).where(p.issue_id == issue_id)).all()]


def issue_page(conn: sa.Connection, where: IssueFilter, limit: int, offset: int) -> tuple[list[dict], int]:
    """One page of the issues matching ``where``, newest first, and how many match in all."""
    c, condition = t.issues.c, where.condition()
    total = conn.execute(sa.select(sa.func.count()).select_from(t.issues).where(condition)).scalar_one()
    rows = conn.execute(sa.select(t.issues).where(condition).order_by(c.id.desc()).limit(limit).offset(offset))
    return [dict(r) for r in rows.mappings()], int(total)


def issue_frame(conn: sa.Connection, where: IssueFilter) -> pd.DataFrame:
    """The issues matching ``where`` as a table for figures.

    Returns
    -------
    pandas.DataFrame
        ``id``, ``category``, ``state``, ``level``, ``created_at``, ``closed_at``, ``due_at`` and the code
        of every level the issue was located in.
    """
    c = t.issues.c
    columns = [c.id, c.category, c.state, c.level, c.created_at, c.closed_at, c.due_at]
    columns += [getattr(c, n) for n in _LEVEL_COLUMNS]
    rows = conn.execute(sa.select(*columns).where(where.condition())).mappings().all()
    return pd.DataFrame(rows, columns=[col.name for col in columns])


def last_notes(conn: sa.Connection, ids) -> dict[int, str]:
    """The latest non-empty step note of each of the issues ``ids`` (those with one)."""
    e = t.issue_events.c
    ids = [int(i) for i in ids]
    out: dict[int, str] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        rows = conn.execute(sa.select(e.issue_id, e.note).where(e.issue_id.in_(chunk), e.note != "").order_by(e.id))
        out.update(dict(rows.all()))
    return out


def issue_id_by_token(conn: sa.Connection, token: str) -> int | None:
    """The id of the issue with an Open311 token (whoever may see it), or ``None``."""
    found = conn.execute(sa.select(t.issues.c.id).where(t.issues.c.token == str(token))).scalar()
    return None if found is None else int(found)


def finished_stages(conn: sa.Connection, ids) -> list[tuple[int, str, bool]]:
    """Every finished stage of the issues ``ids`` as ``(issue_id, stage, on_time)``.

    A stage counts once, when a step ends it: the records escalations leave on the way are not counted.
    """
    e = t.issue_events.c
    ids = [int(i) for i in ids]
    rows = []
    for start in range(0, len(ids), _CHUNK):
        rows += conn.execute(
            sa.select(e.issue_id, e.stage, e.on_time).where(
                e.issue_id.in_(ids[start : start + _CHUNK]),
                e.stage.is_not(None),
                e.on_time.is_not(None),
                e.action != "escalate",
            )
        ).all()
    return [tuple(r) for r in rows]


def issue_counts(conn: sa.Connection, scope: Scope, generation: int, level: str, codes) -> tuple[int, int]:
    """Issues located in ``generation`` in the ``level`` areas ``codes`` that ``scope`` may see: (all, open)."""
    column = f"{level}_code"
    if not codes or column not in _LEVEL_COLUMNS:
        return 0, 0
    c = t.issues.c
    where = sa.and_(visible(scope), c.generation == generation, getattr(c, column).in_(list(codes)))
    active = sa.func.sum(sa.case((c.state.in_(ACTIVE_STATES), 1), else_=0))
    total, open_ = conn.execute(sa.select(sa.func.count(), active).where(where)).one()
    return int(total or 0), int(open_ or 0)
