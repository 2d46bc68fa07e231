"""Suggested micro-grids (建议微网格): a partition of a grid's buildings into contiguous groups of households.

:func:`suggest_partition` (pure, no storage) works on the buildings whose point lies in the parent:

1. **Cells** (:mod:`boundaries.building_cells`). Each building point (buildings on the same point are one node)
   gets the Voronoi cell of its point and of points along its footprint's outline, clipped to the parent in the
   local plane (:mod:`geo.plane`): the cells cover the parent exactly with shared edges (``coverage_is_valid``).
2. **Adjacency.** Two buildings are neighbours when their cells share a boundary of positive length; the pair is
   *across a barrier* when the segment between their points crosses a road centre line or a compound wall
   (outline of a compound polygon).
3. **Region growing** (max-p style, with both bounds): from the building with the fewest free neighbours, a group
   takes the free neighbour closest to its centre that keeps it at or under ``high``, until it reaches ``low``;
   only neighbours on the same side of every barrier are used. Groups that cannot reach ``low`` there are merged
   into a neighbouring group (across a barrier if need be) when the sum stays under ``high``, or merged and
   split again in two contiguous groups within the range (a cut of a spanning tree), or merged with a
   neighbouring short group. What still cannot reach ``low`` (an isolated cluster) stays a group and is
   *reported*; a single building above ``high`` is a group of its own, reported likewise. Never dropped.
4. Buildings with no households do not count: each joins the group of a neighbour (breadth first), before the
   short groups are mended (a short group beyond a row of shops still meets the groups past them).
5. **Codes** by the layout, numbered west→east, north→south (:func:`boundaries.codes.order_west_east_north_south`).

Deterministic: no randomness (ties broken by the buildings' order north→south, west→east).

:func:`suggest_micro_grids` reads a grid and its buildings, returns the proposal and, with ``apply=True``,
writes it into the caller's change set in one transaction (see its docstring for the codes kept on redraw).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import shapely

from boundaries import drafts
from boundaries.building_cells import building_cells, cell_adjacency, polygonal
from boundaries.codes import DEFAULT_LAYOUT, CodeLayout, order_west_east_north_south
from boundaries.regions import RegionGrower
from boundaries.reshaping import AreaEdit, next_code
from boundaries.rule_waivers import waive_in
from boundaries.rules import RuleSettings, resolve_generation
from core.audit import record
from core.errors import InvalidInputError, NotFoundError
from geo.crs import geometries_from_wgs84
from geo.plane import LocalPlane

__all__ = ["Group", "Partition", "suggest_partition", "suggest_micro_grids"]


@dataclass
class Group:
    """One suggested area: its ``buildings`` (ids), ``households``, ``geometry`` (WGS84), ``sequence`` and ``code``.

    ``problem`` is ``None`` for a group within the range, else ``"below"`` (an isolated cluster that cannot reach
    the floor) or ``"above"`` (one building point with more households than the ceiling), and ``reason`` says it
    (bilingual). ``whole_building``: the group is one building with households (and empty ones) above the ceiling
    — the whole building is one micro-grid (一楼一格), its households rule waived when the proposal is applied.
    """

    buildings: list
    households: int
    geometry: shapely.Geometry
    sequence: int = 0
    code: str | None = None
    problem: str | None = None
    nodes: list = field(default_factory=list, repr=False)
    reason: str | None = None
    whole_building: bool = False


@dataclass
class Partition:
    """The groups in numbering order, the range, the adjacency used (``edges``, ``barrier``) and buildings left out.

    ``outside``: ids of buildings whose point is not in the parent (not part of the partition).
    """

    groups: list
    low: int
    high: int
    node_of: dict
    edges: np.ndarray
    barrier: np.ndarray
    outside: list

    @property
    def reported(self) -> list:
        """The groups outside the range, with the reason in ``problem``."""
        return [g for g in self.groups if g.problem]


def check_range(low, high) -> tuple[int, int]:
    """``(low, high)`` as integers, or :class:`InvalidInputError` unless ``1 <= low <= high``."""
    try:
        lo, hi = int(low), int(high)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError("户数范围须为整数 the household range must be whole numbers") from exc
    if not 1 <= lo <= hi:
        raise InvalidInputError(f"户数范围无效 the household range must satisfy 1 ≤ low ≤ high (got {lo}–{hi})")
    return lo, hi


def suggest_partition(
    parent_geometry,
    buildings: dict,
    low: int,
    high: int,
    roads=None,
    walls=None,
    parent_code: str | None = None,
    level: str = "micro_grid",
    layout: CodeLayout = DEFAULT_LAYOUT,
) -> Partition:
    """Partition the buildings in a parent into contiguous groups of ``low``–``high`` households.

    Parameters
    ----------
    parent_geometry : shapely.Geometry
        The parent's outline (WGS84).
    buildings : dict of arrays
        ``id``, ``lon``, ``lat``, ``households`` and optionally ``geometry`` (footprints, WGS84).
    low, high : int
        The household range of a group (inclusive).
    roads : array_like of shapely.Geometry, optional
        Road centre lines (WGS84): groups do not cross them where they can avoid it.
    walls : array_like of shapely.Geometry, optional
        Compound polygons (WGS84, e.g. residential land use): their outlines count as barriers too.
    parent_code : str, optional
        With it, each group's ``code`` is ``layout.child_code(parent_code, level, sequence)``.
    level : str
    layout : CodeLayout

    Returns
    -------
    Partition
        Groups numbered west→east, north→south (``sequence`` from 1), each with its buildings, households and
        polygon; together the polygons cover the parent (a valid coverage).

    Examples
    --------
    >>> parent = shapely.box(121.5, 31.2, 121.502, 31.201)
    >>> lon = 121.5 + np.linspace(0.0001, 0.0019, 8)
    >>> found = suggest_partition(parent, {"id": list(range(8)), "lon": lon, "lat": np.full(8, 31.2005),
    ...                                    "households": [20] * 8}, 30, 100)
    >>> [g.households for g in found.groups], found.reported
    ([40, 40, 40, 40], [])
    """
    low, high = check_range(low, high)
    parent = polygonal(shapely.make_valid(parent_geometry))
    if parent.is_empty:
        raise InvalidInputError("上级区域没有面积 the parent area has no surface")
    ids = np.asarray(buildings["id"])
    lon, lat = np.asarray(buildings["lon"], dtype=float), np.asarray(buildings["lat"], dtype=float)
    households = np.nan_to_num(np.asarray(buildings["households"], dtype=float)).clip(0)
    inside = shapely.covers(parent, shapely.points(lon, lat))
    outside = ids[~inside].tolist()
    ids, lon, lat, households = ids[inside], lon[inside], lat[inside], households[inside]
    crs = LocalPlane(shapely.bounds(parent))  # where the rules check the cells: straight edges stay straight
    if len(ids) == 0:
        group = Group([], 0, parent, 1, layout.child_code(parent_code, level, 1) if parent_code else None, "below")
        return Partition([group], low, high, {}, np.empty((0, 2), int), np.empty(0, bool), outside)
    xy_ll, node_of_row = np.unique(np.round(np.column_stack([lon, lat]), 9), axis=0, return_inverse=True)
    node_of_row = node_of_row.ravel()
    n = len(xy_ll)
    weights = np.bincount(node_of_row, weights=households, minlength=n)
    points_m = geometries_from_wgs84(shapely.points(xy_ll), crs)
    footprints_m = None
    if buildings.get("geometry") is not None:
        shapes = np.asarray(buildings["geometry"], dtype=object)[inside]
        by_node = [[] for _ in range(n)]
        for row, shape in zip(node_of_row, shapes, strict=True):
            if shape is not None and not shapely.is_empty(shape):
                by_node[row].append(shape)
        merged = np.array([shapely.union_all(s) if s else shapely.Polygon() for s in by_node], dtype=object)
        footprints_m = geometries_from_wgs84(merged, crs)
    cells = building_cells(parent, points_m, footprints_m, crs, n)
    barriers = [shapely.boundary(np.asarray(walls, dtype=object))] if walls is not None and len(walls) else []
    if roads is not None and len(roads):
        barriers.append(np.asarray(roads, dtype=object))
    barriers_m = geometries_from_wgs84(np.concatenate(barriers), crs) if barriers else None
    edges, barrier = cell_adjacency(cells, points_m, barriers_m)
    xy = shapely.get_coordinates(points_m)
    rank = np.empty(n, dtype=int)
    rank[np.lexsort((xy[:, 0], -xy[:, 1]))] = np.arange(n)  # north→south, west→east
    grower = RegionGrower(n, edges, barrier, weights, xy, rank, low, high)
    grower.grow()
    groups = []
    for g, nodes in grower.members.items():
        nodes = sorted(nodes, key=lambda k: rank[k])
        rows = np.flatnonzero(np.isin(node_of_row, nodes))
        total = int(round(households[rows].sum()))
        problem = "above" if total > high else "below" if total < low or g in grower.short else None
        geometry = polygonal(shapely.coverage_union_all(cells[nodes]))
        group = Group(ids[rows].tolist(), total, geometry, problem=problem, nodes=nodes)
        group.reason, group.whole_building = _reason(problem, total, int((households[rows] > 0).sum()), low, high)
        groups.append(group)
    order = order_west_east_north_south(geometries_from_wgs84(np.array([g.geometry for g in groups]), crs))
    groups = [groups[k] for k in order]
    for sequence, group in enumerate(groups, 1):
        group.sequence = sequence
        group.code = layout.child_code(parent_code, level, sequence) if parent_code else None
    node_of = dict(zip(ids.tolist(), node_of_row.tolist(), strict=True))
    return Partition(groups, low, high, node_of, edges, barrier, outside)


def _reason(problem, households: int, counted: int, low: int, high: int) -> tuple[str | None, bool]:
    """Why a group is outside the range (bilingual), and whether it is one whole building above the ceiling."""
    if problem == "above" and counted == 1:
        return (
            f"单栋楼 {households} 户，超过上限 {high} 户：整栋为一个微网格，按单元分配网格员 one building of "
            f"{households} households, above the ceiling {high}: the whole building is one micro-grid, its workers "
            "assigned by unit"
        ), True
    if problem == "above":
        return (
            f"{counted} 栋楼位于同一点，共 {households} 户，超过上限 {high} 户，无法分开 {counted} buildings at one "
            f"point hold {households} households, above the ceiling {high}: they cannot be told apart"
        ), False
    if problem == "below":
        return (
            f"孤立的 {households} 户，低于下限 {low} 户，相邻微网格均无法并入，请规划员决定 an isolated cluster of "
            f"{households} households, below the floor {low}: no neighbouring micro-grid can take it; the planner "
            "decides"
        ), False
    return None, False


# -- a grid's micro-grids: the proposal, and writing it into the caller's change set ---------------------------
#: Road kinds that are not barriers between micro-grids (paths inside compounds).
PATH_KINDS = frozenset({"path", "footway", "cycleway", "steps", "track", "pedestrian", "service"})


def _old_codes(children: list[dict], building_rows: list[dict]) -> dict:
    """Building id → the lowest code of an existing micro-grid holding its point."""
    if not children or not building_rows:
        return {}
    geoms = np.asarray([r["geometry"] for r in children], dtype=object)
    points = shapely.points([r["lon"] for r in building_rows], [r["lat"] for r in building_rows])
    p, c = shapely.STRtree(geoms).query(points, predicate="intersects")
    out: dict = {}
    for k, j in zip(p, c, strict=True):
        code = children[j]["code"]
        building = building_rows[k]["id"]
        if building not in out or code < out[building]:
            out[building] = code
    return out


def _codes(partition, grid_code, children, building_rows, layout) -> dict:
    """Group sequence → (code, kept old row or None): codes kept on redraw (>50 % of households), then new ones."""
    old_of = _old_codes(children, building_rows)
    households = {r["id"]: float(r["households"] or 0) for r in building_rows}
    candidates = []
    for group in partition.groups:
        weight = {b: households.get(b, 0.0) for b in group.buildings}
        total = sum(weight.values()) or len(group.buildings)
        shares: dict = {}
        for b in group.buildings:
            if b in old_of:
                shares[old_of[b]] = shares.get(old_of[b], 0.0) + (weight[b] if sum(weight.values()) else 1)
        for code, share in shares.items():
            if total and share / total > 0.5:
                candidates.append((-share / total, group.sequence, code))
    by_code = {r["code"]: r for r in children}
    out, used = {}, set()
    for _, sequence, code in sorted(candidates):
        if sequence not in out and code not in used:
            out[sequence], used = (code, by_code[code]), used | {code}
    taken = set(by_code)
    for group in partition.groups:
        if group.sequence not in out:
            code = next_code(layout, grid_code, "micro_grid", taken)
            taken.add(code)
            out[group.sequence] = (code, None)
    return out


def _proposal(store, conn, generation, grid_code, low, high, layout, roads) -> dict:
    """Read the grid, its micro-grids and buildings in ``conn`` and partition; the proposal as a dict."""
    grid = store.areas(generation, codes=[grid_code], conn=conn)
    if not grid:
        raise NotFoundError(f"区域不存在 no area with code {grid_code!r}")
    grid = grid[0]
    if grid["level"] != "grid":
        raise InvalidInputError(
            f"只能为网格建议微网格 micro-grids are suggested for a grid: {grid_code!r} is a {grid['level']}"
        )
    geometry = grid["geometry"]
    children = [r for r in store.areas(generation, parent_code=grid_code, conn=conn) if r["level"] == "micro_grid"]
    rows = store.buildings(bbox=shapely.bounds(geometry).tolist(), conn=conn)
    buildings = {k: [r[k] for r in rows] for k in ("id", "lon", "lat", "households")}
    buildings["geometry"] = np.asarray([r["geometry"] for r in rows], dtype=object) if rows else []
    started = time.perf_counter()
    partition = suggest_partition(geometry, buildings, low, high, roads, None, grid_code, "micro_grid", layout)
    seconds = time.perf_counter() - started
    codes = _codes(partition, grid_code, children, rows, layout)
    stem = grid["name"].removesuffix("网格")
    features = []
    for group in partition.groups:
        code, old = codes[group.sequence]
        suffix = code[len(grid_code) :]
        name = old["name"] if old else f"{stem}第{int(suffix) if suffix.isdigit() else group.sequence}微网格"
        properties = {"code": code, "name": name, "households": group.households, "buildings": len(group.buildings),
                      "kept": old is not None, "problem": group.problem, "reason": group.reason,
                      "waiver": group.whole_building, "building_ids": group.buildings}  # fmt: skip
        feature = {"type": "Feature", "geometry": shapely.geometry.mapping(group.geometry), "properties": properties}
        features.append(feature)
    counts = [g.households for g in partition.groups]
    summary = {
        "groups": len(partition.groups),
        "buildings": sum(len(g.buildings) for g in partition.groups),
        "households": int(sum(counts)),
        "min_households": min(counts),
        "max_households": max(counts),
        "range": [low, high],
        "reported": [
            {
                "code": codes[g.sequence][0],
                "problem": g.problem,
                "households": g.households,
                "reason": g.reason,
                "waiver": g.whole_building,
            }
            for g in partition.reported
        ],  # fmt: skip
        "whole_buildings": sum(g.whole_building for g in partition.groups),
        "isolated": sum(g.problem == "below" for g in partition.groups),
        "kept": sorted(c for c, old in codes.values() if old),
        "new": sorted(c for c, old in codes.values() if not old),
        "retired": sorted({r["code"] for r in children} - {c for c, old in codes.values() if old}),
        "seconds": round(seconds, 3),
    }
    return {"code": grid_code, "generation": generation, "type": "FeatureCollection", "features": features,
            "summary": summary, "_grid": grid, "_children": children, "_groups": partition.groups}  # fmt: skip


def _roads(store, grid_geometry) -> np.ndarray:
    rows = store.roads(bbox=shapely.bounds(grid_geometry).tolist())
    return np.array([r["geometry"] for r in rows if r["kind"] not in PATH_KINDS], dtype=object)


def suggest_micro_grids(view, grid_code: str, apply: bool = False, settings=None, low=None, high=None) -> dict:
    """Suggest the micro-grids of a grid; with ``apply``, write them into the caller's change set.

    Parameters
    ----------
    view : boundaries.scope.ScopedRegistry
        The caller's registry: the grid must be in the caller's areas (and, to apply, below them).
    grid_code : str
    apply : bool
        Write the proposal in one transaction: the grid's existing micro-grids are retired and the suggested
        ones created, except that a suggested micro-grid holding more than half the households of an existing
        one keeps that code (and name; the area is redrawn, each old code used at most once); the others get new
        codes after the highest. A micro-grid that is one whole building above the ceiling (一楼一格: real
        practice draws such a building as its own micro-grid and assigns its workers by unit) gets a waiver of the
        ``households`` rule with the reason, in the same transaction (audited as ``waive``), so the change set can
        be published; isolated clusters below the floor are left to the planner. Audited (one ``suggest`` entry
        besides each area's own).
    settings : boundaries.rules.RuleSettings, optional
        The household range of ``micro_grid`` (default 30–100).
    low, high : int, optional
        Another range for this proposal.

    Returns
    -------
    dict
        A GeoJSON FeatureCollection (``code``, ``name``, ``households``, ``buildings``, ``kept``, ``problem``,
        ``reason``, ``waiver`` — a whole building above the ceiling, waived on apply — and ``building_ids`` per
        feature) with ``code``, ``generation`` (read, or the change set written) and ``summary`` (groups, min/max
        households, reported groups with their reason, ``whole_buildings`` and ``isolated`` counts,
        kept/new/retired codes, ``waived`` codes when applied, seconds).
    """
    settings = settings or RuleSettings()
    default_low, default_high = settings.household_ranges.get("micro_grid", (30, 100))
    low, high = check_range(default_low if low is None else low, default_high if high is None else high)
    store, layout = view.registry.store, view.registry.layout
    try:
        generation = resolve_generation(view, "draft")
    except NotFoundError:
        generation = resolve_generation(view, None)
    view.require(grid_code, generation)
    roads = _roads(store, view.registry.area(grid_code, generation).geometry)
    if not apply:
        with store.engine.connect() as conn:
            return _public(_proposal(store, conn, generation, grid_code, low, high, layout, roads))
    with store.transaction() as conn:
        edit = AreaEdit(view, conn)
        drafts.require_below(view, conn, edit.draft, grid_code)
        found = _proposal(store, conn, edit.draft, grid_code, low, high, layout, roads)
        kept = {f["properties"]["code"] for f in found["features"] if f["properties"]["kept"]}
        for row in found["_children"]:
            if row["code"] not in kept:
                edit.retire(edit.row(row["code"]))
        like = {"level": "micro_grid", "kind": "general", "parent_code": grid_code}
        for feature, group in zip(found["features"], found["_groups"], strict=True):
            p = feature["properties"]
            if p["kept"]:
                edit.write(edit.row(p["code"]), group.geometry)
            else:
                edit.create(like, p["code"], p["name"], group.geometry)
        found["summary"]["waived"] = _waive_whole_buildings(conn, view, found, default_high, edit.draft)
        record(conn, view.actor, "suggest", "area", grid_code, None, {"summary": found["summary"]})
        found["generation"] = edit.draft
    return _public(found)


def _waive_whole_buildings(conn, view, found: dict, ceiling: int, change_set: int) -> list[str]:
    """Waive the households rule of each whole building above the ceiling (in ``conn``, audited); their codes.

    Only above the *configured* ``ceiling`` (the rules' own range): a proposal asked with a lower ``high`` waives
    nothing the rules would not flag (a planner could otherwise waive the rule for any micro-grid). An area that has
    a households waiver already keeps it (it is not recorded twice).
    """
    waived = []
    for feature in found["features"]:
        p = feature["properties"]
        if p["waiver"] and p["households"] > ceiling:
            waive_in(conn, view, p["code"], "households", p["reason"], change_set)
            waived.append(p["code"])
    return waived


def _public(found: dict) -> dict:
    return {k: v for k, v in found.items() if not k.startswith("_")}
