"""``issue_stats`` counts in SQL and answers exactly as the pandas implementation over every issue did.

The reference below is the previous implementation (every matching issue read into pandas, the finished stages
read by id), kept verbatim but for one point: it lists the 200 *lowest* overdue ids, the order the new function
documents (the old one took the first 200 its scan met, the same ids on a scan in id order). Both run on the demo
issues (the desk's own workflow history) and on a generated set of several thousand issues in every state, with
unlocated issues, stage records (escalations among them), report times at local midnights and at a DST change,
for several callers (admin, a community's staff, a grid worker, an intake channel), filters, periods and zones;
on SQLite and, where a private PostgreSQL server can start, on PostgreSQL.
"""

from __future__ import annotations

import contextlib
import itertools
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
import shapely
import sqlalchemy as sa
from sqlalchemy.engine import cursor as sa_cursor

from boundaries.demo import load_demo
from boundaries.levels import child_level
from boundaries.registry import Registry
from boundaries.scope import ScopedRegistry
from boundaries.storage import open_store
from core.audit import Actor
from core.scope import Scope
from issues import storage as st
from issues.demo import load_demo_issues
from issues.desk import IssueDesk
from issues.queries import _area, _window, _zone_shifts, issue_stats
from issues.workflow import ACTIVE_STATES, STATES
from tests.conftest import copy_demo

COMMUNITY = "510104001001"
WORKER_GRID = "510104001001001"
NOW = datetime(2026, 3, 1, 4, 0, tzinfo=timezone.utc)
ACTOR = Actor(None, "test", "")
LEVELS = ("micro_grid", "grid", "community", "street", "district")


# -- the previous implementation (reference) -----------------------------------------------------------------------
def reference_stats(
    view, area=None, since=None, until=None, period="month", now=None, tz="Asia/Shanghai", category=None
) -> dict:
    """The previous ``issue_stats``: every matching issue in pandas (overdue ids: the 200 lowest)."""
    now = now or datetime.now(timezone.utc)
    where = st.IssueFilter(view.scope, _area(view, area), *_window(since, until, tz), category=category)
    with view.registry.store.engine.connect() as conn:
        frame = st.issue_frame(conn, where)
    due = pd.to_datetime(frame["due_at"], utc=True)
    active = frame["state"].isin(ACTIVE_STATES)
    late = active & due.notna() & (due < pd.Timestamp(now))
    closed = frame[frame["closed_at"].notna() & (frame["state"] == "closed")]
    hours = (
        pd.to_datetime(closed["closed_at"], utc=True) - pd.to_datetime(closed["created_at"], utc=True)
    ).dt.total_seconds() / 3600
    freq = {"day": "D", "week": "W-SUN", "month": "M"}[period]
    created = pd.to_datetime(frame["created_at"], utc=True).dt.tz_convert(tz).dt.tz_localize(None)
    by_period = frame.assign(period=created.dt.to_period(freq).astype(str)).groupby(["period", "category"]).size()
    return {
        "area": area,
        "total": int(len(frame)),
        "open_by_state": {s: int(n) for s, n in frame.loc[active, "state"].value_counts().items()},
        "by_state": {s: int((frame["state"] == s).sum()) for s in STATES if (frame["state"] == s).any()},
        "overdue": int(late.sum()),
        "overdue_ids": sorted(int(i) for i in frame.loc[late, "id"])[:200],
        "closed": int(len(closed)),
        "mean_hours_to_close": None if closed.empty else round(float(hours.mean()), 2),
        "by_category_over_time": [{"period": p, "category": cat, "count": int(n)} for (p, cat), n in by_period.items()],
        "on_time_by_stage": _reference_on_time(view, frame["id"].tolist()),
        "by_child_area": _reference_children(view, area, frame, late),
    }


def _reference_on_time(view, ids) -> dict:
    if not ids:
        return {}
    with view.registry.store.engine.connect() as conn:
        rows = st.finished_stages(conn, ids)
    table = pd.DataFrame([(stage, on_time) for _, stage, on_time in rows], columns=["stage", "on_time"])
    return {
        stage: {
            "finished": int(len(g)),
            "on_time": int(g["on_time"].sum()),
            "rate": round(float(g["on_time"].mean()), 4),
        }
        for stage, g in table.groupby("stage")
    }


def _reference_children(view, area, frame, late) -> list[dict]:
    if area is None:
        return []
    below = child_level(view.area(area)["level"])
    column = f"{below}_code" if below else None
    if column not in frame.columns:
        return []
    grouped = frame.assign(late=late, open=frame["state"].isin(ACTIVE_STATES)).groupby(column, dropna=False)
    return [
        {
            "code": code if isinstance(code, str) else None,
            "total": int(len(g)),
            "open": int(g["open"].sum()),
            "overdue": int(g["late"].sum()),
        }
        for code, g in grouped
    ]


# -- data ------------------------------------------------------------------------------------------------------------
def generated_issues(registry: Registry, n: int, seed: int = 13, first_id: int = 100_000):
    """``n`` issues in every state over two years (and their stage records) as the tables' rows.

    Report times have microseconds; some fall a microsecond either side of a local midnight in Asia/Shanghai or
    of Europe/Berlin's DST changes; one in twenty issues is unlocated, a few are located in the street only;
    deadlines lie either side of :data:`NOW`.
    """
    rng = np.random.default_rng(seed)
    micro = registry.areas(level="micro_grid")
    chains = registry.ancestors()
    points = shapely.point_on_surface(micro.geometry.values)
    pick = rng.integers(0, len(micro), n)
    start = datetime(2024, 3, 1, tzinfo=timezone.utc)
    created = [start + timedelta(microseconds=int(v)) for v in rng.integers(0, 2 * 365 * 86_400 * 10**6, n)]
    edges = [
        datetime(2025, 3, 30, 1, tzinfo=timezone.utc),
        datetime(2025, 10, 26, 1, tzinfo=timezone.utc),
        datetime(2025, 5, 31, 16, tzinfo=timezone.utc),
        datetime(2025, 6, 30, 16, tzinfo=timezone.utc),
        datetime(2025, 12, 31, 16, tzinfo=timezone.utc),
        datetime(2025, 3, 29, 23, tzinfo=timezone.utc),
    ]
    for k, edge in enumerate(edges):
        created[2 * k], created[2 * k + 1] = edge - timedelta(microseconds=1), edge
    states = rng.choice(STATES, n, p=[0.08, 0.06, 0.05, 0.06, 0.07, 0.05, 0.5, 0.08, 0.05])
    rows = []
    for i in range(n):
        chain = chains[micro["code"].iloc[pick[i]]] if i % 20 else {}
        if i % 37 == 1:  # located in the street only (no code below it)
            chain = {k: v for k, v in chain.items() if k in ("street", "district")}
        state = str(states[i])
        due = created[i] + timedelta(hours=float(rng.uniform(1, 900))) if rng.random() < 0.85 else None
        closing = created[i] + timedelta(microseconds=int(rng.integers(1, 40 * 86_400 * 10**6)))
        closed_at = closing if (state == "closed" and rng.random() < 0.95) or rng.random() < 0.05 else None
        p = points[pick[i]]
        rows.append(
            {
                "id": first_id + i,
                "external_id": f"gen{first_id + i}",
                "channel": "import",
                "token": f"gen-{first_id + i}",
                "category": str(rng.choice(["exposed_rubbish", "dispute", "road_cleaning", "gas_hazard"])),
                "lon": p.x,
                "lat": p.y,
                "lon_reported": p.x,
                "lat_reported": p.y,
                "location_status": "ok" if chain else "outside",
                "level": "grid",
                "state": state,
                "created_by": [None, 1, 2, 3][i % 4],
                "created_at": created[i],
                "updated_at": created[i],
                "stage_started_at": created[i],
                "due_at": due,
                "closed_at": closed_at,
                **{f"{level}_code": chain.get(level) for level in LEVELS},
            }
        )
    events = []
    actions = ["report", "accept", "file", "dispatch", "start", "check", "close", "escalate", "import"]
    for row in rows:
        for _ in range(int(rng.integers(0, 5))):
            on_time = [True, False, None][int(rng.integers(0, 3))]
            events.append(
                {
                    "issue_id": row["id"],
                    "at": row["created_at"],
                    "user_name": "gen",
                    "action": str(rng.choice(actions)),
                    "stage": str(rng.choice(STATES[:6])) if rng.random() < 0.9 else None,
                    "on_time": on_time,
                }
            )
    return pd.DataFrame(rows).astype({"created_by": "Int64"}), pd.DataFrame(events)


def add_issues(registry: Registry, issues: pd.DataFrame, events: pd.DataFrame) -> None:
    """Write generated rows through the bulk import's storage functions."""
    with registry.store.engine.begin() as conn:
        st.insert_issue_rows(registry.store, conn, issues)
        st.insert_event_rows(registry.store, conn, events)


def callers(registry: Registry, street: str, micro: str) -> list[tuple[Scope, list]]:
    """``(scope, areas)``: admin, a community's staff, a grid worker, an intake channel, with areas each may see."""
    return [
        (Scope.everything(), [None, street, COMMUNITY, WORKER_GRID, micro]),
        (Scope(frozenset({COMMUNITY})), [None, COMMUNITY, WORKER_GRID]),
        (Scope(frozenset({WORKER_GRID})), [None, WORKER_GRID]),
        (Scope(None, reporter=2), [None]),
    ]


#: ``(since, until, category, period, tz)``: naive bounds are read in ``tz``.
VARIATIONS = [
    (None, None, None, "month", "Asia/Shanghai"),
    (None, None, None, "day", "Asia/Shanghai"),
    (None, None, None, "week", "Europe/Berlin"),
    (None, None, "dispute", "week", "Asia/Shanghai"),
    (datetime(2025, 1, 1), datetime(2025, 7, 1), None, "day", "Europe/Berlin"),
    (datetime(2024, 6, 1, tzinfo=timezone.utc), None, "exposed_rubbish", "month", "Asia/Kolkata"),
    (None, datetime(2025, 10, 26, 3), None, "day", "America/New_York"),
    (datetime(2030, 1, 1), None, None, "month", "Asia/Shanghai"),  # nothing matches
]


def assert_same(view: ScopedRegistry, areas: list, variations=VARIATIONS) -> int:
    """Every area × variation: the new answer equals the reference's; how many answers had issues."""
    seen = 0
    for area, (since, until, category, period, tz) in itertools.product(areas, variations):
        args = {"area": area, "since": since, "until": until, "category": category, "period": period, "tz": tz}
        new = issue_stats(view, now=NOW, **args)
        assert new == reference_stats(view, now=NOW, **args), (view.scope, args)
        seen += new["total"] > 0
    return seen


# -- fixtures --------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo_issues(demo_db, tmp_path_factory) -> Registry:
    """The demo street with 120 issues worked by the desk (realistic stage history)."""
    registry = Registry(open_store(copy_demo(demo_db, tmp_path_factory.mktemp("stats-demo"))))
    load_demo_issues(IssueDesk(registry, clock=lambda: NOW), n=120)
    return registry


@pytest.fixture(scope="module")
def generated(demo_db, tmp_path_factory) -> Registry:
    """The demo street with 3,000 generated issues."""
    registry = Registry(open_store(copy_demo(demo_db, tmp_path_factory.mktemp("stats-generated"))))
    add_issues(registry, *generated_issues(registry, 3000))
    return registry


def _places(registry: Registry) -> tuple[str, str]:
    street = registry.areas(level="street")["code"].iloc[0]
    micro = registry.areas(parent_code=WORKER_GRID)["code"].iloc[0]
    return street, micro


# -- tests -----------------------------------------------------------------------------------------------------------
def test_the_demo_issues_get_the_same_figures_for_every_caller(demo_issues):
    street, micro = _places(demo_issues)
    for scope, areas in callers(demo_issues, street, micro)[:3]:
        view = ScopedRegistry(demo_issues, scope, ACTOR)
        assert assert_same(view, areas, VARIATIONS[:4]) > 0
    stages = issue_stats(ScopedRegistry(demo_issues, Scope.everything(), ACTOR), now=NOW)["on_time_by_stage"]
    assert stages and all(0 <= s["on_time"] <= s["finished"] for s in stages.values())


def test_generated_issues_get_the_same_figures_for_every_caller_filter_period_and_zone(generated):
    street, micro = _places(generated)
    for scope, areas in callers(generated, street, micro):
        view = ScopedRegistry(generated, scope, ACTOR)
        assert assert_same(view, areas) > len(areas)
    whole = issue_stats(ScopedRegistry(generated, Scope.everything(), ACTOR), now=NOW, period="day", tz="Europe/Berlin")
    assert whole["total"] >= 3000 and whole["overdue"] > 200 and len(whole["overdue_ids"]) == 200
    assert len(whole["by_state"]) == len(STATES) and whole["on_time_by_stage"]
    assert {
        c["code"]
        for c in issue_stats(ScopedRegistry(generated, Scope.everything(), ACTOR), area=street, now=NOW)[
            "by_child_area"
        ]
    } >= {COMMUNITY, None}


@contextlib.contextmanager
def rows_read():
    """Count the rows and bound parameters of every statement run meanwhile: ``{"rows": n, "parameters": n}``."""
    counts = {"rows": 0, "parameters": 0}
    strategy = sa_cursor.CursorFetchStrategy
    originals = {name: getattr(strategy, name) for name in ("fetchone", "fetchmany", "fetchall")}

    def counting(name):
        def fetch(self, result, dbapi_cursor, *args):
            out = originals[name](self, result, dbapi_cursor, *args)
            counts["rows"] += (out is not None) if name == "fetchone" else len(out)
            return out

        return fetch

    def parameters(conn, cursor, statement, params, context, executemany):
        counts["parameters"] += len(params)

    for name in originals:
        setattr(strategy, name, counting(name))
    sa.event.listen(sa.engine.Engine, "before_cursor_execute", parameters)
    try:
        yield counts
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", parameters)
        for name, original in originals.items():
            setattr(strategy, name, original)


def test_the_figures_read_groups_not_issues(demo_db, tmp_path):
    """Twice the issues on the same days, categories and states: the same rows and parameters read, not twice."""
    registry = Registry(open_store(copy_demo(demo_db, tmp_path)))
    issues, events = generated_issues(registry, 1500, seed=5)
    add_issues(registry, issues, events)
    view = ScopedRegistry(registry, Scope.everything(), ACTOR)
    street, _ = _places(registry)
    issue_stats(view, area=street, now=NOW)  # caches of the registry filled
    with rows_read() as before:
        first = issue_stats(view, area=street, now=NOW)
    twins = issues.assign(
        id=issues["id"] + 10_000, token="twin-" + issues["token"], external_id="t" + issues["external_id"]
    )
    add_issues(registry, twins, events.assign(issue_id=events["issue_id"] + 10_000))
    with rows_read() as after:
        second = issue_stats(view, area=street, now=NOW)
    assert second["total"] == 2 * first["total"] > 1000
    assert after == before, (before, after)


def test_zone_shifts_find_each_offset_change_to_the_second():
    shifts = _zone_shifts("Europe/Berlin", datetime(2025, 1, 5), datetime(2025, 12, 20, tzinfo=timezone.utc))
    assert shifts == [
        (None, 3600),
        (datetime(2025, 3, 30, 1, tzinfo=timezone.utc), 7200),
        (datetime(2025, 10, 26, 1, tzinfo=timezone.utc), 3600),
    ]
    assert _zone_shifts("Asia/Shanghai", datetime(2024, 1, 1), datetime(2026, 1, 1)) == [(None, 28800)]
    assert _zone_shifts("Asia/Kolkata", None, None) == [(None, 19800)]


# -- PostgreSQL ------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pg_generated():
    """The demo street with the generated issues on a private PostgreSQL server (skipped without one)."""
    pytest.importorskip("psycopg")
    from tests.storage.pg import postgres_server

    with postgres_server() as url:
        registry = Registry(open_store(url))
        load_demo(registry)
        add_issues(registry, *generated_issues(registry, 3000))
        yield registry
        registry.store.engine.dispose()


def test_postgresql_gives_the_same_figures(pg_generated):
    street, micro = _places(pg_generated)
    for scope, areas in callers(pg_generated, street, micro):
        view = ScopedRegistry(pg_generated, scope, ACTOR)
        assert assert_same(view, areas) > len(areas)
