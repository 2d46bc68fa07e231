"""Reading issues, always through the caller's scope: one issue with its history, queues and statistics.

An issue is visible when one of the area codes it was located in lies among the caller's bound areas (the
codes are stored per level, so this is one indexed ``IN`` per level rather than a walk of the subtree); an
intake channel (``Scope.reporter``) sees only what it reported.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from boundaries.levels import child_level
from boundaries.scope import ScopedRegistry
from core.errors import NotFoundError
from core.scope import mask_phone
from core.storage.tables import LEVEL_CODE_COLUMNS
from issues import storage as st
from issues.locating import location_note
from issues.storage import queries as sq
from issues.workflow import ACTIVE_STATES, OPEN311_STATUS, STATE_NAMES_ZH, STATES
from issues.worktime import to_utc

if TYPE_CHECKING:
    import sqlalchemy as sa

__all__ = [
    "visible",
    "issue_row",
    "get_issue",
    "issue_answer",
    "is_visible",
    "list_issues",
    "issue_stats",
    "photo",
    "issue_id_for_token",
    "last_notes",
    "NO_SUCH_ISSUE",
]

#: The answer for an issue id that does not exist *or* lies outside the caller's areas: the same for both, so
#: callers cannot learn which ids exist elsewhere.
NO_SUCH_ISSUE = "事件不存在或不在您的辖区内 no such issue in your areas"

_LEVEL_COLUMNS = LEVEL_CODE_COLUMNS


def _utc(value):
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).isoformat()


def visible(view: ScopedRegistry):
    """The SQL condition selecting the issues the caller may see (built by :func:`issues.storage.visible`)."""
    return st.visible(view.scope)


def _area(view: ScopedRegistry, area: str | None) -> tuple[str, str] | None:
    """``(level, code)`` of an area the caller may see (404 / 403 for unknown or foreign areas)."""
    if area is None:
        return None
    return view.area(area)["level"], area


def issue_row(view: ScopedRegistry, issue_id: int, conn: sa.Connection | None = None) -> dict:
    """The stored row of one issue the caller may see (read in ``conn`` when given).

    An unknown id and an issue outside the caller's areas both raise the same :class:`NotFoundError`
    (:data:`NO_SUCH_ISSUE`), so the answer never tells which ids exist.
    """
    if conn is not None:
        row = st.visible_issue(conn, view.scope, issue_id)
    else:
        with view.registry.store.engine.connect() as own:
            row = st.visible_issue(own, view.scope, issue_id)
    if row is None:
        raise NotFoundError(NO_SUCH_ISSUE)
    return row


def _public(view: ScopedRegistry, row: dict, now: datetime | None = None) -> dict:
    out = {k: v for k, v in row.items() if k not in ("token",)}
    for key in ("created_at", "updated_at", "stage_started_at", "due_at", "closed_at"):
        out[key] = _utc(row[key])
    if not view.scope.full_phones:
        out["reporter_phone"] = mask_phone(row["reporter_phone"])
    due = row["due_at"]
    now = now or datetime.now(timezone.utc)
    due = due if due is None or due.tzinfo else due.replace(tzinfo=timezone.utc)
    out["overdue"] = bool(row["state"] in ACTIVE_STATES and due is not None and due < now)
    out["state_zh"] = STATE_NAMES_ZH[row["state"]]
    out["status"] = OPEN311_STATUS[row["state"]]
    out["unlocated"] = row["micro_grid_code"] is None
    if out["unlocated"]:
        out.update(location_note(view.registry, row))
    return out


def is_visible(view: ScopedRegistry, row: dict) -> bool:
    """Whether the caller may see an issue row: :func:`visible` evaluated in Python (for a row just written)."""
    scope = view.scope
    if scope.reporter is not None:
        return row["created_by"] == scope.reporter
    return scope.unrestricted or any(row[column] in scope.roots for column in _LEVEL_COLUMNS)


def get_issue(view: ScopedRegistry, issue_id: int, now: datetime | None = None) -> dict:
    """One issue with its history (every step: who, when, note, stage on time or not) and photo hashes."""
    with view.registry.store.engine.connect() as conn:  # one connection, one snapshot for the three reads
        row = issue_row(view, issue_id, conn)
        events = st.issue_events(conn, row["id"])
        shots = st.issue_photo_links(conn, row["id"])
    return issue_answer(view, row, events, shots, now)


def issue_answer(view: ScopedRegistry, row: dict, events: list[dict], shots, now: datetime | None = None) -> dict:
    """:func:`get_issue`'s answer from the stored rows: the issue, its events and ``(sha256, event_id)`` pairs."""
    for event in events:
        event["at"], event["stage_due_at"] = _utc(event["at"]), _utc(event["stage_due_at"])
        event["photos"] = [sha for sha, event_id in shots if event_id == event["id"]]
    out = _public(view, row, now)
    out["history"] = events
    out["photos"] = [sha for sha, _ in shots]
    out["token"] = row["token"]
    return out


def list_issues(
    view: ScopedRegistry,
    state: str | None = None,
    area: str | None = None,
    category: str | None = None,
    overdue: bool | None = None,
    unlocated: bool | None = None,
    page: int = 1,
    per_page: int = 50,
    now: datetime | None = None,
    ids=None,
    since: datetime | None = None,
    until: datetime | None = None,
    status: str | None = None,
    tz: str = "Asia/Shanghai",
) -> tuple[list[dict], int]:
    """A queue page (newest first) and the total matching the filters.

    ``state`` is a workflow state or ``open`` (any state with a running clock); ``status`` is Open311's
    ``open`` / ``closed``; ``since`` (inclusive) / ``until`` (exclusive) bound the report time as instants
    (naive values are read in ``tz``, the deployment's zone); ``ids`` picks issues by id.
    """
    now = now or datetime.now(timezone.utc)
    where = st.IssueFilter(
        view.scope,
        _area(view, area),
        *_window(since, until, tz),
        state=state,
        category=category,
        overdue=overdue,
        now=now,
        unlocated=unlocated,
        ids=None if ids is None else tuple(int(i) for i in ids),
        status=status,
    )
    with view.registry.store.engine.connect() as conn:
        rows, total = st.issue_page(conn, where, per_page, (page - 1) * per_page)
        return [_public(view, r, now) for r in rows], total


def last_notes(view: ScopedRegistry, ids) -> dict[int, str]:
    """The latest non-empty step note of each of the given (visible) issues."""
    with view.registry.store.engine.connect() as conn:
        return st.last_notes(conn, ids)


def issue_id_for_token(view: ScopedRegistry, token: str) -> int:
    """The id of the visible issue with an Open311 token."""
    with view.registry.store.engine.connect() as conn:
        found = st.issue_id_by_token(conn, token)
    if found is None:
        raise NotFoundError(NO_SUCH_ISSUE)
    issue_row(view, found)  # out of scope: the same answer
    return found


def photo(view: ScopedRegistry, issue_id: int, sha256: str) -> tuple[str, bytes]:
    """Content type and bytes of a photo of an issue the caller may see."""
    issue_row(view, issue_id)
    with view.registry.store.engine.connect() as conn:
        found = st.photo_data(conn, issue_id, sha256)
    if found is None:
        raise NotFoundError("照片不存在 no such photo on this issue")
    return found


def _window(since, until, tz) -> tuple:
    """The bounds of the report time as UTC instants (naive values read in ``tz``), compared with stored UTC."""
    return to_utc(since, tz, "since"), to_utc(until, tz, "until")


#: Pandas period of each ``period`` of :func:`issue_stats`: weeks run Monday to Sunday (ending on Sunday).
_PERIODS = {"day": "D", "week": "W-SUN", "month": "M"}
#: How many overdue issue ids :func:`issue_stats` lists.
_OVERDUE_IDS = 200


def _instant(now) -> datetime:
    """``now`` as aware UTC (a naive value is UTC, as stored), compared with stored times in SQL."""
    now = now or datetime.now(timezone.utc)
    return now.replace(tzinfo=timezone.utc) if now.tzinfo is None else now.astimezone(timezone.utc)


def _offset(tz: str, instant: pd.Timestamp) -> int:
    """Seconds east of UTC that ``tz`` is at ``instant`` (pandas' own zone rules, as its ``tz_convert``)."""
    return int(instant.tz_convert(tz).utcoffset().total_seconds())


def _zone_shifts(tz: str, low, high) -> list[tuple[datetime | None, int]]:
    """The offsets of zone ``tz`` between the instants ``low`` and ``high``: ``[(from, seconds), …]``.

    The first ``from`` is ``None`` (the offset before the first change in the span); each change is found to the
    second between daily probes (a zone changes its offset at most once a day). Outside ``[low, high]`` the
    nearest offset holds, so the caller passes the span of every stored report time.
    """
    if low is None or high is None:
        return [(None, _offset(tz, pd.Timestamp.now(tz="UTC")))]
    low, high = (pd.Timestamp(v).tz_localize("UTC") if v.tzinfo is None else pd.Timestamp(v) for v in (low, high))
    probes = pd.date_range(low.floor("D") - pd.Timedelta(days=1), high.ceil("D") + pd.Timedelta(days=1), freq="D")
    offsets = (probes.tz_convert(tz).tz_localize(None) - probes.tz_localize(None)).total_seconds().astype(int)
    out: list[tuple[datetime | None, int]] = [(None, int(offsets[0]))]
    one = pd.Timedelta(seconds=1)
    for i in np.flatnonzero(np.diff(offsets)):
        before, after = probes[i], probes[i + 1]  # offsets[i] at before, another at after
        while after - before > one:
            middle = (before + (after - before) / 2).floor("s")
            before, after = (middle, after) if _offset(tz, middle) == offsets[i] else (before, middle)
        out.append((after.to_pydatetime(), int(offsets[i + 1])))
    return out


def issue_stats(
    view: ScopedRegistry,
    area=None,
    since=None,
    until=None,
    period: str = "month",
    now=None,
    tz="Asia/Shanghai",
    category: str | None = None,
) -> dict:
    """Figures for an area (default: all the caller sees) and the areas one level below it.

    Open issues by state, overdue count and list (the lowest 200 ids), on-time rate per stage (from the workflow
    history: each stage counted once, when it ends), mean hours to close, and counts by category per ``period``
    (``day``, ``week`` or ``month`` in ``tz``). ``since`` / ``until`` are instants; naive values are read in
    ``tz``; ``category`` limits every figure to one category.

    The database does the counting: the issues are grouped per report day in ``tz``, category and state in one
    pass (and per child area, and per finished stage through a join), so the answer costs a few thousand rows
    whatever the number of issues; the days are gathered into periods here.
    """
    now = _instant(now)
    where = st.IssueFilter(view.scope, _area(view, area), *_window(since, until, tz), category=category)
    freq = _PERIODS[period]
    column = _child_column(view, area)
    with view.registry.store.engine.connect() as conn:
        shifts = _zone_shifts(tz, *sq.created_span(conn))
        groups = pd.DataFrame(
            sq.issue_groups(conn, where, now, shifts),
            columns=["day", "category", "state", "count", "past_due", "closed_at", "closed_us"],
        )
        stages = sq.stage_counts(conn, where)
        late_ids = sq.overdue_ids(conn, where, now, _OVERDUE_IDS)
        children = sq.child_counts(conn, where, column, now) if column else []
    per_state = groups.groupby("state")[["count", "past_due"]].sum()
    counts = {s: int(per_state.at[s, "count"]) for s in STATES if s in per_state.index}
    active = [s for s in ACTIVE_STATES if s in counts]
    closed = groups[groups["state"] == "closed"]
    n_closed = int(closed["closed_at"].sum())
    closed_us = sum(int(v) for v in closed["closed_us"])
    return {
        "area": area,
        "total": int(groups["count"].sum()),
        "open_by_state": {s: counts[s] for s in sorted(active, key=lambda s: -counts[s])},
        "by_state": counts,
        "overdue": int(per_state.loc[active, "past_due"].sum()),
        "overdue_ids": late_ids,
        "closed": n_closed,
        "mean_hours_to_close": round(closed_us / (3_600_000_000 * n_closed), 2) if n_closed else None,
        "by_category_over_time": _by_period(groups, freq),
        "on_time_by_stage": {
            stage: {"finished": n, "on_time": on_time, "rate": round(on_time / n, 4)} for stage, n, on_time in stages
        },
        "by_child_area": [
            {"code": code, "total": n, "open": open_, "overdue": late}
            for code, n, open_, late in sorted(children, key=lambda r: (r[0] is None, r[0] or ""))
        ],
    }


def _by_period(groups: pd.DataFrame, freq: str) -> list[dict]:
    """Counts per period (pandas' text of the period, e.g. ``2026-11`` or ``2026-11-16/2026-11-22``) and category."""
    if groups.empty:
        return []
    periods = pd.to_datetime(groups["day"], format="%Y-%m-%d").dt.to_period(freq).astype(str)
    by_period = groups.assign(period=periods).groupby(["period", "category"])["count"].sum()
    return [{"period": p, "category": cat, "count": int(n)} for (p, cat), n in by_period.items()]


def _child_column(view: ScopedRegistry, area) -> str | None:
    """The issues' code column of the level below ``area`` (``None``: no area, or no such column)."""
    if area is None:
        return None
    below = child_level(view.area(area)["level"])
    column = f"{below}_code" if below else None
    return column if column in _LEVEL_COLUMNS else None
