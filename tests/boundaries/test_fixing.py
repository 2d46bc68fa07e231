"""The fix tool (boundaries/fixing.py): overlaps, gaps, slivers and parts outside the parent snapped away within the
tolerance, what is beyond it left alone and reported; checked by the rules and by an independent Hausdorff
distance; the Hong Kong DCCA set turned into a valid coverage."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
import shapely.affinity

from boundaries import fixing, rules
from core.errors import InvalidInputError
from geo.crs import geometries_from_wgs84, geometries_to_wgs84, metric_crs
from geo.plane import LocalPlane, metres_per_degree
from tests.conftest import shared_file

X0, Y0 = 0.0, 0.0  # metres east and north of 105.0 E, 30.65 N
#: Fixtures are drawn in metres with edges straight in longitude and latitude, as stored and checked.
CRS = LocalPlane((105.0, 30.65, 105.0, 30.65))
NONE = rules.RuleSettings(household_ranges={})
EPS = 1e-6  # m: floating point of the round trip through WGS84


def _wgs(*geoms):
    return list(geometries_to_wgs84(np.array(geoms, dtype=object), CRS))


def _box(x, y, w, h):
    return shapely.box(X0 + x, Y0 + y, X0 + x + w, Y0 + y + h)


PARENT_M = _box(0, 0, 200, 100)
PARENT = _wgs(PARENT_M)[0]


def _failures(geoms, buildings=None, settings=NONE):
    codes = [f"C{i}" for i in range(len(geoms))]
    found = rules.check_children("P", PARENT, codes, "micro_grid", list(geoms), buildings, settings)
    return sorted((f.rule, f.codes, f.measure.get("kind"), round(f.measure.get("area_m2", 0), 1)) for f in found)


def _hausdorff(old_wgs, new_wgs) -> np.ndarray:
    """Independent of the tool's own measure: GEOS's Hausdorff distance of old and new outline (m), densified."""
    old = geometries_from_wgs84(np.asarray(old_wgs, dtype=object), CRS)
    new = geometries_from_wgs84(np.asarray(new_wgs, dtype=object), CRS)
    return shapely.hausdorff_distance(shapely.boundary(old), shapely.boundary(new), densify=0.1)


def _fix(children, tolerance=1.0):
    """Fix the children (metric) and check what must hold whatever the drawing: moves within the tolerance (the
    tool's measure and an independent one), a valid coverage of every area not left alone, none deleted."""
    wgs = _wgs(*children)
    codes = [f"C{i}" for i in range(len(children))]
    found = fixing.fix_children("P", PARENT, codes, wgs, tolerance)
    assert len(found.geometries) == len(wgs) and not shapely.is_empty(found.geometries).any()
    assert all(m.distance_m <= tolerance for m in found.moves)
    assert (_hausdorff(wgs, found.geometries) <= tolerance + EPS).all()
    left_alone = {n["code"] for n in found.not_fixed}
    kept = np.array([c not in left_alone for c in codes])
    assert shapely.coverage_is_valid(found.geometries[kept])
    aligned = np.isin(codes, found.aligned)
    moved = _hausdorff(np.array(wgs)[aligned], found.geometries[aligned])
    assert (moved < fixing.EPSILON_M).all()  # vertices added, none moved by as much as the tool counts as a move
    for i, code in enumerate(codes):
        if code not in found.fixed and code not in found.aligned:
            assert found.geometries[i] is wgs[i]  # untouched, not rewritten
    return found


def test_overlap_of_half_a_metre_is_removed():
    children = [_box(0, 0, 100.5, 100), _box(100, 0, 100, 100)]
    assert _failures(_wgs(*children)) == [("overlap", ("C0", "C1"), "overlap", 50.0)]
    found = _fix(children)
    assert _failures(found.geometries) == []
    assert len(found.fixed) == 1 and found.not_fixed == []
    assert max(found.max_move_m.values()) == pytest.approx(0.5, abs=1e-6)
    moved = [m for m in found.moves if m.distance_m > 0.4]
    assert len(moved) == 2 and all(m.code == found.fixed[0] for m in moved)  # the two corners of the shared edge


def test_gap_of_30_centimetres_is_closed():
    children = [_box(0, 0, 99.7, 100), _box(100, 0, 100, 100)]
    assert _failures(_wgs(*children)) == [("gap", ("P",), "gap", 30.0)]
    found = _fix(children)
    assert _failures(found.geometries) == []
    assert max(found.max_move_m.values()) == pytest.approx(0.3, abs=1e-6)


def test_sliver_is_removed():
    leaning = shapely.Polygon([(X0, Y0), (X0 + 100, Y0), (X0 + 100.01, Y0 + 100), (X0, Y0 + 100)])
    children = [leaning, _box(100, 0, 100, 100)]
    assert _failures(_wgs(*children)) == [("sliver", ("C0", "C1"), "overlap", 0.5)]
    found = _fix(children)
    assert _failures(found.geometries) == []
    assert max(found.max_move_m.values()) == pytest.approx(0.01, abs=1e-6)


def test_part_outside_the_parent_is_clipped():
    children = [_box(0, 0, 100, 100), _box(100, 0, 100.2, 100)]
    assert _failures(_wgs(*children)) == [("outside_parent", ("C1",), "outside_parent", 20.0)]
    found = _fix(children)
    assert _failures(found.geometries) == [] and "C1" in found.fixed
    assert found.max_move_m["C1"] == pytest.approx(0.2, abs=1e-6)
    assert found.max_move_m.get("C0", 0) == 0  # rewritten at most to match the cleaned shared edge exactly


def test_a_gap_of_30_metres_is_not_closed_at_a_tolerance_of_1_metre():
    children = [_box(0, 0, 70, 100), _box(100, 0, 100, 100)]
    found = _fix(children, tolerance=1.0)
    assert found.fixed == [] and found.moves == [] and found.not_fixed == []
    assert _failures(found.geometries) == [("gap", ("P",), "gap", 3000.0)]


def test_several_faults_at_once_and_the_tolerance_bounds_every_move():
    children = [_box(0, 0, 60.5, 100), _box(60, 0, 69.7, 100), _box(130, 0, 70.2, 100)]
    assert {r for r, *_ in _failures(_wgs(*children))} == {"overlap", "gap", "outside_parent"}
    found = _fix(children, tolerance=1.0)
    assert _failures(found.geometries) == []
    tight = _fix(children, tolerance=0.25)  # the 0.5 m overlap and 0.3 m gap are beyond it; the 0.2 m is not
    assert {n["code"] for n in tight.not_fixed} and all("0.25" in n["reason"] for n in tight.not_fixed)
    assert all(m.distance_m <= 0.25 for m in tight.moves)


def test_an_overlap_beyond_the_tolerance_is_left_alone_and_reported():
    children = [_box(0, 0, 130, 100), _box(100, 0, 100, 100)]  # 30 m overlap
    found = _fix(children, tolerance=1.0)
    assert len(found.not_fixed) == 1 and "30.00" in found.not_fixed[0]["reason"]
    assert "tolerance 1 m" in found.not_fixed[0]["reason"] and "超过容差" in found.not_fixed[0]["reason"]
    assert [r for r, *_ in _failures(found.geometries)] == ["overlap"]  # still reported by the rules


def test_an_area_that_would_vanish_is_refused_not_deleted():
    children = [_box(0, 0, 100, 100), _box(100, 0, 100, 100), _box(300, 0, 10, 10), _box(10, 10, 10, 10)]
    found = _fix(children)
    reasons = {n["code"]: n["reason"] for n in found.not_fixed}
    assert set(reasons) == {"C2", "C3"}
    assert "delete" in reasons["C2"] and "vanish" in reasons["C3"]
    assert found.fixed == []


def test_buildings_and_households_are_unaffected():
    children = [_box(0, 0, 100.5, 100), _box(100, 0, 100, 100)]
    footprints = _wgs(_box(10, 10, 10, 10), _box(150, 10, 10, 10), _box(90, 50, 30, 10))
    points = shapely.point_on_surface(np.array(footprints, dtype=object))
    buildings = {
        "id": [1, 2, 3],
        "geometry": footprints,
        "lon": shapely.get_x(points).tolist(),
        "lat": shapely.get_y(points).tolist(),
        "households": [40, 120, 5],
    }
    settings = rules.RuleSettings(household_ranges={"micro_grid": (30, 100)})
    before = [f for f in _failures(_wgs(*children), buildings, settings) if f[0] != "overlap"]
    found = _fix(children)
    after = _failures(found.geometries, buildings, settings)
    assert after == before and {f[0] for f in after} == {"building_split", "households"}


def test_tolerance_out_of_range_is_refused():
    for bad in (0, 0.001, 51, float("nan"), "x", None):
        with pytest.raises(InvalidInputError):
            fixing.fix_children("P", PARENT, ["C0"], _wgs(_box(0, 0, 10, 10)), bad)


@pytest.fixture(scope="module")
def hong_kong():
    """The 2001 DCCA outlines (WGS84, made valid), their codes, a parent (their envelope) and a metric CRS."""
    dcca = gpd.read_file(shared_file("hongkong/dcca_2001.geojson")).to_crs(4326)
    dcca = dcca[dcca.geometry.notna() & ~dcca.geometry.is_empty].reset_index(drop=True)
    wgs = np.array([fixing._polygonal(g) for g in shapely.make_valid(dcca.geometry.values)], dtype=object)
    parent = shapely.union_all(wgs).envelope
    bounds = shapely.bounds(parent)
    crs = metric_crs((bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2)
    return wgs, [f"D{i:04d}" for i in range(len(wgs))], parent, crs


def _overlap_m2(failures):
    return sum(f.measure["area_m2"] for f in failures if f.measure.get("kind") == "overlap")


def _widest_overlap_m(wgs, crs) -> float:
    """Brute force: twice the largest inscribed circle's radius over every pairwise overlap (m)."""
    metric = geometries_from_wgs84(wgs, crs)
    a, b = shapely.STRtree(metric).query(metric, predicate="intersects")
    pieces = shapely.intersection(metric[a[a < b]], metric[b[a < b]])
    polygons = [p for p in shapely.get_parts(pieces) if p.geom_type == "Polygon" and p.area > 1e-3]
    polygons += [q for p in shapely.get_parts(pieces) if p.geom_type != "Polygon" for q in shapely.get_parts(p)
                 if q.geom_type == "Polygon" and q.area > 1e-3]  # fmt: skip
    return max(2 * shapely.maximum_inscribed_circle(p, 0.1).length for p in polygons)


def test_hong_kong_dcca_becomes_a_valid_coverage_within_the_tolerance(hong_kong):
    """The must-show: a tolerance above the widest overlap (brute force: about 20 m) turns the set into a valid
    coverage, every area moved no more than the tolerance (GEOS's Hausdorff distance, independent of the tool)."""
    wgs, codes, parent, crs = hong_kong
    tolerance = 25.0
    assert _widest_overlap_m(wgs, crs) < tolerance
    assert not shapely.coverage_is_valid(wgs)
    before = rules.check_children("HK", parent, codes, "community", wgs, settings=NONE)
    assert sum(f.measure.get("kind") == "overlap" for f in before) > 100
    found = fixing.fix_children("HK", parent, codes, wgs, tolerance)
    assert found.not_fixed == [] and len(found.fixed) > 300
    assert shapely.coverage_is_valid(found.geometries) and shapely.is_valid(found.geometries).all()
    old, new = geometries_from_wgs84(wgs, crs), geometries_from_wgs84(found.geometries, crs)
    distance = shapely.hausdorff_distance(shapely.boundary(old), shapely.boundary(new), densify=0.25)
    assert distance.max() <= tolerance + EPS
    assert max(found.max_move_m.values()) == pytest.approx(distance.max(), abs=1e-3)  # the tool's own measure
    unchanged = ~np.isin(codes, found.fixed + found.aligned)
    assert all(found.geometries[i] is wgs[i] for i in np.flatnonzero(unchanged))
    after = rules.check_children("HK", parent, codes, "community", found.geometries, settings=NONE)
    assert _overlap_m2(after) == 0 and not [f for f in after if f.rule in ("outside_parent", "invalid_ring")]
    assert shapely.area(new).sum() == pytest.approx(shapely.area(shapely.union_all(old)), rel=1e-3)  # gaps left


def test_hong_kong_at_a_tolerance_below_the_overlaps_fixes_some_and_leaves_the_rest_as_drawn(hong_kong):
    wgs, codes, parent, crs = hong_kong
    tolerance = 1.0
    before = rules.check_children("HK", parent, codes, "community", wgs, settings=NONE)
    found = fixing.fix_children("HK", parent, codes, wgs, tolerance)
    left_alone = {n["code"] for n in found.not_fixed}
    kept = np.array([c not in left_alone for c in codes])
    assert len(found.fixed) >= 50 and all(found.max_move_m[c] > fixing.EPSILON_M for c in found.fixed)
    assert sum("tolerance 1 m" in n["reason"] for n in found.not_fixed) >= 150
    assert all(found.geometries[i] is wgs[i] for i in np.flatnonzero(~kept))  # left alone: as drawn
    old, new = geometries_from_wgs84(wgs, crs), geometries_from_wgs84(found.geometries, crs)
    distance = shapely.hausdorff_distance(shapely.boundary(old), shapely.boundary(new), densify=0.25)
    assert distance.max() <= tolerance + EPS
    after = rules.check_children("HK", parent, codes, "community", found.geometries, settings=NONE)
    for failure in after:  # what overlaps is an area left alone (the others share their edges exactly)
        if failure.measure.get("kind") == "overlap":
            assert set(failure.codes) & left_alone, failure
    assert _overlap_m2(after) < _overlap_m2(before)  # never worse


def _strips(n=8, width=25.0):
    return [_box(k * width, 0, width, 100) for k in range(n)]


@pytest.mark.parametrize("tolerance", [1.0, 10.0, 30.0, 50.0])
def test_a_clean_coverage_is_left_as_it_is_at_any_tolerance(tolerance):
    children = _strips()
    assert _failures(_wgs(*children)) == []
    found = _fix(children, tolerance)
    assert found.fixed == [] and found.moves == [] and found.not_fixed == [] and found.max_move_m == {}


@pytest.mark.parametrize("tolerance", [1.0, 10.0, 50.0])
def test_an_overlap_at_a_large_tolerance_moves_only_what_the_overlap_needs(tolerance):
    children = _strips()
    children[3] = _box(75, 0, 25.5, 100)  # 0.5 m over C4, the rest 25 m strips: narrower than the tolerance
    assert _failures(_wgs(*children)) == [("overlap", ("C3", "C4"), "overlap", 50.0)]
    found = _fix(children, tolerance)
    assert _failures(found.geometries) == [] and found.not_fixed == []
    assert len(found.fixed) == 1 and set(found.fixed) <= {"C3", "C4"}
    assert max(found.max_move_m.values()) == pytest.approx(0.5, abs=1e-6)


def test_a_fix_that_would_move_households_beyond_the_flagged_pieces_is_refused(monkeypatch):
    children = [_box(0, 0, 100.5, 100), _box(100, 0, 50, 100), _box(150, 0, 50, 100)]
    footprints = _wgs(_box(150.2, 40, 10, 10))  # its point lies in C2, 0.2+ m from the C1|C2 edge
    points = _wgs(shapely.Point(X0 + 150.4, Y0 + 45))
    buildings = {"id": [7], "geometry": footprints, "lon": [points[0].x], "lat": [points[0].y], "households": [50]}
    real = fixing._unneeded_nodes_dropped

    def shifting(old, new):  # a fix that also pushes the clean C1|C2 edge 0.8 m into C2
        out = real(old, new)
        x0, y0, x1, y1 = shapely.bounds(old[1])  # C1, in the fix's own metric CRS
        band = shapely.box(x1 - 1, y0 - 1, x1 + 0.8, y1 + 1)
        out[1], out[2] = out[1].union(band.intersection(out[2])), out[2].difference(band)
        return out

    monkeypatch.setattr(fixing, "_unneeded_nodes_dropped", shifting)
    codes = ["C0", "C1", "C2"]
    found = fixing.fix_children("P", PARENT, codes, _wgs(*children), 1.0, buildings=buildings, level="micro_grid")
    reasons = {n["code"]: n["reason"] for n in found.not_fixed}
    assert set(reasons) & {"C1", "C2"} and all("7" in r for r in reasons.values())
    assert "C2" not in found.fixed and "C1" not in found.fixed
    assert [r for r, *_ in _failures(found.geometries)] in ([], ["overlap"])


def test_an_overlap_narrower_than_a_millimetre_is_fixed_into_a_valid_coverage():
    """Outside test: a 1 µm x 100 m overlap passes the rules as noise, and the fix returned the set untouched:
    not a valid coverage. Now the fix makes it one (no vertex moves more than the noise)."""
    children = [_box(0, 0, 100.000001, 100), _box(100, 0, 100, 100)]
    wgs = _wgs(*children)
    assert _failures(wgs) == [] and not shapely.coverage_is_valid(np.array(wgs))
    found = _fix(children)
    assert shapely.coverage_is_valid(found.geometries) and found.not_fixed == []
    assert found.moves == [] and (_hausdorff(wgs, found.geometries) < 1e-5).all()


def _jittered_grid(nx: int, ny: int, seed: int = 1, size: float = 20.0, jitter: float = 0.3):
    """A grid of squares, each with its own jitter of the shared corners: overlaps and gaps at every junction."""
    rng = np.random.default_rng(seed)
    xs, ys = np.arange(nx + 1) * size, np.arange(ny + 1) * size
    cells = []
    for i in range(nx):
        for j in range(ny):
            corners = [(xs[i], ys[j]), (xs[i + 1], ys[j]), (xs[i + 1], ys[j + 1]), (xs[i], ys[j + 1])]
            cells.append(shapely.Polygon([
                (x + rng.uniform(-jitter, jitter) if 0 < x < xs[-1] else x,
                 y + rng.uniform(-jitter, jitter) if 0 < y < ys[-1] else y) for x, y in corners
            ]))  # fmt: skip
    return [shapely.affinity.translate(c, X0, Y0) for c in cells], _box(0, 0, xs[-1], ys[-1])


@pytest.mark.parametrize("tolerance", [0.5, 1.0])
def test_no_point_of_an_edge_moves_more_than_the_tolerance_and_no_crumbs_are_left(tolerance):
    """Outside test (2,000 jittered squares): an edge that swings across a corner moved 0.56 m at a tolerance of
    0.5 m while every vertex stayed within it, and areas were left with detached crumbs of a few cm²."""
    children, parent = _jittered_grid(30, 20)
    wgs = np.array(_wgs(*children))
    codes = [f"C{i:04d}" for i in range(len(wgs))]
    found = fixing.fix_children("P", _wgs(parent)[0], codes, wgs, tolerance)
    old = geometries_from_wgs84(wgs, CRS)
    new = geometries_from_wgs84(found.geometries, CRS)
    for i in np.flatnonzero(~np.isin(codes, [n["code"] for n in found.not_fixed])):
        a, b = shapely.boundary(old[i]), shapely.boundary(new[i])
        dense_a, dense_b = shapely.segmentize(a, 0.01), shapely.segmentize(b, 0.01)
        moved = max(shapely.distance(shapely.points(shapely.get_coordinates(dense_a)), b).max(),
                    shapely.distance(shapely.points(shapely.get_coordinates(dense_b)), a).max())  # fmt: skip
        assert moved <= tolerance + 1e-6, (codes[i], moved)
        assert len(shapely.get_parts(new[i])) == 1, (codes[i], [p.area for p in shapely.get_parts(new[i])])


def test_a_fix_that_moves_nothing_and_leaves_faults_rewrites_nothing():
    """Outside test: a child with a 50 m spike along its neighbour's edge cannot be fixed within 1 m and is left
    alone; the neighbour was still rewritten as "aligned" (a new version in the change set, conflicts for others)."""
    spike = shapely.Polygon([(0, 0), (100, 0), (100, 50), (150, 50), (100, 50), (100, 100), (0, 100)])
    children = [shapely.affinity.translate(spike, X0, Y0), _box(100, 0, 100, 100)]
    wgs = _wgs(*children)
    found = fixing.fix_children("P", PARENT, ["C0", "C1"], wgs, 1.0)
    assert found.fixed == [] and [n["code"] for n in found.not_fixed] == ["C0"]
    assert found.aligned == [] and all(g is w for g, w in zip(found.geometries, wgs, strict=True))


def test_a_gap_along_a_22_km_meridian_is_closed_and_the_result_is_clean_as_stored():
    """Long edges straight in longitude and latitude: the fix works where the rules measure (a plane in which those
    edges stay straight), so closing a 30 cm gap along a 22 km meridian leaves no sliver along the parent's edges."""
    width = 0.3 / float(metres_per_degree(30.7)[0])
    parent = shapely.box(104.0, 30.6, 104.2, 30.8)
    quarters = [shapely.box(104.0, 30.6, 104.1, 30.7), shapely.box(104.1 + width, 30.6, 104.2, 30.7),
                shapely.box(104.0, 30.7, 104.1, 30.8), shapely.box(104.1 + width, 30.7, 104.2, 30.8)]  # fmt: skip
    codes = ["A", "B", "C", "D"]
    assert [f.rule for f in rules.check_children("P", parent, codes, "grid", quarters, settings=NONE)] == ["gap"]
    found = fixing.fix_children("P", parent, codes, np.array(quarters, dtype=object), 1.0)
    assert found.not_fixed == [] and rules.check_children("P", parent, codes, "grid", found.geometries) == []
    assert shapely.coverage_is_valid(found.geometries)
    assert 0.29 < max(found.max_move_m.values()) <= 0.31
    clean = [shapely.box(104.0, 30.6, 104.1, 30.7), *quarters[1:2], *quarters[2:]]
    clean[1], clean[3] = shapely.box(104.1, 30.6, 104.2, 30.7), shapely.box(104.1, 30.7, 104.2, 30.8)
    untouched = fixing.fix_children("P", parent, codes, np.array(clean, dtype=object), 1.0)
    assert untouched.fixed == [] and untouched.aligned == [] and untouched.moves == []


def test_a_road_left_out_between_two_rows_of_micro_grids_is_closed_piece_by_piece():
    """A road 8 m wide between two rows of micro-grids whose junctions do not line up is one gap face along 500 m;
    no single neighbour can fill it within 10 m, so it is cut at every junction and each piece goes to one side."""
    north = [_box(x, 54, w, 46) for x, w in ((0, 120), (120, 90), (210, 140), (350, 150))]
    south = [_box(x, 0, w, 46) for x, w in ((0, 70), (70, 160), (230, 100), (330, 170))]
    parent = _wgs(_box(0, 0, 500, 100))[0]
    wgs = np.array(_wgs(*north, *south))
    codes = [f"C{i}" for i in range(len(wgs))]
    gaps = [f.rule for f in rules.check_children("P", parent, codes, "micro_grid", wgs, settings=NONE)]
    assert gaps == ["gap"]
    found = fixing.fix_children("P", parent, codes, wgs, 10.0)
    assert found.not_fixed == [] and shapely.coverage_is_valid(found.geometries)
    assert rules.check_children("P", parent, codes, "micro_grid", found.geometries, settings=NONE) == []
    assert (_hausdorff(wgs, found.geometries) <= 10.0 + EPS).all()
    assert 7.9 < max(found.max_move_m.values()) <= 8.0 + EPS
