"""Buildings and service points outside the caller's areas answer exactly like missing ones (outside test, item 6).

A 403 naming the place would tell a caller that an id exists and where it is; the answer must not differ from
the answer for an id that was never used.
"""

from __future__ import annotations

import re

import pytest

from boundaries import assets
from tests.conftest import private_app

OTHER_COMMUNITY = "510104001002"  # the demo planner, staff and worker are bound to 510104001001
UNUSED_ID = 2_000_000_000


@pytest.fixture
def fresh(demo_db, tmp_path):
    _, registry, client = private_app(demo_db, tmp_path)
    elsewhere = {
        "buildings": int(assets.buildings(registry, area_code=OTHER_COMMUNITY)["id"].iloc[0]),
        "service-points": int(assets.service_points(registry, area_code=OTHER_COMMUNITY)["id"].iloc[0]),
    }
    return registry, client, elsewhere


def _same(outside, missing) -> dict:
    assert outside.status_code == missing.status_code == 404, (outside.get_json(), missing.get_json())
    assert outside.get_json() == missing.get_json()
    text = outside.get_data(as_text=True)
    assert not re.search(r"\d+\.\d{3,}", text), text  # no coordinates
    assert "ETag" not in outside.headers
    return outside.get_json()


@pytest.mark.parametrize("user", ["planner", "staff", "worker"])
def test_reading_an_asset_elsewhere_answers_like_a_missing_one(fresh, user):
    _, client, elsewhere = fresh
    caller = client(user)
    for kind, row_id in elsewhere.items():
        body = _same(caller.get(f"/api/v1/{kind}/{row_id}"), caller.get(f"/api/v1/{kind}/{UNUSED_ID}"))
        assert body["error"]["code"] == "not_found"


def test_changing_an_asset_elsewhere_answers_like_a_missing_one_and_changes_nothing(fresh):
    registry, client, elsewhere = fresh
    planner = client("planner")
    before = (registry.store.buildings(geometry=False), registry.store.service_points())
    building, point = elsewhere["buildings"], elsewhere["service-points"]
    _same(
        planner.patch(f"/api/v1/buildings/{building}", json={"name": "x"}),
        planner.patch(f"/api/v1/buildings/{UNUSED_ID}", json={"name": "x"}),
    )
    _same(
        planner.patch(f"/api/v1/service-points/{point}", json={"name": "x"}),
        planner.patch(f"/api/v1/service-points/{UNUSED_ID}", json={"name": "x"}),
    )
    _same(planner.delete(f"/api/v1/service-points/{point}"), planner.delete(f"/api/v1/service-points/{UNUSED_ID}"))
    # with an If-Match too: the version check never runs before the scope check
    _same(
        planner.delete(f"/api/v1/service-points/{point}", headers={"If-Match": '"x"'}),
        planner.delete(f"/api/v1/service-points/{UNUSED_ID}", headers={"If-Match": '"x"'}),
    )
    assert (registry.store.buildings(geometry=False), registry.store.service_points()) == before
    # the administrator sees and changes it
    admin = client("admin")
    assert admin.get(f"/api/v1/buildings/{building}").status_code == 200
    assert admin.patch(f"/api/v1/service-points/{point}", json={"name": "x"}).status_code == 200
