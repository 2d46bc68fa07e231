"""Intake's database round trips: one snapshot read, one short write transaction, no read-back afterwards."""

from __future__ import annotations

import base64

import sqlalchemy as sa

from boundaries.scope import ScopedRegistry
from core.audit import Actor
from core.scope import Scope
from issues.queries import get_issue

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def connections_during(engine, action):
    """How many times a connection is checked out of the pool while ``action()`` runs, and its result."""
    count = [0]

    def checked_out(*_args):
        count[0] += 1

    sa.event.listen(engine, "engine_connect", checked_out)
    try:
        result = action()
    finally:
        sa.event.remove(engine, "engine_connect", checked_out)
    return count[0], result


def test_a_report_takes_one_read_and_one_write_and_answers_as_get_issue(world):
    code, lon, lat = world.point()
    view = ScopedRegistry(world.registry, Scope.everything(), Actor(None, "test", ""))
    world.desk.report(view, "road_cleaning", lon=lon, lat=lat)  # caches warm (index, hierarchy, workers)
    view = ScopedRegistry(world.registry, Scope.everything(), Actor(None, "test", ""))
    view.snapshot()  # a request's one snapshot, as the web layer reads it
    photos = [("a.png", PNG), ("b.png", PNG)]  # the same photo twice: stored and linked once
    n, (issue, created) = connections_during(
        world.registry.store.engine,
        lambda: world.desk.report(view, "road_cleaning", "路灯", lon=lon, lat=lat, photos=photos, external_id="k1"),
    )
    assert created and issue["micro_grid_code"] == code
    assert n == 2  # the idempotency look-up before, and the write transaction: no read-back connection
    stored = get_issue(world.view, issue["id"])
    assert {k: v for k, v in issue.items() if k != "overdue"} == {k: v for k, v in stored.items() if k != "overdue"}
    assert len(issue["photos"]) == 1 and issue["history"][0]["photos"] == issue["photos"]


def test_a_report_in_an_area_the_reporter_cannot_see_stands_unseen(world):
    code, lon, lat = world.point()
    other = ScopedRegistry(world.registry, Scope(frozenset({"no-such-area"})), Actor(None, "test", ""))
    issue, created = world.desk.report(other, "road_cleaning", lon=lon, lat=lat)
    assert created and issue == {"id": issue["id"], "state": "reported", "visible": False}
    assert get_issue(world.view, issue["id"])["micro_grid_code"] == code
