"""History (boundaries/history.py) and lineage (boundaries/lineage.py): the diff of two generations equals a
brute-force comparison done here (area by area with shapely equals / symmetric difference, building by building
with shapely contains on the exact polygons, the lowest code on ties), on a drawn street with a split, a merge, a
reshape, an add and a remove, and on the demo street redrawn; lineage shares sum to 1."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely

from boundaries import history, lineage
from boundaries.editing import create_area, retire_area, update_area
from boundaries.registry import Registry
from boundaries.scope import ScopedRegistry
from boundaries.storage import open_store
from core.audit import SYSTEM
from core.errors import InvalidInputError, NotFoundError, OutOfScopeError
from core.scope import Scope
from geo.crs import geometries_to_wgs84
from tests.conftest import copy_demo

X0, Y0 = 500_000.0, 3_392_000.0  # EPSG:4544 (CGCS2000 GK CM 105E), near 105.0 E, 30.65 N
METRIC = "EPSG:4544"


def _wgs(geom):
    return geometries_to_wgs84(np.array([geom], dtype=object), METRIC)[0]


def _box(x0, x1, y0=0, y1=100):
    return _wgs(shapely.box(X0 + x0, Y0 + y0, X0 + x1, Y0 + y1))


#: Generation 1: micro-grids of grid G along x (metres), and of grid K (no buildings) above it.
FIRST = {
    "G": {"A": (0, 100), "B": (100, 200), "C": (200, 250), "D": (250, 300), "E": (300, 400), "F": (400, 500)},
    "K": {"X": (0, 250), "Y": (250, 500)},
}
#: Buildings: x of the point (on y = 50) and households; x = 300 lies on an edge in both generations.
BUILDINGS = [(25, 40), (50, 30), (75, 35), (150, 60), (205, 20), (225, 45), (275, 50), (300, 33), (350, 70), (450, 55)]


def _view(registry, roots=None):
    scope = Scope.everything() if roots is None else Scope(frozenset(roots))
    return ScopedRegistry(registry, scope, SYSTEM)


def _publish(registry) -> int:
    return registry.publish(SYSTEM)


@pytest.fixture
def street(registry):
    """Two published generations: A split (A2 added), C and D merged into C, B reshaped, E renamed, F removed
    and H added in its place; in K (no buildings) X grown over part of Y."""
    view = _view(registry)
    create_area(view, "S", "community", "街道", None, _box(0, 500, 0, 200))
    create_area(view, "G", "grid", "网格G", "S", _box(0, 500))
    create_area(view, "K", "grid", "网格K", "S", _box(0, 500, 100, 200))
    for grid, children in FIRST.items():
        y = (0, 100) if grid == "G" else (100, 200)
        for code, (x0, x1) in children.items():
            create_area(view, code, "micro_grid", f"微网格{code}", grid, _box(x0, x1, *y))
    rows = []
    for i, (x, households) in enumerate(BUILDINGS):
        foot = _wgs(shapely.box(X0 + x - 2, Y0 + 48, X0 + x + 2, Y0 + 52))
        point = _wgs(shapely.Point(X0 + x, Y0 + 50))
        rows.append({"name": f"楼{i}", "address": f"路{i}号", "households": households, "lon": point.x, "lat": point.y})
        rows[-1] |= {
            "geometry": shapely.to_wkb(foot),
            **dict(zip(("minx", "miny", "maxx", "maxy"), foot.bounds, strict=True)),
        }
    with registry.store.transaction() as conn:
        registry.store.insert_rows(conn, "buildings", rows)
    first = _publish(registry)
    update_area(view, "A", geometry=_box(0, 50))
    create_area(view, "A2", "micro_grid", "微网格A2", "G", _box(50, 100))
    update_area(view, "B", geometry=_box(100, 210))
    retire_area(view, "D")
    update_area(view, "C", geometry=_box(210, 300))
    update_area(view, "E", name="微网格E（新名）")
    retire_area(view, "F")
    create_area(view, "H", "micro_grid", "微网格H", "G", _box(400, 500))
    update_area(view, "X", geometry=_box(0, 300, 100, 200))
    update_area(view, "Y", geometry=_box(300, 500, 100, 200))
    second = _publish(registry)
    return registry, first, second


# -- the brute force ------------------------------------------------------------------------------------------
def _frame(registry, generation, level):
    return registry.areas(level=level, generation=generation).set_index("code")


def _holder(frame, point) -> str:
    """The area holding a point: the one whose interior contains it, else the lowest code covering it."""
    inside = [c for c, g in zip(frame.index, frame.geometry, strict=True) if shapely.contains(g, point)]
    if len(inside) == 1:
        return inside[0]
    if inside:
        return ""  # an overlap: in several
    covering = sorted(c for c, g in zip(frame.index, frame.geometry, strict=True) if shapely.covers(g, point))
    return covering[0] if covering else ""


def _brute(registry, old, new, level):
    """Everything the diff reports at one level (no parent), by plain shapely calls."""
    before, after = _frame(registry, old, level), _frame(registry, new, level)
    common = sorted(set(before.index) & set(after.index))
    reshaped = {}
    for code in common:
        a, b = before.at[code, "geometry"], after.at[code, "geometry"]
        if not shapely.equals(a, b):
            am, bm = (geometries_from_4544(g) for g in (a, b))
            try:
                sym = am.symmetric_difference(bm).area
            except shapely.errors.GEOSException:  # valid in WGS84, crossing itself by a hair once projected
                sym = shapely.make_valid(am).symmetric_difference(shapely.make_valid(bm)).area
            reshaped[code] = (round(am.area, 2), round(bm.area, 2), round(sym, 2))
    changed = {
        code: {k for k in ("name", "kind", "parent_code") if before.at[code, k] != after.at[code, k]} for code in common
    }
    buildings = pd.DataFrame(registry.store.buildings(geometry=False))
    points = shapely.points(buildings["lon"], buildings["lat"])
    was = [_holder(before, p) for p in points]
    now = [_holder(after, p) for p in points]
    pairs = {}
    for w, n, h in zip(was, now, buildings["households"], strict=True):
        if w and n:
            pairs.setdefault((w, n), [0, 0])
            pairs[(w, n)][0] += 1
            pairs[(w, n)][1] += int(h)
    split = {w: sorted(n for (w2, n) in pairs if w2 == w) for (w, _n) in pairs}
    merged = {n: sorted(w for (w, n2) in pairs if n2 == n) for (_w, n) in pairs}
    moved = sorted(
        (int(i), w, n, int(h))
        for i, w, n, h in zip(buildings["id"], was, now, buildings["households"], strict=True)
        if w != n
    )
    return {
        "added": sorted(set(after.index) - set(before.index)),
        "removed": sorted(set(before.index) - set(after.index)),
        "reshaped": reshaped,
        "changed": {c: k for c, k in changed.items() if k},
        "split": {w: ns for w, ns in split.items() if len(ns) > 1},
        "merged": {n: ws for n, ws in merged.items() if len(ws) > 1},
        "moved": moved,
        "pairs": pairs,
    }


def geometries_from_4544(geom):
    from geo.crs import geometries_from_wgs84

    return geometries_from_wgs84(np.array([geom], dtype=object), METRIC)[0]


def _reported(found: history.Diff, level):
    at = lambda entries: [e for e in entries if e["level"] == level]  # noqa: E731
    return {
        "added": [e["code"] for e in at(found.added)],
        "removed": [e["code"] for e in at(found.removed)],
        "reshaped": {
            e["code"]: (e["area_before_m2"], e["area_after_m2"], e["sym_diff_m2"]) for e in at(found.reshaped)
        },
        "changed": {e["code"]: set(e["changes"]) for e in at(found.changed)},
        "split": {e["code"]: [p["code"] for p in e["into"]] for e in at(found.split)},
        "merged": {e["code"]: [p["code"] for p in e["from"]] for e in at(found.merged)},
    }


def _assert_equal_to_brute_force(registry, old, new, level):
    found = history.diff(_view(registry), old, new, level=level)
    expected = _brute(registry, old, new, level)
    got = _reported(found, level)
    for key in ("added", "removed", "changed", "split", "merged"):
        assert got[key] == expected[key], key
    assert got["reshaped"].keys() == expected["reshaped"].keys()
    for code, figures in expected["reshaped"].items():
        assert got["reshaped"][code] == pytest.approx(figures, abs=0.02), code
    moved = sorted((b["id"], b["from_code"], b["to_code"], b["households"]) for b in found.buildings_moved)
    assert found.moved_level == level and moved == expected["moved"]
    for entry in found.split:  # the parts' figures are the buildings' own
        for part in entry["into"]:
            assert [part["buildings"], part["households"]] == expected["pairs"][(entry["code"], part["code"])]
    return found, expected


# -- tests ----------------------------------------------------------------------------------------------------
def test_diff_equals_brute_force_on_a_drawn_street(street):
    registry, first, second = street
    found, expected = _assert_equal_to_brute_force(registry, first, second, "micro_grid")
    # the fixture's story, so the brute force is known to have something to find
    assert expected["added"] == ["A2", "H"] and expected["removed"] == ["D", "F"]
    assert set(expected["reshaped"]) == {"A", "B", "C", "X", "Y"} and expected["changed"] == {"E": {"name"}}
    assert expected["split"] == {"A": ["A", "A2"], "C": ["B", "C"]}
    assert expected["merged"] == {"B": ["B", "C"], "C": ["C", "D"]}
    codes = {b[0]: (b[1], b[2]) for b in expected["moved"]}
    assert len(codes) == 5 and ("D", "C") in codes.values() and ("F", "H") in codes.values()
    assert found.as_dict()["counts"]["households_moved"] == sum(b[3] for b in expected["moved"])
    x = next(e for e in found.reshaped if e["code"] == "X")
    assert x["area_before_m2"] == pytest.approx(25_000, abs=1) and x["sym_diff_m2"] == pytest.approx(5_000, abs=1)


def test_diff_of_every_level_and_under_a_parent(street):
    registry, first, second = street
    everything = history.diff(_view(registry), first, second)
    assert everything.levels == ["community", "grid", "micro_grid"] and everything.moved_level == "micro_grid"
    assert [e["code"] for e in everything.changed] == ["E"], (
        everything.changed
    )  # S has no parent in either: not "reparented"
    assert everything.as_dict()["added"][0]["parent_code"] == "G"
    under = history.diff(_view(registry), first, second, parent="K")
    assert {e["code"] for e in under.reshaped} == {"X", "Y"} and under.buildings_moved == []
    assert under.added == [] and under.split == []
    under_g = history.diff(_view(registry), first, second, parent="G", level="micro_grid")
    assert [b["from_code"] for b in under_g.buildings_moved] == [b["from_code"] for b in everything.buildings_moved]


def test_geojson_has_both_sides_coloured_by_change(street):
    registry, first, second = street
    found = history.diff(_view(registry), first, second, level="micro_grid")
    features = found.features()["features"]
    change = {(f["properties"]["side"], f["properties"].get("code")): f["properties"]["change"] for f in features}
    assert change[("before", "D")] == "removed" and change[("after", "H")] == "added"
    assert change[("before", "A")] == "split" and change[("after", "C")] == "merged"
    assert change[("after", "E")] == "changed" and change[("after", "X")] == "reshaped"
    assert sum(f["properties"]["change"] == "moved" for f in features) == len(found.buildings_moved)


def test_bad_input_is_refused(street):
    registry, first, second = street
    view = _view(registry)
    with pytest.raises(InvalidInputError):
        history.diff(view, first, first)
    with pytest.raises(NotFoundError):
        history.diff(view, first, 999)
    with pytest.raises(NotFoundError):
        history.diff(view, first, "draft")  # no change set open
    with pytest.raises(InvalidInputError):
        history.diff(view, first, second, parent="G", level="grid")  # not below the parent
    with pytest.raises(InvalidInputError):
        history.diff(view, first, second, level="block")
    with pytest.raises(NotFoundError):
        history.diff(view, first, second, parent="nowhere")


def test_a_restricted_caller_sees_only_their_areas(street):
    registry, first, second = street
    view = _view(registry, ["K"])
    found = history.diff(view, first, second)
    assert {e["code"] for e in found.reshaped} == {"X", "Y"}
    assert found.added == found.removed == found.split == found.merged == found.buildings_moved == []
    assert {code for _side, code in found.geometries} == {"K", "X", "Y"}  # K: the caller's own grid
    with pytest.raises(OutOfScopeError):
        history.diff(view, first, second, parent="G")
    gview = _view(registry, ["G"])
    moved = history.diff(gview, first, second).buildings_moved
    assert moved and all(b["from_code"] and b["to_code"] for b in moved)


def test_the_callers_change_set_can_be_compared(street):
    registry, _first, second = street
    view = _view(registry)
    update_area(view, "E", geometry=_box(300, 420))
    update_area(view, "H", geometry=_box(420, 500))
    found = history.diff(view, second, "draft", level="micro_grid")
    assert {e["code"] for e in found.reshaped} == {"E", "H"}
    assert [(b["from_code"], b["to_code"]) for b in found.buildings_moved] == []  # no building between 400 and 420
    update_area(view, "E", geometry=_box(300, 460))
    update_area(view, "H", geometry=_box(460, 500))
    again = history.diff(view, second, "draft", level="micro_grid")  # a draft is not cached: the new drawing counts
    assert [(b["from_code"], b["to_code"]) for b in again.buildings_moved] == [("H", "E")]


def test_lineage_shares_by_households_and_by_area(street):
    registry, first, second = street
    step = lineage.links(registry, first, second, "micro_grid")
    for code, shares in step.items():
        assert sum(shares.values()) == pytest.approx(1.0), code
    brute = _brute(registry, first, second, "micro_grid")["pairs"]
    for (old, new), (_count, households) in brute.items():
        total = sum(h for (o, _n), (_c, h) in brute.items() if o == old)
        assert step[old][new] == pytest.approx(households / total)
    assert step["X"] == {"X": pytest.approx(1.0)}  # no buildings: by area
    assert step["Y"] == {"X": pytest.approx(0.2), "Y": pytest.approx(0.8)}
    view = _view(registry)
    a2 = lineage.lineage(view, "A2")
    assert a2["generation"] == second and a2["descendants"] == []
    (back,) = a2["ancestors"]
    assert back["generation"] == first and [a["code"] for a in back["areas"]] == ["A"]
    assert back["areas"][0]["share"] == pytest.approx(35 / (40 + 30 + 35))
    d = lineage.lineage(view, "D", first)
    assert d["ancestors"] == [] and [a["code"] for a in d["descendants"][0]["areas"]] == ["C"]
    assert d["descendants"][0]["areas"][0]["links"] == [{"code": "D", "share": 1.0}]
    with pytest.raises(NotFoundError):
        lineage.lineage(view, "nowhere")
    with pytest.raises(OutOfScopeError):
        lineage.lineage(_view(registry, ["K"]), "A2")


def test_demo_street_redrawn_equals_brute_force(demo_db, tmp_path):
    """The demo street with two micro-grids of a grid merged and a third redrawn over its neighbour."""
    registry = Registry(open_store(copy_demo(demo_db, tmp_path)))
    view = _view(registry)
    first = registry.current_generation()
    grid = "510104001001001"
    children = registry.areas(parent_code=grid)
    a, b, c = children["code"].iloc[:3]
    ga, gb, gc = (children.set_index("code").at[k, "geometry"] for k in (a, b, c))
    retire_area(view, b)
    update_area(view, a, geometry=shapely.union(ga, gb))
    moved = shapely.intersection(gc, shapely.buffer(shapely.union(ga, gb), 0.0003))
    update_area(view, c, geometry=shapely.difference(gc, moved))
    update_area(view, a, geometry=shapely.union_all([ga, gb, moved]))
    second = _publish(registry)
    found, expected = _assert_equal_to_brute_force(registry, first, second, "micro_grid")
    assert expected["removed"] == [b] and a in expected["merged"] and expected["moved"]
    step = lineage.links(registry, first, second, "micro_grid")
    assert all(sum(s.values()) == pytest.approx(1.0) for s in step.values())
