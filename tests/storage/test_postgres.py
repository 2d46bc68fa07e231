"""The same domain code on PostgreSQL: migrations, generations, locate, access, audit, issues, coverage.

The embedded default is SQLite; deployments that outgrow one machine point ``--db`` at PostgreSQL. This test
runs the main paths against a real PostgreSQL server so the portable SQL stays portable.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest
import shapely

from accounts.demo import create_demo_users
from accounts.tokens import create_token, resolve_token
from accounts.users import authenticate, find_user
from boundaries import editing
from boundaries.audit import entries
from boundaries.demo import load_demo
from boundaries.registry import Registry
from boundaries.scope import ScopedRegistry
from boundaries.storage import open_store
from issues.bulk import import_issues
from issues.desk import IssueDesk
from issues.queries import issue_stats, list_issues
from serving.analysis import analyse
from tests.conftest import at_once, demo_password
from tests.storage.pg import postgres_server


@pytest.fixture(scope="module")
def pg_registry():
    with postgres_server() as url:
        registry = Registry(open_store(url))
        assert registry.store.engine.dialect.name == "postgresql"
        load_demo(registry)
        create_demo_users(registry, password=demo_password)
        yield registry
        registry.store.engine.dispose()


def test_generations_locate_and_scope(pg_registry, demo_registry):
    micro = pg_registry.areas(level="micro_grid")
    assert len(micro) == len(demo_registry.areas(level="micro_grid"))
    pts = shapely.point_on_surface(micro.geometry.values)
    located = pg_registry.locate(shapely.get_x(pts), shapely.get_y(pts))
    assert (located["code"].to_numpy() == micro["code"].to_numpy()).all()
    planner = find_user(pg_registry, "planner")
    view = ScopedRegistry(pg_registry, planner.scope(), planner.actor("pg"))
    leaf = view.areas(parent_code="510104001001001").iloc[0]["code"]
    editing.update_area(view, leaf, name="PostgreSQL 改名")
    generation = editing.publish(view)
    assert pg_registry.current_generation() == generation and pg_registry.area(leaf)["name"] == "PostgreSQL 改名"
    since = datetime.now(timezone.utc) - timedelta(minutes=5)
    rows, total = entries(pg_registry.store.engine, user="planner", since=since)
    assert total == 2 and rows[0]["action"] == "publish" and rows[1]["after"]["name"] == "PostgreSQL 改名"


def test_accounts(pg_registry):
    assert authenticate(pg_registry, "staff", demo_password("staff")).role == "staff"
    assert authenticate(pg_registry, "staff", "wrong-password") is None
    secret, _ = create_token(pg_registry, find_user(pg_registry, "wechat").id, "pg", 1)
    assert resolve_token(pg_registry, secret).name == "wechat"


def test_issues_and_coverage(pg_registry):
    now = {"t": datetime(2026, 11, 23, 1, 30, tzinfo=timezone.utc)}
    desk = IssueDesk(pg_registry, clock=lambda: now["t"])
    staff = find_user(pg_registry, "staff")
    view = ScopedRegistry(pg_registry, staff.scope(), staff.actor("pg"))
    leaf = pg_registry.areas(parent_code="510104001001001").iloc[0]
    p = shapely.point_on_surface(leaf.geometry)
    issue, created = desk.report(view, "exposed_rubbish", "垃圾", lon=p.x, lat=p.y, external_id="pg-1")
    assert created and issue["micro_grid_code"] == leaf["code"]
    again, created = desk.report(view, "exposed_rubbish", "垃圾", lon=p.x, lat=p.y, external_id="pg-1")
    assert not created and again["id"] == issue["id"]
    for step in ("accept", "file", "dispatch"):
        desk.act(view, issue["id"], step, can=staff.can)
    now["t"] += timedelta(days=1)
    assert desk.escalate_overdue() == 1 and desk.escalate_overdue() == 0
    rows, total = list_issues(view, state="open", now=now["t"])
    assert total == 1 and rows[0]["level"] == "grid" and rows[0]["overdue"] is False
    frame = pd.DataFrame(
        {"category": ["dispute"] * 3, "lon": [p.x] * 3, "lat": [p.y] * 3, "reported_at": ["2025-01-02 09:00"] * 3,
         "closed_at": ["2025-01-03 09:00"] * 3, "external_id": ["a", "b", "c"]}
    )  # fmt: skip
    report = import_issues(desk, frame, actor=staff.actor("pg"))
    assert report.imported == 3 and not report.errors
    stats = issue_stats(view, area="510104001001", now=now["t"])
    assert stats["total"] == 4 and stats["closed"] == 3
    result = analyse(view, "clinic", area="510104001001")
    assert result.summary()["households"] > 0


def test_change_sets_publish_once_and_conflict_under_races(pg_registry):
    """On PostgreSQL (real row locks, READ COMMITTED): the same change set published by two threads at once is
    published once; two change sets of the same area published at once: one wins, the other conflicts."""
    import threading

    from boundaries.audit import SYSTEM, Actor
    from boundaries.errors import ChangeSetConflictError, ConflictError
    from boundaries.scope import Scope

    leaves = pg_registry.areas(parent_code="510104001001001")["code"].tolist()
    admin = ScopedRegistry(pg_registry, Scope.everything(), SYSTEM)
    change_set = editing.update_area(admin, leaves[1], name="一次")["generation"]
    published_before = [g["id"] for g in pg_registry.generations() if g["state"] == "published"]

    def race(calls):
        outcomes, barrier = [], threading.Barrier(len(calls))

        def run(call):
            barrier.wait()
            try:
                outcomes.append(("ok", call()))
            except ChangeSetConflictError:
                outcomes.append(("conflict", None))
            except ConflictError:
                outcomes.append(("not_open", None))

        threads = [threading.Thread(target=run, args=(c,)) for c in calls]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return sorted(kind for kind, _ in outcomes)

    assert race([lambda: pg_registry.publish(SYSTEM, change_set=change_set)] * 2) == ["not_open", "ok"]
    published_after = [g["id"] for g in pg_registry.generations() if g["state"] == "published"]
    assert len(published_after) == len(published_before) + 1
    views = [ScopedRegistry(pg_registry, Scope.everything(), Actor(900 + i, f"p{i}", "")) for i in range(2)]
    for i, view in enumerate(views):
        editing.update_area(view, leaves[2], name=f"并发{i}")
    assert race([lambda v=v: editing.publish(v) for v in views]) == ["conflict", "ok"]


def test_leases_on_postgresql(pg_registry):
    """Several workers on one PostgreSQL database: the escalation lease is taken by exactly one of them."""

    from boundaries.storage import open_store

    url = pg_registry.store.engine.url.render_as_string(hide_password=False)
    stores = [open_store(url) for _ in range(4)]
    got = at_once([lambda i=i: stores[i].acquire_lease("pg-job", f"worker-{i}", 60) for i in range(len(stores))])
    for store in stores:
        store.engine.dispose()
    assert sorted(got) == [False, False, False, True]


def test_web_workers_on_postgresql_share_the_session_key(pg_registry):
    """Each worker on a server database made its own random key, so a session one worker made was refused by the
    others (and ended with a restart)."""
    from tests.conftest import TEST_CONFIG
    from web import create_app

    url = pg_registry.store.engine.url.render_as_string(hide_password=False)
    config = {k: v for k, v in TEST_CONFIG.items() if k != "SECRET_KEY"}
    apps = [create_app({**config, "DATABASE_URL": url}) for _ in range(2)]
    keys = {app.config["SECRET_KEY"] for app in apps}
    assert len(keys) == 1 and len(next(iter(keys))) == 64
    assert pg_registry.store.shared_secret("session") in keys
    for app in apps:
        app.extensions["weige.registry"].store.engine.dispose()
