"""Reading issues through a caller's scope: one issue, its history and photos, queue pages, figures.

Visibility is one condition (:func:`visible`): an issue is seen when one of the area codes it was located in
lies among the caller's bound areas (one indexed ``IN`` per level), or, for an intake channel, when the channel
reported it. Filters come as an :class:`IssueFilter` whose times are UTC instants.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

import pandas as pd
import sqlalchemy as sa

from core.scope import Scope
from core.storage import tables as t
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
    "created_span",
    "issue_groups",
    "stage_counts",
    "child_counts",
    "overdue_ids",
]

_LEVEL_COLUMNS = t.LEVEL_CODE_COLUMNS
#: Rows per ``IN (…)`` list when reading by many ids.
_CHUNK = 5000


def visible(scope: Scope):
    """The SQL condition selecting the issues a caller with ``scope`` may see.

    Parameters
    ----------
    scope : core.scope.Scope

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


# -- figures aggregated in SQL (issues.queries.issue_stats) -------------------------------------------------------
def created_span(conn: sa.Connection) -> tuple[datetime | None, datetime | None]:
    """The earliest and latest report time of all issues (two index lookups), ``(None, None)`` without issues."""
    c = t.issues.c
    first = sa.select(sa.func.min(c.created_at)).scalar_subquery()
    last = sa.select(sa.func.max(c.created_at)).scalar_subquery()
    low, high = conn.execute(sa.select(first, last)).one()
    return low, high


def _seconds(conn: sa.Connection, value):
    """Whole seconds since 1970 of a stored time (SQLite: its text without the fraction)."""
    if conn.dialect.name == "sqlite":
        return sa.cast(sa.func.strftime("%s", sa.func.substr(value, 1, 19)), sa.Integer)
    return sa.cast(sa.func.floor(sa.extract("epoch", value)), sa.BigInteger)


def _micros(conn: sa.Connection, value):
    """The microseconds of a stored time's second (SQLite: digits 21–26 of its text, 0 when absent)."""
    if conn.dialect.name == "sqlite":
        return sa.cast(sa.func.substr(value, 21, 6), sa.Integer)
    return sa.cast(sa.extract("microseconds", value), sa.BigInteger) % 1_000_000


def _local_day(conn: sa.Connection, value, shifts: list[tuple[datetime | None, int]]):
    """The date (``YYYY-MM-DD``) of a stored UTC time moved by the zone's offset in force at that time.

    ``shifts`` is ``[(from, seconds), …]`` in time order, the first ``from`` ``None``: the offset (seconds east of
    UTC) from each instant on (see ``issues.queries._zone_shifts``).
    """
    shifts = list(shifts) or [(None, 0)]
    whens = [
        (value < start, f"{seconds:+d} seconds")
        for (_, seconds), (start, _) in zip(shifts[:-1], shifts[1:], strict=True)
    ]
    last = f"{shifts[-1][1]:+d} seconds"
    modifier = sa.case(*whens, else_=last) if whens else sa.literal(last)
    if conn.dialect.name == "sqlite":  # its date functions round to milliseconds: the fraction is dropped first
        return sa.func.date(sa.func.substr(value, 1, 19), modifier)
    wall = sa.func.timezone("UTC", value) + sa.cast(modifier, sa.Interval)
    return sa.func.to_char(wall, "YYYY-MM-DD")


def issue_groups(
    conn: sa.Connection, where: IssueFilter, now: datetime, shifts: list[tuple[datetime | None, int]]
) -> list[dict]:
    """The issues matching ``where`` counted per local report day, category and state, in one pass.

    Parameters
    ----------
    conn : sqlalchemy.Connection
    where : IssueFilter
    now : datetime
        Aware UTC: ``past_due`` counts the issues whose ``due_at`` lies before it (whatever their state).
    shifts : list of (datetime or None, int)
        The zone's offsets from each instant on (``[(None, seconds)]`` for a fixed offset): the report day is
        the date of ``created_at`` plus the offset in force then.

    Returns
    -------
    list of dict
        ``day``, ``category``, ``state``, ``count``, ``past_due``, ``closed_at`` (how many have a closing time)
        and ``closed_us`` (their ``closed_at - created_at`` summed, exact, in microseconds, a Python int).
    """
    c = t.issues.c
    has_closed = c.closed_at.is_not(None)
    rows = sa.select(
        _local_day(conn, c.created_at, shifts).label("day"),
        c.category,
        c.state,
        sa.case((c.due_at < now, 1), else_=0).label("past_due"),
        sa.case((has_closed, 1), else_=0).label("has_closed"),
        sa.case((has_closed, _seconds(conn, c.closed_at) - _seconds(conn, c.created_at)), else_=0).label("s"),
        sa.case((has_closed, _micros(conn, c.closed_at) - _micros(conn, c.created_at)), else_=0).label("us"),
    ).where(where.condition())
    r = rows.subquery()
    grouped = sa.select(
        r.c.day,
        r.c.category,
        r.c.state,
        sa.func.count().label("count"),
        sa.func.sum(r.c.past_due),
        sa.func.sum(r.c.has_closed),
        sa.func.sum(r.c.s),
        sa.func.sum(r.c.us),
    ).group_by(r.c.day, r.c.category, r.c.state)
    out = []
    for day, category, state, count, past_due, closed, secs, micros in conn.execute(grouped).all():
        out.append(
            {
                "day": day,
                "category": category,
                "state": state,
                "count": int(count),
                "past_due": int(past_due or 0),
                "closed_at": int(closed or 0),
                "closed_us": _exact(secs) * 1_000_000 + _exact(micros),
            }
        )
    return out


def _exact(value) -> int:
    """An integral sum as a Python int (PostgreSQL's ``sum`` of ``bigint`` is ``numeric``)."""
    if value is None:
        return 0
    if isinstance(value, Decimal):
        return int(value.to_integral_value())
    return int(value)


def stage_counts(conn: sa.Connection, where: IssueFilter) -> list[tuple[str, int, int]]:
    """Finished stages of the issues matching ``where`` per stage: ``(stage, finished, on_time)``, by stage.

    The same stages as :func:`finished_stages` (a stage counts once, when a step ends it; escalation records are
    not counted), joined to the issues in SQL rather than read per issue.
    """
    e, i = t.issue_events.c, t.issues.c
    statement = (
        sa.select(e.stage, sa.func.count(), sa.func.sum(sa.case((e.on_time, 1), else_=0)))
        .select_from(t.issue_events.join(t.issues, i.id == e.issue_id))
        .where(where.condition(), e.stage.is_not(None), e.on_time.is_not(None), e.action != "escalate")
        .group_by(e.stage)
        .order_by(e.stage)
    )
    return [(stage, int(n), int(on_time or 0)) for stage, n, on_time in conn.execute(statement).all()]


def child_counts(conn: sa.Connection, where: IssueFilter, column: str, now: datetime) -> list[tuple]:
    """The issues matching ``where`` per value of the level code ``column``: ``(code, total, open, overdue)``.

    ``open``: in a state with a running clock; ``overdue``: open and past ``due_at`` at ``now``. Codes come in
    no particular order (``None`` for issues not located at that level).
    """
    c = t.issues.c
    code = getattr(c, column)
    active = c.state.in_(ACTIVE_STATES)
    statement = (
        sa.select(
            code,
            sa.func.count(),
            sa.func.sum(sa.case((active, 1), else_=0)),
            sa.func.sum(sa.case((sa.and_(active, c.due_at < now), 1), else_=0)),
        )
        .where(where.condition())
        .group_by(code)
    )
    return [(value, int(n), int(o or 0), int(late or 0)) for value, n, o, late in conn.execute(statement).all()]


def overdue_ids(conn: sa.Connection, where: IssueFilter, now: datetime, limit: int) -> list[int]:
    """The ``limit`` lowest ids among the issues matching ``where`` that are open and past ``due_at`` at ``now``."""
    c = t.issues.c
    condition = replace(where, overdue=True, now=now).condition()
    return [int(i) for i in conn.execute(sa.select(c.id).where(condition).order_by(c.id).limit(limit)).scalars()]
