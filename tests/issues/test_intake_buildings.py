"""A building id at intake: one outside the caller's areas answers exactly like one that does not exist."""

from __future__ import annotations

import shapely
import sqlalchemy as sa

from core.storage import tables as t
from tests.issues.conftest import COMMUNITY


def _count(registry) -> int:
    with registry.store.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(t.issues)).scalar_one()


def _buildings(registry) -> tuple[int, int]:
    """A building inside the demo staff's community and one outside it."""
    community = registry.areas(level="community")
    mine = community[community["code"] == COMMUNITY].geometry.iloc[0]
    inside = outside = None
    for b in registry.store.buildings(geometry=False):
        if shapely.contains_xy(mine, b["lon"], b["lat"]):
            inside = inside or b["id"]
        else:
            outside = outside or b["id"]
    assert inside and outside
    return inside, outside


def test_a_building_outside_ones_areas_answers_like_a_missing_one(world):
    inside, outside = _buildings(world.registry)
    missing = 10 + max(b["id"] for b in world.registry.store.buildings(geometry=False))
    for name in ("staff", "worker"):
        client = world.clients[name]
        answers = [
            client.post("/api/v1/issues", json={"category": "dispute", "description": "b", "building_id": b})
            for b in (outside, missing)
        ]
        assert [a.status_code for a in answers] == [404, 404]
        assert answers[0].get_json() == answers[1].get_json()
        assert str(outside) not in answers[0].get_data(as_text=True)
    assert _count(world.registry) == 0
    ok = world.clients["staff"].post(
        "/api/v1/issues", json={"category": "dispute", "description": "b", "building_id": inside}
    )
    assert ok.status_code == 201 and _count(world.registry) == 1
    admin = world.clients["admin"].post(
        "/api/v1/issues", json={"category": "dispute", "description": "b", "building_id": outside}
    )
    assert admin.status_code == 201 and _count(world.registry) == 2
