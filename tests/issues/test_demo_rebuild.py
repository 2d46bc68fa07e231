"""Rebuilding the demo: each aggregate clears its own rows, all in one transaction (issue 13, item 1)."""

from __future__ import annotations

import base64

import pytest
import sqlalchemy as sa

from boundaries import demo
from core.audit import entries
from issues.demo import rebuild_demo

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def counts(registry) -> dict[str, int]:
    tables = ("issues", "issue_events", "photos", "issue_photos", "areas", "generations", "buildings", "users")
    with registry.store.engine.connect() as conn:
        return {name: conn.execute(sa.text(f"SELECT count(*) FROM {name}")).scalar_one() for name in tables}


@pytest.fixture
def reported(world):
    """The demo world with one issue reported, with a photo."""
    _, lon, lat = world.point()
    issue, created = world.desk.report(world.view, "road_cleaning", "路灯", lon=lon, lat=lat, photos=[("a.png", PNG)])
    assert created
    before = counts(world.registry)
    assert before["issues"] == 1 and before["photos"] == 1 and before["issue_events"] >= 1
    return world, before


def test_the_rebuild_clears_issues_and_the_registry_and_keeps_users_and_the_audit_log(reported):
    world, before = reported
    logged = entries(world.registry.store.engine, per_page=1)[1]
    street = rebuild_demo(world.registry)
    after = counts(world.registry)
    assert {k: after[k] for k in ("issues", "issue_events", "photos", "issue_photos")} == dict.fromkeys(
        ("issues", "issue_events", "photos", "issue_photos"), 0
    )
    assert after["areas"] == len(street.areas) == before["areas"]
    assert after["buildings"] == len(street.buildings) and after["generations"] == 1
    assert after["users"] == before["users"]
    assert entries(world.registry.store.engine, per_page=1)[1] == logged + 1  # kept, and the rebuild logged


def test_the_registry_clears_only_its_own_rows(reported):
    """Without ``clear``, loading the demo street leaves the issues alone: the registry knows no issue table."""
    world, before = reported
    demo.load_demo(world.registry)
    after = counts(world.registry)
    assert {k: after[k] for k in ("issues", "issue_events", "photos")} == {
        k: before[k] for k in ("issues", "issue_events", "photos")
    }
    assert after["areas"] == before["areas"] and after["generations"] == 1


def test_a_failing_clear_rolls_the_whole_rebuild_back(reported):
    world, before = reported
    from issues import storage

    def fail(conn):
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        demo.load_demo(world.registry, clear=(storage.wipe, fail))
    assert counts(world.registry) == before
