"""Planning rules (boundaries/rules.py): each rule fails on a small drawing and passes once it is fixed; the Hong
Kong DCCA set against a brute-force check; waivers audited; the rules API's scope and bad input."""

from __future__ import annotations

import itertools

import geopandas as gpd
import numpy as np
import pytest
import shapely

from boundaries import rules
from boundaries.editing import update_area
from boundaries.scope import ScopedRegistry
from core import audit
from core.audit import SYSTEM
from core.scope import Scope
from geo.crs import geometries_from_wgs84, geometries_to_wgs84, metric_crs
from geo.plane import LocalPlane, metres_per_degree
from tests.conftest import private_app, shared_file

X0, Y0 = 0.0, 0.0  # metres east and north of 105.0 E, 30.65 N
#: Fixtures are drawn in metres with edges straight in longitude and latitude, as stored and checked.
CRS = LocalPlane((105.0, 30.65, 105.0, 30.65))
NONE = rules.RuleSettings(household_ranges={})


def _wgs(*geoms):
    return list(geometries_to_wgs84(np.array(geoms, dtype=object), CRS))


def _box(x, y, w, h):
    return shapely.box(X0 + x, Y0 + y, X0 + x + w, Y0 + y + h)


PARENT = _wgs(_box(0, 0, 200, 100))[0]


def _rules(children, buildings=None, settings=NONE, level="micro_grid", parent=PARENT):
    codes = [f"C{i}" for i in range(len(children))]
    found = rules.check_children("P", parent, codes, level, _wgs(*children), buildings, settings)
    return sorted((f.rule, f.codes, f.measure.get("kind"), round(f.measure.get("area_m2", 0), 1)) for f in found)


def test_a_clean_coverage_passes():
    assert _rules([_box(0, 0, 100, 100), _box(100, 0, 100, 100)]) == []


def test_overlap_fails_then_passes_once_fixed():
    assert _rules([_box(0, 0, 110, 100), _box(100, 0, 100, 100)]) == [("overlap", ("C0", "C1"), "overlap", 1000.0)]
    assert _rules([_box(0, 0, 100, 100), _box(100, 0, 100, 100)]) == []


def test_gap_fails_then_passes_once_fixed():
    assert _rules([_box(0, 0, 90, 100), _box(100, 0, 100, 100)]) == [("gap", ("P",), "gap", 1000.0)]


def test_outside_parent_fails():
    found = _rules([_box(0, 0, 100, 100), _box(100, 0, 120, 100)])
    assert found == [("outside_parent", ("C1",), "outside_parent", 2000.0)]


def test_small_pieces_are_slivers_not_ignored():
    settings = rules.RuleSettings(sliver_m2=50.0, household_ranges={})
    found = _rules([_box(0, 0, 100.2, 100), _box(100, 0, 100, 100)], settings=settings)
    assert found == [("sliver", ("C0", "C1"), "overlap", 20.0)]
    found = _rules([_box(0, 0, 99.9, 100), _box(100, 0, 100, 100)], settings=settings)
    assert found == [("sliver", ("P",), "gap", 10.0)]
    assert _rules([_box(0, 0, 100.2, 100), _box(100, 0, 100, 100)])[0][0] == "overlap"  # 20 m² ≥ the default 1 m²


def test_invalid_ring_is_reported_with_the_place():
    bow = shapely.Polygon([(X0, Y0), (X0 + 100, Y0 + 100), (X0 + 100, Y0), (X0, Y0 + 100)])
    codes = ["C0", "C1"]
    found = rules.check_children("P", PARENT, codes, "grid", _wgs(bow, _box(100, 0, 100, 100)), settings=NONE)
    invalid = [f for f in found if f.rule == "invalid_ring"]
    assert [f.codes for f in invalid] == [("C0",)] and "Self-intersection" in invalid[0].measure["reason"]
    assert invalid[0].geometry.geom_type == "Point"
    fixed = rules.check_children("P", PARENT, codes, "grid", _wgs(_box(0, 0, 100, 100), _box(100, 0, 100, 100)))
    assert [f for f in fixed if f.rule == "invalid_ring"] == []


def _buildings(footprints, households):
    wgs = _wgs(*footprints)
    points = shapely.point_on_surface(np.array(wgs, dtype=object))
    return {
        "id": list(range(1, len(wgs) + 1)),
        "geometry": wgs,
        "lon": shapely.get_x(points).tolist(),
        "lat": shapely.get_y(points).tolist(),
        "households": households,
    }


def test_buildings_split_or_in_no_micro_grid():
    cells = [_box(0, 0, 100, 100), _box(100, 0, 100, 100)]
    split = _buildings([_box(80, 10, 40, 10), _box(10, 10, 10, 10), _box(98, 50, 4, 4)], [1, 1, 1])
    found = [(f.rule, f.codes, f.measure["building_id"]) for f in rules.check_children(
        "P", PARENT, ["C0", "C1"], "micro_grid", _wgs(*cells), split, NONE
    ) if f.rule.startswith("building")]  # fmt: skip
    assert found == [("building_split", ("C0", "C1"), 1), ("building_split", ("C0", "C1"), 3)]
    mostly = _buildings([_box(96, 10, 100, 10)], [1])  # 4 % in C0: below the 5 % share, not split
    assert rules.check_children("P", PARENT, ["C0", "C1"], "micro_grid", _wgs(*cells), mostly, NONE) == []
    holed = [_box(0, 0, 100, 100), _box(100, 0, 100, 100).difference(_box(150, 40, 30, 30))]
    lost = _buildings([_box(155, 45, 10, 10)], [1])
    found = rules.check_children("P", PARENT, ["C0", "C1"], "micro_grid", _wgs(*holed), lost, NONE)
    assert sorted(f.rule for f in found) == ["building_unassigned", "gap"]


def test_households_outside_the_range():
    cells = [_box(0, 0, 100, 100), _box(100, 0, 100, 100)]
    homes = _buildings([_box(10, 10, 10, 10), _box(30, 10, 10, 10), _box(150, 10, 10, 10)], [20, 20, 120])
    settings = rules.RuleSettings(household_ranges={"micro_grid": (30, 100)})
    found = rules.check_children("P", PARENT, ["C0", "C1"], "micro_grid", _wgs(*cells), homes, settings)
    assert [(f.codes, f.measure["households"]) for f in found] == [(("C1",), 120)]
    homes["households"] = [20, 20, 90]
    assert rules.check_children("P", PARENT, ["C0", "C1"], "micro_grid", _wgs(*cells), homes, settings) == []
    school = rules.check_children(
        "P", PARENT, ["C0", "C1"], "micro_grid", _wgs(*cells), homes, settings, kinds=["general", "school"]
    )
    assert school == []


def _quarters(lon0, lat0, size, west_shift=0.0):
    """A box of ``size`` degrees and its four quarters, split along a meridian and a parallel (edges straight in
    longitude and latitude, as a planner draws them); ``west_shift`` (degrees) pulls the eastern quarters' west edge
    east, opening a gap along the meridian."""
    mx, my = lon0 + size / 2, lat0 + size / 2
    parent = shapely.box(lon0, lat0, lon0 + size, lat0 + size)
    quarters = [
        shapely.box(lon0, lat0, mx, my),
        shapely.box(mx + west_shift, lat0, lon0 + size, my),
        shapely.box(lon0, my, mx, lat0 + size),
        shapely.box(mx + west_shift, my, lon0 + size, lat0 + size),
    ]
    return parent, quarters


@pytest.mark.parametrize("size", [0.02, 0.2])
def test_a_clean_tiling_with_long_straight_edges_is_clean(size):
    """Outside test: the rules measured on a Gauss–Krüger zone, where an edge straight in longitude and latitude
    bends (4 cm over 2 km); a clean tiling of a 0.02° box had a 41 m² gap and parts outside its parent, at 0.2°
    40,906 m². The quarters' corners on the parent's edges are T-junctions, the case that exposed it."""
    parent, quarters = _quarters(104.0, 30.6, size)
    assert rules.check_children("P", parent, ["A", "B", "C", "D"], "grid", quarters, settings=NONE) == []


def test_a_gap_along_a_long_straight_edge_is_measured_on_the_ground():
    """A 30 cm gap along a 22 km meridian: found, one piece, its area that of a 30 cm strip on the ground."""
    width_deg = 0.3 / float(metres_per_degree(30.7)[0])
    parent, quarters = _quarters(104.0, 30.6, 0.2, west_shift=width_deg)
    found = rules.check_children("P", parent, ["A", "B", "C", "D"], "grid", quarters, settings=NONE)
    assert [(f.rule, f.codes) for f in found] == [("gap", ("P",))]
    length = 0.2 * float(metres_per_degree(30.7)[1])
    assert found[0].measure["area_m2"] == pytest.approx(0.3 * length, rel=2e-3)


def test_hong_kong_dcca_every_overlap_and_gap_of_a_brute_force_check():
    path = shared_file("hongkong/dcca_2001.geojson")
    dcca = gpd.read_file(path).to_crs(4326)
    dcca = dcca[dcca.geometry.notna() & ~dcca.geometry.is_empty].reset_index(drop=True)
    wgs = shapely.make_valid(dcca.geometry.values)
    wgs = np.array([rules._polygonal(g) for g in wgs], dtype=object)
    parent = shapely.union_all(wgs).envelope
    codes = [f"D{i:04d}" for i in range(len(wgs))]
    found = rules.check_children("HK", parent, codes, "community", wgs, settings=NONE)
    overlaps = {f.codes: f.measure["area_m2"] for f in found if f.measure.get("kind") == "overlap"}
    gaps = sorted(f.measure["area_m2"] for f in found if f.measure.get("kind") == "gap")

    # Brute force: every pair intersected as stored (longitude/latitude), each piece measured on its own
    # Gauss–Krüger zone (a piece is small, so the projection's bend of its edges is far below its noise width).
    def measured(geom):
        if geom.is_empty:
            return []
        c = geom.centroid
        metric = geometries_from_wgs84(np.array([geom], dtype=object), metric_crs(c.x, c.y))[0]
        return [p.area for p in rules.noise_free(metric)]

    brute = {}
    for i, j in itertools.combinations(range(len(wgs)), 2):
        if wgs[i].intersects(wgs[j]) and (areas := measured(wgs[i].intersection(wgs[j]))):
            brute[(codes[i], codes[j])] = sum(areas)
    assert set(overlaps) == set(brute)
    assert all(abs(overlaps[k] - brute[k]) < max(1.0, 1e-3 * brute[k]) for k in brute)
    holes = shapely.get_parts(parent.difference(shapely.union_all(wgs)))
    brute_gaps = sorted(a for piece in holes for a in measured(piece))
    assert len(gaps) == len(brute_gaps) and np.allclose(gaps, brute_gaps, rtol=1e-3, atol=1.0)


INSIDE_GRID, OUTSIDE_GRID = "510104001001001", "510104001002001"


@pytest.fixture
def world(demo_db, tmp_path):
    return private_app(demo_db, tmp_path)


def _redraw_overlapping(registry, planner=None):
    """Widen the first micro-grid of the inside grid over its neighbour, in the planner's change set (or the
    command line's when no planner client is given)."""
    codes = registry.areas(parent_code=INSIDE_GRID)["code"].tolist()
    first = registry.area(codes[0]).geometry
    grown = shapely.intersection(first.buffer(0.0002), registry.area(INSIDE_GRID).geometry)
    if planner is None:
        update_area(ScopedRegistry(registry, Scope.everything(), SYSTEM), codes[0], geometry=grown)
    else:
        changed = planner.patch(f"/api/v1/areas/{codes[0]}", json={"geometry": shapely.geometry.mapping(grown)})
        assert changed.status_code == 200, changed.get_json()
    return codes[0]


def test_api_reports_failures_waives_them_and_publish_is_refused_until_then(world):
    app, registry, client = world
    planner, admin = client("planner"), client("admin")
    assert planner.get(f"/api/v1/areas/{INSIDE_GRID}/rules").get_json()["errors"] == 0
    code = _redraw_overlapping(registry, planner)
    answer = planner.get(f"/api/v1/areas/{INSIDE_GRID}/rules?generation=draft").get_json()
    overlaps = [f for f in answer["features"] if f["properties"]["rule"] == "overlap"]
    assert overlaps and all(code in f["properties"]["codes"] for f in overlaps) and answer["errors"] > 0
    assert overlaps[0]["geometry"]["type"] in ("Polygon", "MultiPolygon") and overlaps[0]["properties"]["area_m2"] > 1
    refused = planner.post("/api/v1/generations/draft/publish")
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "rules_failed"
    assert {r["properties"]["rule"] for r in refused.get_json()["error"]["failures"]} >= {"overlap"}
    waived = {}
    for rule in sorted({f["properties"]["rule"] for f in answer["features"]}):
        made = planner.post(f"/api/v1/areas/{code}/waivers", json={"rule": rule, "reason": "临时 temporary"})
        assert made.status_code == 201, made.get_json()
        waived[rule] = made.get_json()["id"]
    again = planner.get(f"/api/v1/areas/{INSIDE_GRID}/rules?generation=draft").get_json()
    assert again["errors"] == 0 and all(f["properties"]["waived"] for f in again["features"])
    entries, _ = audit.entries(registry.store.engine, object_type="rule_waiver")
    assert {e["action"] for e in entries} == {"waive"} and entries[0]["user_name"] == "planner"
    assert planner.post("/api/v1/generations/draft/publish").status_code == 200
    gone = admin.delete(f"/api/v1/areas/{code}/waivers/{waived['overlap']}")
    assert gone.status_code == 200 and audit.entries(registry.store.engine, object_type="rule_waiver")[1] == 1 + len(
        waived
    )
    assert planner.get(f"/api/v1/areas/{INSIDE_GRID}/rules").get_json()["errors"] > 0


def test_api_scope_and_bad_input(world):
    app, registry, client = world
    planner, worker = client("planner"), client("worker")
    assert planner.get(f"/api/v1/areas/{OUTSIDE_GRID}/rules").status_code == 403
    body = {"rule": "gap", "reason": "x"}
    assert planner.post(f"/api/v1/areas/{OUTSIDE_GRID}/waivers", json=body).status_code == 403
    assert worker.post(f"/api/v1/areas/{INSIDE_GRID}/waivers", json=body).status_code == 403
    assert planner.get("/api/v1/areas/nope/rules").status_code == 404
    assert planner.get(f"/api/v1/areas/{INSIDE_GRID}/rules?generation=abc").status_code in (400, 422)
    assert planner.get(f"/api/v1/areas/{INSIDE_GRID}/rules?generation=draft").status_code == 404  # no draft
    assert planner.post(f"/api/v1/areas/{INSIDE_GRID}/waivers", json={"rule": "nope", "reason": "x"}).status_code in (
        400,
        422,
    )
    assert planner.post(f"/api/v1/areas/{INSIDE_GRID}/waivers", json={"rule": "gap"}).status_code in (400, 422)
    assert planner.post(f"/api/v1/areas/{INSIDE_GRID}/waivers", json=body).status_code == 201
    again = planner.post(f"/api/v1/areas/{INSIDE_GRID}/waivers", json=body)
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "conflict"
    assert planner.delete(f"/api/v1/areas/{INSIDE_GRID}/waivers/999").status_code == 404
