"""The escalation thread escalates overdue issues on its own, and stops when told."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import shapely

from boundaries.registry import Registry
from boundaries.scope import ScopedRegistry
from boundaries.storage import open_store
from core.audit import Actor
from core.scope import Scope
from issues.desk import IssueDesk
from issues.queries import get_issue
from issues.scheduler import EscalationThread
from tests.conftest import copy_demo


def test_thread_escalates_an_overdue_issue(demo_db, tmp_path):
    registry = Registry(open_store(copy_demo(demo_db, tmp_path)))
    now = {"t": datetime(2026, 11, 23, 1, 30, tzinfo=timezone.utc)}
    desk = IssueDesk(registry, clock=lambda: now["t"])
    view = ScopedRegistry(registry, Scope.everything(), Actor(None, "test", ""))
    leaf = registry.areas(level="micro_grid").iloc[0]
    p = shapely.point_on_surface(leaf.geometry)
    issue, _ = desk.report(view, "road_cleaning", lon=p.x, lat=p.y)
    thread = EscalationThread(desk, interval=0.05)
    thread.start()
    try:
        time.sleep(0.2)
        assert get_issue(view, issue["id"])["level"] == "micro_grid"  # not due yet: nothing moves
        now["t"] += timedelta(days=2)
        deadline = time.monotonic() + 5
        while get_issue(view, issue["id"])["level"] == "micro_grid" and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        thread.stop()
        thread.join(2)
    assert get_issue(view, issue["id"])["level"] == "grid" and thread.runs >= 2 and not thread.is_alive()
