"""Suggested micro-grids (issue 14 item 7): contiguous groups within the household range that cover every
building once, roads respected, checked against spopt's max-p, written into a change set with codes kept."""

from __future__ import annotations

import time
import warnings

import geopandas as gpd
import numpy as np
import pytest
import shapely

from boundaries.households import osm_buildings
from boundaries.registry import Registry
from boundaries.rules import check_area
from boundaries.scope import ScopedRegistry
from boundaries.storage import open_store
from boundaries.suggest import suggest_micro_grids, suggest_partition
from core.audit import SYSTEM, entries
from core.scope import Scope
from geo.crs import geometries_from_wgs84, metric_crs
from geo.plane import LocalPlane
from tests.conftest import copy_demo, shared_file

LOW, HIGH = 30, 100
GRID = "510104001001001"


def _check_partition(found, buildings, parent) -> None:
    """Every group contiguous, in range unless reported, every building in exactly one group, a clean coverage."""
    groups = found.groups
    geoms = np.array([g.geometry for g in groups], dtype=object)
    assert shapely.coverage_is_valid(geoms)
    crs = metric_crs(*shapely.centroid(parent).coords[0])
    off = shapely.symmetric_difference(shapely.coverage_union_all(geoms), parent)  # as stored, then measured
    assert shapely.area(geometries_from_wgs84(np.array([off]), crs)[0]) < 1e-3  # m², floating-point noise
    assert all(g.geom_type == "Polygon" for g in geoms), "the cells of a group make one polygon"
    neighbours = {}
    for a, b in found.edges:
        neighbours.setdefault(a, set()).add(b)
        neighbours.setdefault(b, set()).add(a)
    for g in groups:  # the group's buildings form a connected subgraph of the adjacency graph
        nodes = set(g.nodes)
        seen, stack = {g.nodes[0]}, [g.nodes[0]]
        while stack:
            for m in neighbours.get(stack.pop(), set()) & nodes:
                if m not in seen:
                    seen.add(m)
                    stack.append(m)
        assert seen == nodes, f"group {g.sequence} is not connected"
    count = {}
    for g in groups:
        for b in g.buildings:
            count[b] = count.get(b, 0) + 1
    ids = list(buildings["id"])
    points = shapely.points(buildings["lon"], buildings["lat"])
    inside = [i for i, p in zip(ids, points, strict=True) if parent.covers(p)]
    assert sorted(count) == sorted(inside) and set(count.values()) == {1}  # brute force: each exactly once
    where = {b: g for g in groups for b in g.buildings}
    for i, p in zip(ids, points, strict=True):
        if i in where:
            assert where[i].geometry.covers(p), f"building {i} lies outside its group"
    households = dict(zip(ids, buildings["households"], strict=True))
    by_seq = {g.sequence: g for g in groups}
    for g in groups:
        assert g.households == round(sum(households[b] for b in g.buildings))
        if g.problem is None:
            assert found.low <= g.households <= found.high
        elif g.problem == "above":
            counted = {found.node_of[b] for b in g.buildings if households[b] > 0}  # buildings at one point: one
            assert len(counted) == 1 and g.households > found.high  # one building (and empty ones): no split
        else:  # below: an isolated cluster, no neighbouring group could take it
            assert g.households < found.low and _no_room_beside(found, g)
    assert [g.sequence for g in groups] == list(range(1, len(groups) + 1)) and by_seq


def _codes_ordered(found) -> None:
    wgs = np.array([g.geometry for g in found.groups], dtype=object)
    geoms = LocalPlane(shapely.total_bounds(wgs)).to_plane(wgs)  # true north (a Gauss–Krüger grid is turned)
    heights = shapely.bounds(geoms)[:, 3] - shapely.bounds(geoms)[:, 1]
    row_height = float(np.median(heights)) or 1.0
    pts = shapely.point_on_surface(geoms)
    x, y = shapely.get_x(pts), shapely.get_y(pts)
    rows = np.floor((y.max() - y) / row_height)
    keys = list(zip(rows, x, strict=True))
    assert keys == sorted(keys), "numbered north→south in rows, west→east within a row"
    codes = [g.code for g in found.groups]
    assert codes == sorted(codes) and len(set(codes)) == len(codes)


@pytest.fixture(scope="module")
def lujiazui():
    """Lujiazui buildings merged by id, households estimated by the stated rule (:mod:`boundaries.households`).

    Shops, offices, hotels, towers … and buildings on non-residential land hold none, nor do building parts;
    the others footprint × floors / 90 m² (floors = height / 3 m, 6 without a height). Parent: the buildings'
    convex hull buffered 30 m.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # pyogrio: pieces share an id (merged by osm_buildings)
        pieces = gpd.read_file(shared_file("lujiazui/buildings.geojson"))
        landuse = gpd.read_file(shared_file("lujiazui/landuse.geojson"))
        roads = gpd.read_file(shared_file("lujiazui/roads.geojson"))
    merged = osm_buildings(pieces, landuse)
    crs = metric_crs(121.5, 31.24)
    hull = shapely.convex_hull(shapely.union_all(merged.to_crs(crs).geometry.values)).buffer(30)
    parent = gpd.GeoSeries([hull], crs=crs).to_crs(4326).iloc[0]
    buildings = {"id": merged["id"].tolist(), "lon": merged["lon"].to_numpy(), "lat": merged["lat"].to_numpy(),
                 "households": merged["households"].tolist(), "geometry": merged.geometry.values}  # fmt: skip
    streets = roads[roads["kind"].isin(["major_road", "minor_road"])].geometry.values
    return parent, buildings, streets


def _no_room_beside(found, group) -> bool:
    """Brute force: no group sharing a boundary with ``group`` can take it within the ceiling."""
    touching = [h for h in found.groups if h is not group and h.geometry.intersection(group.geometry).length > 0]
    return all(h.problem == "above" or h.households + group.households > found.high for h in touching)


def test_lujiazui_groups_are_contiguous_in_range_and_cover_every_building_once(lujiazui):
    parent, buildings, roads = lujiazui
    started = time.perf_counter()
    found = suggest_partition(parent, buildings, LOW, HIGH, roads=roads, parent_code="310115001001001")
    seconds = time.perf_counter() - started
    assert len(buildings["id"]) == 1450
    _check_partition(found, buildings, parent)  # contiguous, a clean coverage, every building once (brute force)
    _codes_ordered(found)
    households = dict(zip(buildings["id"], buildings["households"], strict=True))
    big = {b for b, n in households.items() if n > HIGH}
    fine, whole, isolated = [], [], []
    for g in found.groups:
        counted = [b for b in g.buildings if households[b] > 0]
        if LOW <= g.households <= HIGH:
            fine.append(g)
            assert g.problem is None
        elif g.households > HIGH:  # (a) one building above the ceiling: its own micro-grid, nothing else counted
            whole.append(g)
            assert g.problem == "above" and len(counted) == 1 and households[counted[0]] > HIGH
            assert "整栋为一个微网格" in g.reason and "the whole building is one micro-grid" in g.reason
        else:  # (b) an isolated cluster: no neighbour can take it
            isolated.append(g)
            assert g.problem == "below" and _no_room_beside(found, g), g.sequence
    assert len(whole) == len(big), "every building above the ceiling is a micro-grid of its own, no other group"
    assert len(fine) + len(whole) + len(isolated) == len(found.groups)
    assert len(isolated) < 0.01 * len(found.groups)
    assert found.barrier.any()  # roads separate neighbours
    crossing = sum(
        1
        for (a, b), hard in zip(found.edges, found.barrier, strict=True)
        if hard and next(g for g in found.groups if a in g.nodes) is not next(g for g in found.groups if b in g.nodes)
    )
    assert crossing > 0.5 * found.barrier.sum(), "most road crossings separate two groups"  # fmt: skip
    print(f"Lujiazui: {sum(n > 0 for n in households.values())} buildings with households "
          f"({sum(households.values())}), {len(found.groups)} groups, {len(fine)} within {LOW}-{HIGH} "
          f"({min(g.households for g in fine)}-{max(g.households for g in fine)}), "
          f"{len(whole)} single buildings above {HIGH} (micro-grids of their own), {len(isolated)} isolated below "
          f"{LOW} ({', '.join(str(g.households) for g in isolated)}), {seconds:.2f} s")  # fmt: skip
    again = suggest_partition(parent, buildings, LOW, HIGH, roads=roads, parent_code="310115001001001")
    assert [g.buildings for g in again.groups] == [g.buildings for g in found.groups]  # deterministic


def _street(road: bool):
    """Two rows of four houses (20 households each), 33 m apart, 38 m between houses; a road between the rows."""
    x0, y0 = 121.5, 31.2
    lon = np.tile(x0 + 0.0002 + 0.0004 * np.arange(4), 2)
    lat = np.repeat([y0 + 0.0002, y0 + 0.0005], 4)
    buildings = {"id": list(range(8)), "lon": lon, "lat": lat, "households": [20] * 8}
    parent = shapely.box(x0, y0, x0 + 0.0016, y0 + 0.0007)
    roads = [shapely.LineString([(x0 - 0.001, y0 + 0.00035), (x0 + 0.003, y0 + 0.00035)])] if road else None
    return parent, buildings, roads


def test_road_edges_are_respected():
    parent, buildings, roads = _street(road=True)
    found = suggest_partition(parent, buildings, LOW, HIGH, roads=roads)
    _check_partition(found, buildings, parent)
    rows = [{buildings["lat"][b] for b in g.buildings} for g in found.groups]
    assert all(len(r) == 1 for r in rows), f"a group crosses the road: {[g.buildings for g in found.groups]}"
    assert not found.reported and len(found.groups) == 4
    _, _, no_roads = _street(road=False)
    free = suggest_partition(parent, buildings, LOW, HIGH, roads=no_roads)
    assert any(len({buildings["lat"][b] for b in g.buildings}) == 2 for g in free.groups)  # the road mattered


def test_empty_buildings_join_a_neighbour_and_isolated_clusters_are_reported():
    parent, buildings, roads = _street(road=True)
    buildings["households"] = [20, 20, 20, 20, 5, 5, 5, 0]  # north row: 15, and the south row's groups are full
    found = suggest_partition(parent, buildings, LOW, 40, roads=roads)
    _check_partition(found, buildings, parent)
    assert sorted(b for g in found.groups for b in g.buildings) == list(range(8))
    assert [(g.buildings, g.households, g.problem) for g in found.reported] == [([4, 5, 6, 7], 15, "below")]
    assert sorted(g.households for g in found.groups) == [15, 40, 40]
    crossed = suggest_partition(parent, buildings, LOW, 60, roads=roads)  # room to take the north row across
    assert not crossed.reported and sorted(g.households for g in crossed.groups) == [40, 55]


def test_region_growing_against_max_p():
    """spopt's max-p (floor only) on the same adjacency: we find about as many regions, and all within the cap."""
    from libpysal.weights import W
    from spopt.region import MaxPHeuristic

    rng = np.random.default_rng(14)
    lon = 121.5 + rng.uniform(0, 0.004, 60)
    lat = 31.2 + rng.uniform(0, 0.003, 60)
    households = rng.integers(5, 40, 60)
    buildings = {"id": list(range(60)), "lon": lon, "lat": lat, "households": households.tolist()}
    parent = shapely.box(121.5, 31.2, 121.504, 31.203)
    found = suggest_partition(parent, buildings, LOW, HIGH)
    _check_partition(found, buildings, parent)
    neighbours = {k: [] for k in range(60)}
    for a, b in found.edges:
        neighbours[int(a)].append(int(b))
        neighbours[int(b)].append(int(a))
    frame = gpd.GeoDataFrame({"households": households.astype(float)}, geometry=gpd.points_from_xy(lon, lat), crs=4326)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.random.seed(14)
        model = MaxPHeuristic(frame, W(neighbours), ["households"], "households", LOW, top_n=2)
        model.solve()
    max_p = model.p
    assert len(found.groups) >= 0.8 * max_p, (len(found.groups), max_p)
    assert not found.reported


@pytest.fixture
def demo_view(demo_db, tmp_path):
    registry = Registry(open_store(copy_demo(demo_db, tmp_path)))
    return registry, ScopedRegistry(registry, Scope.everything(), SYSTEM)


def test_demo_grid_applied_into_the_change_set_passes_the_rules_and_keeps_codes(demo_view):
    registry, view = demo_view
    before = registry.areas(parent_code=GRID)["code"].tolist()
    preview = suggest_micro_grids(view, GRID)
    assert registry.store.areas(registry.current_generation(), parent_code=GRID)  # a preview writes nothing
    applied = suggest_micro_grids(view, GRID, apply=True)
    draft = applied["generation"]
    rows = registry.store.areas(draft, parent_code=GRID)
    assert sorted(r["code"] for r in rows) == sorted(f["properties"]["code"] for f in applied["features"])
    assert [f["properties"]["households"] for f in applied["features"]] == [
        f["properties"]["households"] for f in preview["features"]
    ]
    kept = applied["summary"]["kept"]
    assert kept and set(kept) <= set(before)
    new = applied["summary"]["new"]
    assert all(c > max(before) for c in new)
    found = check_area(view, GRID, "draft")
    bad = [f for f in found["failures"] if f.rule in ("overlap", "gap", "outside_parent", "sliver", "households")]
    assert bad == [] and found["errors"] == 0, [f.message for f in found["failures"]]
    rerun = suggest_micro_grids(view, GRID, apply=True)
    assert [f["properties"]["code"] for f in rerun["features"]] == [
        f["properties"]["code"] for f in applied["features"]
    ]
    assert rerun["summary"]["new"] == [] and rerun["summary"]["retired"] == []
    logged, _ = entries(registry.store.engine, object_type="area", object_id=GRID)
    assert [e["action"] for e in logged].count("suggest") == 2


def test_bad_range_and_not_a_grid(demo_view):
    from core.errors import InvalidInputError

    registry, view = demo_view
    with pytest.raises(InvalidInputError):
        suggest_micro_grids(view, GRID, low=50, high=20)
    with pytest.raises(InvalidInputError):
        suggest_micro_grids(view, "510104001001")  # a community


def test_compound_walls_are_respected_like_roads():
    parent, buildings, _ = _street(road=False)
    x0, y0 = 121.5, 31.2
    compound = shapely.box(x0 - 0.001, y0 + 0.00035, x0 + 0.003, y0 + 0.001)  # the north row's compound
    found = suggest_partition(parent, buildings, LOW, HIGH, walls=[compound])
    _check_partition(found, buildings, parent)
    assert all(len({buildings["lat"][b] for b in g.buildings}) == 1 for g in found.groups)


def test_a_short_group_joins_a_neighbour_across_empty_buildings():
    """West→east: 20 households, an empty building (a shop), 40, 40: the 20 join the 40 beyond the shop."""
    x0, y0 = 121.5, 31.2
    lon = x0 + 0.0002 + 0.0004 * np.arange(4)
    buildings = {"id": [1, 2, 3, 4], "lon": lon, "lat": np.full(4, y0 + 0.0002), "households": [20, 0, 40, 40]}
    parent = shapely.box(x0, y0, x0 + 0.0016, y0 + 0.0004)
    found = suggest_partition(parent, buildings, LOW, HIGH)
    _check_partition(found, buildings, parent)
    assert [(g.buildings, g.households, g.problem) for g in found.groups] == [([1, 2, 3], 60, None), ([4], 40, None)]


def test_a_building_above_the_ceiling_is_its_own_micro_grid_with_a_recorded_waiver(demo_view):
    """一楼一格: a 150-household tower in the demo grid becomes one micro-grid, its households rule waived on apply."""
    from boundaries.rule_waivers import check_publish, publish

    registry, view = demo_view
    store = registry.store
    grid = registry.area(GRID).geometry
    rows = store.buildings(bbox=shapely.bounds(grid).tolist())
    rows = [r for r in rows if grid.covers(shapely.Point(r["lon"], r["lat"]))]
    tower = rows[len(rows) // 2]["id"]
    with store.transaction() as conn:
        assert store.update_one(conn, "buildings", tower, {"households": 150})
    households = {r["id"]: r["households"] for r in store.buildings(bbox=shapely.bounds(grid).tolist())}
    preview = suggest_micro_grids(view, GRID)
    above = [f["properties"] for f in preview["features"] if f["properties"]["problem"] == "above"]
    assert len(above) == 1 and [b for b in above[0]["building_ids"] if households[b] > 0] == [tower]
    reason = above[0]["reason"]
    assert reason == (
        "单栋楼 150 户，超过上限 100 户：整栋为一个微网格，按单元分配网格员 "
        "one building of 150 households, above the ceiling 100: the whole building is one micro-grid, "
        "its workers assigned by unit"
    )
    assert above[0]["waiver"] is True and preview["summary"]["whole_buildings"] == 1
    assert [(r["problem"], r["reason"]) for r in preview["summary"]["reported"]] == [("above", reason)]
    code = above[0]["code"]
    assert store.waivers(codes=[code]) == []  # a preview writes nothing

    applied = suggest_micro_grids(view, GRID, apply=True)
    code = next(f["properties"]["code"] for f in applied["features"] if f["properties"]["problem"] == "above")
    waivers = store.waivers(codes=[code])
    assert [(w["rule"], w["reason"]) for w in waivers] == [("households", reason)]
    assert applied["summary"]["waived"] == [code]
    found = check_area(view, GRID, "draft")
    mine = [f for f in found["failures"] if f.rule == "households"]
    assert [(f.codes, f.measure["households"], f.waived) for f in mine] == [((code,), 150, True)]
    assert found["errors"] == 0, [f.message for f in found["failures"] if not f.waived]
    assert check_publish(view) == []  # publishable
    logged, _ = entries(store.engine, object_type="rule_waiver", object_id=str(waivers[0]["id"]))
    assert [(e["action"], e["after"]["area_code"], e["after"]["rule"]) for e in logged] == [
        ("waive", code, "households")
    ]
    again = suggest_micro_grids(view, GRID, apply=True)  # the waiver is there already: kept, not doubled
    assert again["summary"]["waived"] == [code] and len(store.waivers(codes=[code])) == 1
    assert publish(view) > 0


def test_a_lower_ceiling_asked_for_waives_nothing_the_rules_would_not_flag(demo_view):
    """Outside test: ``{"low": 1, "high": 1, "apply": true}`` waived the households rule for every micro-grid (12-54
    households, below the configured floor of 30) and the change set published. Only a building above the
    configured ceiling is waived."""
    registry, view = demo_view
    found = suggest_micro_grids(view, GRID, apply=True, low=1, high=1)
    assert found["summary"]["waived"] == []
    assert any(f["properties"]["waiver"] for f in found["features"])  # whole buildings above the asked ceiling
    logged, _ = entries(registry.store.engine, object_type="rule_waiver")
    assert logged == []
    failures = check_area(view, GRID, "draft")
    assert failures["errors"] > 0  # the micro-grids below the configured floor are still flagged


def _tower(registry, households=150) -> int:
    grid = registry.area(GRID).geometry
    rows = [r for r in registry.store.buildings(bbox=shapely.bounds(grid).tolist())
            if grid.covers(shapely.Point(r["lon"], r["lat"]))]  # fmt: skip
    tower = rows[len(rows) // 2]["id"]
    with registry.store.transaction() as conn:
        assert registry.store.update_one(conn, "buildings", tower, {"households": households})
    return tower


def test_a_waiver_made_in_a_change_set_goes_with_it(demo_view):
    """Outside test: a waiver recorded in a change set that was then discarded stayed and waived the rule for the
    next change set (and the demo rebuild kept every waiver for codes of areas it replaced)."""
    from boundaries.editing import discard, publish

    registry, view = demo_view
    store = registry.store
    _tower(registry)
    applied = suggest_micro_grids(view, GRID, apply=True)
    (code,) = applied["summary"]["waived"]
    assert [w["change_set"] for w in store.waivers(codes=[code])] == [applied["generation"]]
    assert store.waivers(codes=[code], generation=registry.current_generation()) == []  # not in force there
    discard(view)
    assert store.waivers(codes=[code]) == []  # discarded with its change set
    applied = suggest_micro_grids(view, GRID, apply=True)
    published = publish(view)
    assert [w["change_set"] for w in store.waivers(codes=[code], generation=published)] == [None]  # now in force
    from boundaries.demo import load_demo

    load_demo(registry)
    assert store.waivers() == []  # the demo rebuild replaces the areas: their waivers go too
