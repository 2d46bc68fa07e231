"""Area scope in the domain layer: what each binding lets a caller see and change, checked on the demo street."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from boundaries import assets, editing
from boundaries.registry import Registry
from boundaries.scope import ScopedRegistry
from boundaries.storage import open_store
from core.audit import SYSTEM, Actor, entries
from core.errors import NotFoundError, OutOfScopeError
from core.scope import Scope, mask_phone
from tests.conftest import copy_demo

COMMUNITY, OTHER_COMMUNITY = "510104001001", "510104001002"
GRID = "510104001001001"


def _subtree(registry, root):
    rows = registry.store.areas(registry.current_generation(), geometry=False)
    children = {}
    for r in rows:
        children.setdefault(r["parent_code"], []).append(r["code"])
    out, stack = set(), [root]
    while stack:
        code = stack.pop()
        out.add(code)
        stack += children.get(code, [])
    return out


def test_areas_and_tree_are_the_bound_subtree(demo_registry):
    view = ScopedRegistry(demo_registry, Scope(frozenset({COMMUNITY})))
    codes = set(view.areas()["code"])
    assert codes == _subtree(demo_registry, COMMUNITY)  # brute force over the parent links
    assert len(codes) > 100
    tree = view.tree()
    assert [n["code"] for n in tree] == [COMMUNITY]
    with pytest.raises(OutOfScopeError):
        view.areas(parent_code=OTHER_COMMUNITY)
    with pytest.raises(OutOfScopeError):
        view.area(OTHER_COMMUNITY)
    two = ScopedRegistry(demo_registry, Scope(frozenset({GRID, OTHER_COMMUNITY})))
    assert set(two.areas()["code"]) == _subtree(demo_registry, GRID) | _subtree(demo_registry, OTHER_COMMUNITY)
    assert sorted(n["code"] for n in two.tree()) == [GRID, OTHER_COMMUNITY]


def test_buildings_service_points_and_counts_follow_the_scope(demo_registry):
    view = ScopedRegistry(demo_registry, Scope(frozenset({COMMUNITY})))
    everything = assets.buildings(demo_registry, bbox=(-180, -90, 180, 90))
    geom = demo_registry.area(COMMUNITY).geometry
    inside = shapely.intersects_xy(geom, everything["lon"].to_numpy(), everything["lat"].to_numpy())
    seen = view.buildings(bbox=(-180, -90, 180, 90))
    assert set(seen["id"]) == set(everything["id"][inside]) and 0 < len(seen) < len(everything)
    points = view.service_points(bbox=(-180, -90, 180, 90))
    assert shapely.intersects_xy(geom, points["lon"].to_numpy(), points["lat"].to_numpy()).all()
    counts = view.household_counts()
    assert set(counts.index) == _subtree(demo_registry, COMMUNITY)
    assert counts.loc[COMMUNITY, "households"] == assets.household_counts(demo_registry).loc[COMMUNITY, "households"]


def test_locate_hides_areas_outside_the_scope(demo_registry):
    view = ScopedRegistry(demo_registry, Scope(frozenset({GRID})))
    micro = demo_registry.areas(level="micro_grid")
    pts = shapely.point_on_surface(micro.geometry.values)
    result = view.locate(shapely.get_x(pts), shapely.get_y(pts))
    mine = micro["parent_code"].to_numpy() == GRID
    assert (result["status"].to_numpy()[mine] == "ok").all()
    assert (result["code"].to_numpy()[mine] == micro["code"].to_numpy()[mine]).all()
    assert (result["status"].to_numpy()[~mine] == "out_of_scope").all() and (result["code"][~mine] == "").all()


def test_workers_phones_masked_unless_the_scope_shows_them(demo_registry):
    full = ScopedRegistry(demo_registry, Scope.everything()).workers([GRID])
    masked = ScopedRegistry(demo_registry, Scope(frozenset({COMMUNITY}))).workers([GRID])
    assert [w["name"] for w in full] == [w["name"] for w in masked] and full
    assert [mask_phone(w["phone"]) for w in full] == [w["phone"] for w in masked]
    assert ScopedRegistry(demo_registry, Scope(frozenset({OTHER_COMMUNITY}))).workers([GRID]) == []


@pytest.fixture
def writable(demo_db, tmp_path) -> Registry:
    return Registry(open_store(copy_demo(demo_db, tmp_path)))


def test_a_planner_draws_under_their_area_and_publishes_with_audit(writable):
    actor = Actor(42, "planner-test", "127.0.0.1")
    view = ScopedRegistry(writable, Scope(frozenset({COMMUNITY})), actor)
    leaf = writable.areas(parent_code=GRID).iloc[0]
    smaller = shapely.buffer(leaf.geometry, -0.00002)
    result = editing.update_area(view, leaf["code"], name="新名字 <b>", geometry=smaller)
    assert result["checks"]["overlaps"] == [] and result["checks"]["outside_parent_m2"] == 0
    with pytest.raises(OutOfScopeError):
        editing.update_area(view, COMMUNITY, name="我自己的社区")  # one's own bound area is drawn from above
    generation = editing.publish(view)
    assert writable.current_generation() == generation
    assert writable.area(leaf["code"]).loc["name"] == "新名字 <b>"
    rows, total = entries(writable.store.engine, user="planner-test")
    assert total == 2 and [r["action"] for r in rows] == ["publish", "update"]
    update = rows[1]
    assert update["before"]["name"] == leaf["name"] and update["after"]["name"] == "新名字 <b>"
    before_area = shapely.geometry.shape(update["before"]["geometry"]).area
    after_area = shapely.geometry.shape(update["after"]["geometry"]).area
    assert after_area < before_area
    assert rows[0]["after"]["added_or_changed"] == [leaf["code"]] and rows[0]["source"] == "127.0.0.1"


def test_publish_is_refused_when_the_draft_holds_changes_outside_the_scope(writable):
    other = writable.areas(parent_code="510104001002001").iloc[0]["code"]
    theirs = editing.update_area(ScopedRegistry(writable, Scope.everything(), SYSTEM), other, name="别的社区的改动")
    planner = ScopedRegistry(writable, Scope(frozenset({COMMUNITY})), Actor(7, "p", ""))
    before = writable.current_generation()
    with pytest.raises(NotFoundError, match="no open change set"):
        editing.publish(planner)  # their own: they have none
    with pytest.raises(OutOfScopeError):
        editing.publish(planner, change_set=theirs["generation"])
    with pytest.raises(OutOfScopeError):
        editing.discard(planner, change_set=theirs["generation"])
    assert writable.current_generation() == before and writable.store.draft_generation_id() == theirs["generation"]


def test_invalid_drawings_are_refused_with_the_reason(writable):
    view = ScopedRegistry(writable, Scope(frozenset({COMMUNITY})))
    bowtie = {
        "type": "Polygon",
        "coordinates": [[[104.06, 30.65], [104.07, 30.66], [104.07, 30.65], [104.06, 30.66], [104.06, 30.65]]],
    }
    swapped = {"type": "Polygon", "coordinates": [[[30.65, 104.06], [30.66, 104.06], [30.66, 104.07], [30.65, 104.06]]]}
    line = {"type": "LineString", "coordinates": [[104.06, 30.65], [104.07, 30.66]]}
    messages = []
    for geometry in (bowtie, swapped, line, {"type": "Polygon"}):
        with pytest.raises(Exception) as info:
            editing.create_area(view, f"{GRID}950", "micro_grid", "x", GRID, geometry)
        messages.append(str(info.value))
    assert "Self-intersection" in messages[0] or "自相交" in messages[0]
    assert "swap" in messages[1].lower() or "颠倒" in messages[1]
    assert "LineString" in messages[2]
    assert (
        writable.store.draft_generation_id() is None
        or writable.areas(generation=writable.store.draft_generation_id(), codes=[f"{GRID}950"]).empty
    )


def test_scope_of_points_matches_brute_force(demo_registry):
    view = ScopedRegistry(demo_registry, Scope(frozenset({GRID})))
    rng = np.random.default_rng(3)
    minx, miny, maxx, maxy = demo_registry.area(COMMUNITY).geometry.bounds
    lon, lat = rng.uniform(minx, maxx, 2000), rng.uniform(miny, maxy, 2000)
    expected = shapely.intersects_xy(demo_registry.area(GRID).geometry, lon, lat)
    assert (view.covers_points(lon, lat) == expected).all() and expected.any() and not expected.all()
