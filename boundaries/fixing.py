"""The fix tool (修复工具): snap the children of a parent area into a clean coverage, within a tolerance.

:func:`fix_children` works in the local metric CRS (as :mod:`boundaries.rules` measures), on the *faces* of the
children's outlines (:class:`boundaries.faces.Faces`: every outline and the parent's noded together and
polygonised). Each face is handed to one area: a face of one child stays with it, a part outside the parent is
cut away, an overlap goes to one of its owners (the merge strategy), a gap goes to a neighbour when filling it
moves that neighbour no more than the tolerance (wider gaps and holes stay). Every area is then a union of faces
of one noded linework, so neighbours share their edges vertex for vertex: the result is a valid coverage
(``shapely.coverage_is_valid``) wherever no area had to be left alone. Every vertex that moves is measured: a
vertex of the old outline whose nearest point on the new outline is farther than :data:`EPSILON_M`, and each
vertex of the new outline likewise against the old one.

Only what the rules flag is cleaned: a clean coverage is returned exactly as drawn, at any tolerance; in a set
with faults, an area no fault touches keeps its input outline (it is not rewritten) unless a neighbour's fixed
edge meets it at a new vertex, which it then gains (``aligned``: no vertex moves).

Guarantees: no vertex moves more than the tolerance. An area whose fix would move a vertex farther, or would
leave it empty, is left alone (its outline kept as drawn, and its overlaps with its neighbours left for the
planner) and reported as not fixed with the reason; the others are assigned again, until every fixed area keeps
within the tolerance. The fix never leaves the children worse than before (:func:`boundaries.fix_checks.worse`):
no new or larger overlap, gap or part outside the parent, no building newly split, no building's point moved to
another area unless it lay in a flagged piece; an area that would, is left alone with the reason. ``fixed`` lists
only areas with a vertex that moves. Nothing is ever deleted.

:func:`fix_area` reads an area's children in a generation (as :func:`boundaries.rules.check_area` does), returns
the preview and, with ``apply=True``, writes every changed child (fixed and aligned) into the caller's change set
in one transaction (:func:`boundaries.reshaping.save_areas`: all or none) and returns the rule check after the fix.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field

import numpy as np
import shapely

from boundaries import rules
from boundaries.faces import GRID_M, Faces, on_grid
from boundaries.fix_checks import GEOMETRY_RULES, worse
from boundaries.fix_moves import EPSILON_M, Move, edge_move, vertices
from boundaries.fix_moves import moves as moves_of
from boundaries.reshaping import save_areas
from boundaries.versions import ANY, PreconditionFailedError, area_version
from core.errors import InvalidInputError, NotFoundError
from geo.crs import geometries_from_wgs84, to_wgs84_keeping
from geo.plane import LocalPlane

__all__ = ["EPSILON_M", "TOLERANCE_RANGE_M", "Move", "FixResult", "fix_children", "fix_area"]

#: Allowed tolerances (m), inclusive.
TOLERANCE_RANGE_M = (0.01, 50.0)
_MERGE_STRATEGIES = ("longest_border", "max_area", "min_area", "min_index")


@dataclass
class FixResult:
    """What :func:`fix_children` did.

    ``codes`` and ``geometries`` (WGS84, the fixed outline of a fixed area, else the outline as drawn) in the
    input order; ``fixed``: codes whose outline changed; ``not_fixed``: ``{code, reason}`` of areas left alone;
    ``moves``: every vertex that moves; ``max_move_m``: per fixed area, its largest move; ``aligned``: codes whose
    outline moves no vertex but gains vertices along its edges (where a neighbour's fixed outline meets it, so
    that the two share the edge vertex for vertex), written with the fixed ones.
    """

    codes: list
    geometries: np.ndarray
    fixed: list = field(default_factory=list)
    aligned: list = field(default_factory=list)
    not_fixed: list = field(default_factory=list)
    moves: list = field(default_factory=list)
    max_move_m: dict = field(default_factory=dict)

    def preview(self) -> dict:
        """The preview: ``moves`` (GeoJSON FeatureCollection), ``fixed``, ``not_fixed``, ``max_move_m``."""
        return {
            "moves": {"type": "FeatureCollection", "features": [m.feature() for m in self.moves]},
            "fixed": list(self.fixed),
            "aligned": list(self.aligned),
            "not_fixed": list(self.not_fixed),
            "max_move_m": round(max(self.max_move_m.values(), default=0.0), 4),
            "max_move_by_area_m": {c: round(v, 4) for c, v in self.max_move_m.items()},
        }


def check_tolerance(tolerance_m) -> float:
    """The tolerance as a float within :data:`TOLERANCE_RANGE_M`, or :class:`InvalidInputError`."""
    lo, hi = TOLERANCE_RANGE_M
    try:
        value = float(tolerance_m)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"容差应为数字 tolerance_m must be a number, not {tolerance_m!r}") from exc
    if not (math.isfinite(value) and lo <= value <= hi):
        raise InvalidInputError(f"容差应在 {lo}–{hi} 米之间 tolerance_m must be between {lo} and {hi} m")
    return value


def _polygonal(geom) -> shapely.Geometry:
    """The polygons of ``geom`` as one (Multi)Polygon (cleaning and clipping may leave lines and points)."""
    polys = [q for p in shapely.get_parts(geom) if shapely.get_type_id(p) in (3, 6) for q in shapely.get_parts(p)]
    return shapely.multipolygons(polys) if len(polys) > 1 else (polys[0] if polys else shapely.Polygon())


def _back_to_wgs84(wgs, metric, same, crs):
    """A function taking a fixed outline (metric) back to WGS84, consistently with the areas kept as they are.

    A vertex of an area kept as it is (``same``: indices) gets that area's input coordinates exactly, so that a
    neighbour shares it exactly; every other vertex is transformed. Input coordinates are not used for the others:
    the metric outlines were rounded to :data:`boundaries.faces.GRID_M`, so two vertices a few micrometres apart,
    one taken back to its input and one transformed, could swap sides and turn a ring inside out.
    """
    lookup = {}
    for i in same:
        pairs = zip(shapely.get_coordinates(metric[i]).tolist(), shapely.get_coordinates(wgs[i]).tolist(), strict=True)
        lookup.update((tuple(a), b) for a, b in pairs)

    convert = to_wgs84_keeping(lookup, crs)
    return lambda geom: shapely.transform(geom, convert)


def fix_children(
    parent_code,
    parent_geometry,
    codes,
    geometries,
    tolerance_m,
    merge_strategy="longest_border",
    buildings=None,
    level="micro_grid",
):
    """Snap the children of a parent into a clean coverage, moving no vertex more than the tolerance.

    Parameters
    ----------
    parent_code : str
    parent_geometry : shapely.Geometry or None
        The parent's outline (WGS84); without it the children are not clipped and gaps along the edge stay.
    codes : sequence of str
        Sorted (the lowest code takes a building point on a shared edge, as in :mod:`boundaries.rules`).
    geometries : array_like of shapely.Geometry
        The children's outlines (WGS84).
    tolerance_m : float
        No vertex moves farther (m); gaps narrower than this are closed.
    merge_strategy : str
        Which area takes an overlap or a gap: ``longest_border`` (the longest shared edge), ``max_area``,
        ``min_area`` or ``min_index`` (the lowest code), as ``shapely.coverage_clean`` names them.
    buildings : dict of arrays, optional
        ``id``, ``geometry`` (footprints), ``lon``, ``lat``, ``households`` (as in
        :func:`boundaries.rules.check_children`): a fix that would newly split one, or move its point to another
        area outside the flagged pieces, is refused.
    level : str
        The children's level (buildings are checked for splits at ``micro_grid``).

    Returns
    -------
    FixResult

    Examples
    --------
    >>> from geo.crs import geometries_to_wgs84
    >>> boxes = [shapely.box(500_000, 3_392_000, 500_100.5, 3_392_100), shapely.box(500_100, 3_392_000, 500_200,
    ...          3_392_100)]
    >>> wgs = geometries_to_wgs84(np.array(boxes, dtype=object), "EPSG:4544")
    >>> found = fix_children("P", None, ["A", "B"], wgs, 1.0)
    >>> len(found.fixed), found.not_fixed, round(max(found.max_move_m.values()), 2)
    (1, [], 0.5)
    """
    tolerance = check_tolerance(tolerance_m)
    if merge_strategy not in _MERGE_STRATEGIES:
        raise InvalidInputError(f"未知的合并方式 unknown merge_strategy {merge_strategy!r}")
    codes = [str(c) for c in codes]
    wgs = np.asarray(geometries, dtype=object)
    result = FixResult(codes, wgs.copy())
    if not len(wgs):
        return result
    before = _check(parent_code, parent_geometry, codes, wgs, buildings, level)
    if not any(f.rule in GEOMETRY_RULES for f in before) and _matching_edges(wgs):
        return result  # a clean coverage: nothing to fix, whatever the tolerance
    extent = wgs if parent_geometry is None else np.array([parent_geometry], dtype=object)
    bounds = shapely.total_bounds(extent)
    crs = LocalPlane(bounds)  # where the rules measure: edges stay straight in longitude and latitude
    old = on_grid(geometries_from_wgs84(wgs, crs))  # vertices that stay are taken back to their input exactly
    work = np.array([_polygonal(shapely.make_valid(g)) if not g.is_valid else g for g in old], dtype=object)
    parent = None
    if parent_geometry is not None:
        parent = on_grid(geometries_from_wgs84(np.array([parent_geometry]), crs))[0]
        parent = _polygonal(shapely.make_valid(parent))
    faces = Faces(work, parent, tolerance=tolerance)
    reasons: dict = {}
    measured: dict = {}  # area -> (its last new outline, how far that moves along the edges)
    while True:
        taken = faces.assign(reasons, tolerance, merge_strategy)
        new_metric = _unneeded_nodes_dropped(old, [_union(faces.faces[f]) for f in taken])
        found, refused = {}, False
        for i in range(len(work)):
            if i in reasons:
                continue
            new = new_metric[i]
            if new.is_empty or new.area < rules.NOISE_M2:
                reasons[i] = _gone_reason(codes, work, i, faces, parent_code)
                refused = True
                continue
            moves = moves_of(codes[i], old[i], new, crs)
            if i not in measured or not shapely.equals_exact(measured[i][0], new, 0.0):  # (same as last round)
                measured[i] = (new, edge_move(old[i], new, tolerance, crs))
            worst = max(max((m.distance_m for m in moves), default=0.0), measured[i][1])
            if worst > tolerance:
                reasons[i] = (
                    f"修复 {codes[i]} 需移动顶点 {worst:.2f} 米，超过容差 {tolerance:g} 米 "
                    f"fixing {codes[i]} would move a vertex {worst:.2f} m, more than the tolerance {tolerance:g} m"
                )
                refused = True
                continue
            found[i] = (new, moves, worst)
        if refused:
            continue
        same = {i for i in range(len(work)) if i in reasons or _same_vertices(old[i], new_metric[i])}  # held: as drawn
        back = _back_to_wgs84(wgs, old, same, crs)
        candidate = np.array([wgs[i] if i in same else back(new_metric[i]) for i in range(len(wgs))], dtype=object)
        after = _check(parent_code, parent_geometry, codes, candidate, buildings, level)
        blamed = worse(before, after, codes, set(found), old, new_metric, crs, buildings)
        if not blamed:
            break
        reasons.update(blamed)
    for i in range(len(work)):
        if i in found and found[i][1]:
            new, moves, worst = found[i]
            result.fixed.append(codes[i])
            result.moves += moves
            result.max_move_m[codes[i]] = worst
        if i not in same:
            result.geometries[i] = candidate[i]  # moved, or nodes added along its edges to match a neighbour
            if i not in found or not found[i][1]:
                result.aligned.append(codes[i])
    result.not_fixed = [{"code": codes[i], "reason": reasons[i]} for i in sorted(reasons)]
    if not result.fixed and result.not_fixed:  # nothing moves and what is wrong stays: vertices added help no one
        result.geometries, result.aligned = wgs.copy(), []
    return result


def _union(faces) -> shapely.Geometry:
    """The union of faces of one noded linework (they share edges exactly: a coverage union)."""
    if not len(faces):
        return shapely.Polygon()
    return _polygonal(shapely.coverage_union_all(np.asarray(faces, dtype=object)))


def _matching_edges(wgs) -> bool:
    """Whether neighbours share their edges vertex for vertex (``shapely.coverage_is_valid``).

    The rules pass overlaps narrower than a millimetre as noise; the fix still makes such a set a valid coverage.
    """
    polygonal = np.array([shapely.get_type_id(g) in (3, 6) for g in wgs], dtype=bool)
    return bool(shapely.coverage_is_valid(wgs[polygonal])) if polygonal.any() else True


def _unneeded_nodes_dropped(old, new) -> np.ndarray:
    """The new outlines less the nodes no neighbour needs.

    A vertex that is not the area's own input vertex and lies on no other area's outline (a crossing with a
    neighbour's old edge that the fix took away) is dropped, which gives the area back its input segment there.
    """
    users: dict = defaultdict(set)
    for i, geom in enumerate(new):
        for xy in map(tuple, shapely.get_coordinates(geom).tolist()):
            users[xy].add(i)
    out = np.empty(len(new), dtype=object)
    for i, geom in enumerate(new):
        mine = set(map(tuple, shapely.get_coordinates(old[i]).tolist()))
        drop = {xy for xy in map(tuple, shapely.get_coordinates(geom).tolist()) if xy not in mine and users[xy] == {i}}
        out[i] = _without(geom, drop) if drop else geom
    return out


def _without(geom, drop: set) -> shapely.Geometry:
    """``geom`` (Polygon or MultiPolygon) without those vertices in ``drop`` that lie on their neighbours' segment.

    A ring keeps at least three vertices.
    """

    def ring(r):
        xy = shapely.get_coordinates(r)[:-1].tolist()
        keep = []
        for k, p in enumerate(xy):
            after = xy[(k + 1) % len(xy)]
            if tuple(p) in drop and keep and _on_segment(p, keep[-1], after):
                continue
            keep.append(p)
        return shapely.get_coordinates(r) if len(keep) < 3 else np.array(keep + keep[:1])

    polys = [shapely.Polygon(ring(p.exterior), [ring(h) for h in p.interiors]) for p in shapely.get_parts(geom)]
    return _polygonal(shapely.multipolygons(polys) if len(polys) > 1 else polys[0]) if polys else geom


def _on_segment(p, a, b) -> bool:
    """Whether ``p`` lies on the segment ``a``–``b`` (within :data:`boundaries.faces.GRID_M`).

    Dropping such a vertex keeps the shape.
    """
    return shapely.distance(shapely.Point(p), shapely.LineString([a, b])) <= GRID_M


def _same_vertices(old, new) -> bool:
    """Whether two outlines have the same vertices (the same drawing, perhaps started elsewhere)."""
    a, b = vertices(old), vertices(new)
    return a.shape == b.shape and bool((a == b).all())


def _gone_reason(codes, work, i, faces, parent_code) -> str:
    """Why area ``i`` is held when the fix would leave it empty."""
    own = faces.own(i)
    if shapely.area(faces.faces[own[faces.inside[own]]]).sum() < rules.NOISE_M2:
        return (
            f"{codes[i]} 在上级区域 {parent_code} 内没有面积，修复会删除它 {codes[i]} has no area inside its parent "
            f"{parent_code}: fixing would delete it"
        )
    return _vanish_reason(codes, work, i)


def _check(parent_code, parent_geometry, codes, wgs, buildings, level) -> list:
    """The rule failures the fix must not make worse (no household ranges: the fix does not move buildings)."""
    settings = rules.RuleSettings(household_ranges={})
    return rules.check_children(parent_code, parent_geometry, codes, level, wgs, buildings, settings)


def _vanish_reason(codes, work, i) -> str:
    """Why area ``i`` is left alone when cleaning would leave it empty (inside its neighbours, or merged away)."""
    others = np.delete(work, i)
    near = others[shapely.STRtree(others).query(work[i], predicate="intersects")] if len(others) else others
    own = shapely.area(shapely.difference(work[i], shapely.union_all(near))) if len(near) else work[i].area
    if own < rules.NOISE_M2:
        return f"修复会使 {codes[i]} 消失 fixing would make {codes[i]} vanish (it lies inside its neighbours)"
    return f"修复会使 {codes[i]} 并入相邻区域而消失 fixing would merge {codes[i]} into its neighbours and delete it"


def fix_area(
    view,
    code: str,
    generation,
    tolerance_m,
    apply: bool = False,
    if_match: Collection[str] | None = None,
    settings: rules.RuleSettings | None = None,
) -> dict:
    """Preview, or apply to the caller's draft, the fix of an area's children.

    Parameters
    ----------
    view : boundaries.scope.ScopedRegistry
        The caller's registry: the area must be in the caller's areas (writes are scoped by
        :func:`boundaries.reshaping.save_areas`).
    code : str
        The parent area.
    generation : int, "draft" or None
        Where the children are read (default: the current one; with ``apply`` the draft, or the current
        generation while the caller has no draft — a published generation id cannot be applied).
    tolerance_m : float
    apply : bool
        Write each changed child into the caller's draft.
    if_match : collection of str, optional
        With ``apply``: the versions of the children the caller previewed (``versions`` of the preview), or
        ``{"*"}``; a child whose version is not among them refuses the whole fix before any write.
    settings : boundaries.rules.RuleSettings, optional
        For the rule check after the fix.

    Returns
    -------
    dict
        The preview (:meth:`FixResult.preview`) with ``generation``, ``code`` and ``versions`` (code → version of
        each child as read); with ``apply`` also ``rules`` (:func:`boundaries.rules.check_area` after the fix).
    """
    tolerance = check_tolerance(tolerance_m)
    if apply and generation not in (None, "draft"):
        raise InvalidInputError("修复只能写入草稿 a fix is applied to the draft: use generation=draft")
    if apply:
        try:
            g = rules.resolve_generation(view, "draft")
        except NotFoundError:
            g = rules.resolve_generation(view, None)  # no change set yet: the draft starts from the current one
    else:
        g = rules.resolve_generation(view, generation)
    view.require(code, g)
    registry = view.registry
    parent = registry.area(code, g)
    children = registry.areas(parent_code=code, generation=g)
    versions = {row["code"]: area_version(row) for _, row in children.iterrows()}
    level = children["level"].iloc[0] if len(children) else "micro_grid"
    rows = registry.store.buildings(bbox=shapely.bounds(parent.geometry).tolist()) if len(children) else []
    buildings = {k: [r[k] for r in rows] for k in ("id", "lon", "lat", "households")}
    buildings["geometry"] = np.asarray([r["geometry"] for r in rows], dtype=object)
    found = fix_children(
        code, parent.geometry, children["code"].tolist(), children.geometry.values, tolerance, buildings=buildings,
        level=level,
    )  # fmt: skip
    answer = {"generation": g, "code": code, "tolerance_m": tolerance, **found.preview(), "versions": versions}
    if not apply:
        return answer
    if if_match is not None and ANY not in if_match:
        stale = [c for c in versions if versions[c] not in if_match]
        if stale:
            current = {"code": stale[0], "version": versions[stale[0]]}
            raise PreconditionFailedError(
                f"区域 {', '.join(stale)} 在预览后已修改 {', '.join(stale)} changed since the preview: preview again",
                current,
                versions[stale[0]],
            )
    by_code = dict(zip(found.codes, found.geometries, strict=True))
    changed = found.fixed + found.aligned
    if changed:  # all in one transaction; the version read is each child's precondition (never overwritten)
        save_areas(view, [{"code": c, "geometry": shapely.geometry.mapping(by_code[c]), "if_match": versions[c]}
                          for c in changed])  # fmt: skip
    answer["rules"] = rules.check_area(view, code, "draft" if changed else g, settings)  # g: the draft if any
    return answer
