"""Planning rules (规划规则) checked on the children of one parent area in a generation (published or the draft).

Rules (ids as reported):

- ``overlap``: two siblings share area (one failure per pair, the shared area as its geometry);
- ``gap``: part of the parent that no child covers (one failure per connected part);
- ``outside_parent``: the part of a child that lies outside its parent;
- ``sliver``: an overlap, gap or outside part smaller than ``sliver_m2`` — reported as a sliver (its ``kind``
  says which), never ignored; pieces under :data:`NOISE_M2` (a square millimetre), or narrower on average than
  :data:`NOISE_WIDTH_M` (a millimetre), are floating-point noise;
- ``invalid_ring``: a child whose rings GEOS finds invalid (``is_valid_reason``, with the place);
- ``building_split``: a building whose footprint lies in more than one micro-grid, each with more than
  ``building_share`` of its area; ``building_unassigned``: a building (its point inside the parent) in no
  micro-grid by that measure;
- ``households``: a child whose households (buildings counted by their point, as everywhere in Weige: a point on
  a shared edge counts in the lowest code) are outside the configured range of its level.

Overlaps, gaps and parts outside are found as stored, edges straight in longitude and latitude, and measured in a
local plane in metres (:class:`geo.plane.LocalPlane`: an affine map of longitude and latitude, so that a map
projection's bending of long edges can neither make nor hide a gap); areas are reported at the scale of each
piece's own latitude. Overlaps are looked for only when ``shapely.coverage_is_valid`` says the children are not a
clean coverage, and only between children with invalid edges (``coverage_invalid_edges``); the union behind the
gap rule is ``coverage_union`` for a clean coverage. A rule waived for an area (``rule_waivers``, audited) marks
that area's failures of the rule ``waived``; publishing is refused while unwaived failures remain (waivers and the
publish check: :mod:`boundaries.rule_waivers`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import timezone

import numpy as np
import shapely

from core.errors import ConflictError, NotFoundError
from geo import topology
from geo.plane import LocalPlane

__all__ = [
    "RULES",
    "NOISE_M2",
    "noise_free",
    "Failure",
    "RuleSettings",
    "RulesFailedError",
    "check_children",
    "check_area",
    "resolve_generation",
    "apply_waivers",
    "settings_from",
]

#: Rule id → (中文, English) name.
RULES = {
    "overlap": ("相邻区域重叠", "siblings overlap"),
    "gap": ("上级区域内有空隙", "gap inside the parent"),
    "outside_parent": ("超出上级区域", "outside the parent"),
    "sliver": ("碎片", "sliver"),
    "invalid_ring": ("无效环", "invalid ring"),
    "building_split": ("建筑跨微网格", "building split between micro-grids"),
    "building_unassigned": ("建筑不在任何微网格", "building in no micro-grid"),
    "households": ("户数超出范围", "households outside the range"),
}
#: Pieces smaller than this (m²) are floating-point noise of shared edges, not slivers.
NOISE_M2 = 1e-6
#: Pieces narrower than this on average (m) are noise too (see :func:`noise_free`).
NOISE_WIDTH_M = 1e-3
#: Children are clipped to the parent's box widened by this (degrees) before they are checked in its local plane.
FAR_DEGREES = 0.5
_POINT = re.compile(r"\[\s*(-?[\d.eE+-]+)\s+(-?[\d.eE+-]+)\s*\]")


class RulesFailedError(ConflictError):
    """Publishing refused: unwaived rule failures remain (``failures`` lists them)."""

    code = "rules_failed"

    def __init__(self, message: str, failures: list):
        super().__init__(message)
        self.failures = failures


@dataclass(frozen=True)
class RuleSettings:
    """Thresholds of the rules: ``sliver_m2``, ``building_share`` and ``household_ranges`` (level → (lo, hi))."""

    sliver_m2: float = 1.0
    building_share: float = 0.05
    household_ranges: dict = field(default_factory=lambda: {"micro_grid": (30, 100), "grid": (300, 500)})


@dataclass(frozen=True)
class Failure:
    """One rule failure: ``rule``, the area ``codes`` involved, a bilingual ``message``, a ``measure`` and where."""

    rule: str
    codes: tuple
    message: str
    measure: dict
    geometry: shapely.Geometry | None = None  # WGS84
    waived: bool = False
    waiver: dict | None = None

    def feature(self) -> dict:
        """The failure as a GeoJSON Feature (properties: rule, codes, message, measure, waived, waiver)."""
        properties = {"rule": self.rule, "codes": list(self.codes), "message": self.message, **self.measure}
        properties |= {"waived": self.waived, "waiver": self.waiver}
        geometry = None if self.geometry is None else shapely.geometry.mapping(self.geometry)
        return {"type": "Feature", "geometry": geometry, "properties": properties}


def _polygonal(geom) -> shapely.Geometry:
    parts = [p for p in shapely.get_parts(geom) if shapely.get_type_id(p) in (3, 6)]
    polys = [q for p in parts for q in shapely.get_parts(p)]
    return shapely.multipolygons(polys) if polys else shapely.Polygon()


def noise_free(geom) -> list:
    """The polygons of ``geom`` (metric) that are more than noise.

    At least :data:`NOISE_M2`, and on average :data:`NOISE_WIDTH_M` wide (2 × area / perimeter).

    A vertex drawn on a neighbour's edge (a T-junction) lies on it only to within floating-point rounding, or, when
    the outlines came from another projection, within the bend of that projection's straight lines (under a
    millimetre over a few hundred metres), which leaves thin triangles of some square centimetres along metres of
    edge; their width, not their area, says they are noise.
    """
    parts = [p for p in shapely.get_parts(_polygonal(geom)) if p.area >= NOISE_M2]
    return [p for p in parts if 2 * p.area / max(p.length, 1e-12) >= NOISE_WIDTH_M]


def _area_failure(rule, kind, codes, area, geom_m, plane, sliver_m2, text) -> Failure:
    zh, en = text
    if area < sliver_m2:
        rule = "sliver"
        zh, en = f"碎片（{RULES[kind][0]}）：{zh}", f"sliver ({RULES[kind][1]}): {en}"
    geometry = plane.to_lonlat(np.array([geom_m], dtype=object))[0]
    return Failure(rule, tuple(codes), f"{zh} {en}", {"kind": kind, "area_m2": round(float(area), 3)}, geometry)


def check_children(parent_code, parent_geometry, codes, level, geometries, buildings=None, settings=None, kinds=None):
    """Check the children of one parent against the planning rules.

    Parameters
    ----------
    parent_code : str
    parent_geometry : shapely.Geometry or None
        The parent's outline (WGS84); without it no gap or outside-parent rule is checked.
    codes : sequence of str
        The children's codes, sorted (the lowest code takes a building point on a shared edge).
    level : str
        The children's level (buildings are checked for ``micro_grid`` children).
    geometries : array_like of shapely.Geometry
        The children's outlines (WGS84).
    buildings : dict of arrays, optional
        ``id``, ``geometry`` (footprints, WGS84), ``lon``, ``lat``, ``households`` of the buildings near the parent.
    settings : RuleSettings, optional
    kinds : sequence of str, optional
        The children's kinds: the household range applies to ``general`` ones only (a 专属网格 — school,
        hospital … — has no residents to count). Default: all general.

    Returns
    -------
    list of Failure
        Unwaived (see :func:`apply_waivers`), in rule order.

    Examples
    --------
    >>> a, b = shapely.box(104, 30, 104.001, 30.001), shapely.box(104.0005, 30, 104.0015, 30.001)
    >>> [f.rule for f in check_children("P", None, ["A", "B"], "grid", [a, b], settings=RuleSettings({}))]
    ['overlap']
    """
    settings = settings or RuleSettings()
    codes = np.asarray(codes, dtype=object)
    wgs = np.asarray(geometries, dtype=object)
    if len(wgs) == 0 and parent_geometry is None:
        return []
    bounds = shapely.total_bounds(wgs if parent_geometry is None else np.array([parent_geometry], dtype=object))
    plane = LocalPlane(bounds)
    failures = []
    if parent_geometry is not None:  # a child reaching far beyond the parent is measured apart
        wgs, failures = _far_outside(parent_code, parent_geometry, codes, wgs)
    valid = shapely.is_valid(wgs)
    for i in np.flatnonzero(~valid):
        reason = str(shapely.is_valid_reason(wgs[i]))
        found = _POINT.search(reason)
        where = shapely.Point(float(found[1]), float(found[2])) if found else shapely.boundary(wgs[i])
        failures.append(
            Failure(
                "invalid_ring",
                (codes[i],),
                f"区域 {codes[i]} 的边界无效：{reason} the outline of {codes[i]} is invalid: {reason}",
                {"reason": reason},
                where,
            )
        )
    children = wgs.copy()  # overlaps and gaps are found as stored, then measured in the plane
    if not valid.all():
        children[~valid] = [_polygonal(shapely.make_valid(g)) for g in children[~valid]]
    failures += _overlaps(codes, children, plane, settings)
    parent = None
    if parent_geometry is not None:
        shapely.prepare(parent_geometry)
        failures += _gaps_and_outside(parent_code, parent_geometry, codes, children, plane, settings)
        parent = plane.to_plane(np.array([parent_geometry], dtype=object))[0]
    if buildings is not None and len(buildings["id"]) and len(children):
        general = np.ones(len(codes), bool) if kinds is None else np.asarray(kinds, dtype=object) == "general"
        children = plane.to_plane(children)
        failures += _buildings(parent_code, parent, codes, level, children, buildings, plane, settings, general)
    return failures


def _far_outside(parent_code, parent_geometry, codes, wgs):
    """Children reaching beyond a window around the parent: one failure each, and clipped to the parent.

    The window is the parent's box widened by :data:`FAR_DEGREES`; what lies outside the parent of such a child is
    measured on an equal-area cylinder (the local plane would stretch too far).
    """
    minx, miny, maxx, maxy = shapely.bounds(parent_geometry)
    window = shapely.box(minx - FAR_DEGREES, miny - FAR_DEGREES, maxx + FAR_DEGREES, maxy + FAR_DEGREES)
    far = ~shapely.covers(window, wgs)
    if not far.any():
        return wgs, []
    failures, wgs = [], wgs.copy()
    outside = topology.equal_area_m2(shapely.difference(wgs[far], parent_geometry))
    for i, area in zip(np.flatnonzero(far), outside, strict=True):
        failures.append(
            Failure(
                "outside_parent",
                (codes[i],),
                f"{codes[i]} 有 {area:.0f} 平方米远超出上级区域 {parent_code} {area:.0f} m² of {codes[i]} lie outside "
                f"its parent {parent_code}, reaching far beyond it",
                {"kind": "outside_parent", "area_m2": round(float(area), 3)},
                shapely.difference(shapely.intersection(wgs[i], window), parent_geometry),
            )
        )
        wgs[i] = _polygonal(shapely.intersection(shapely.make_valid(wgs[i]), parent_geometry))  # reported once
    return wgs, failures


def _overlaps(codes, children, plane, settings) -> list[Failure]:
    if len(children) < 2 or shapely.coverage_is_valid(children):
        return []
    suspects = np.flatnonzero(~shapely.is_empty(shapely.coverage_invalid_edges(children)))
    tree = shapely.STRtree(children)
    i, j = tree.query(children[suspects], predicate="intersects")
    i = suspects[i]  # a suspect against every neighbour: an overlap may flag the edges of one side only
    pairs = np.unique(np.column_stack([np.minimum(i, j), np.maximum(i, j)])[i != j], axis=0)
    i, j = pairs[:, 0], pairs[:, 1]
    shared = shapely.intersection(children[i], children[j])
    out = []
    for a, b, geom in zip(i, j, shared, strict=True):
        out += _shared_failure(
            "overlap",
            (codes[a], codes[b]),
            geom,
            plane,
            settings,
            lambda area, a=a, b=b: (
                f"{codes[a]} 与 {codes[b]} 重叠 {area:.2f} 平方米",
                f"{codes[a]} and {codes[b]} overlap by {area:.2f} m²",
            ),
        )
    return out


def _shared_failure(rule, codes, geom, plane, settings, text) -> list[Failure]:
    """One failure for the non-noise pieces of ``geom`` (WGS84; none when nothing is left); ``text(area)`` says it."""
    pieces = noise_free(plane.to_plane(np.array([geom], dtype=object))[0])
    if not pieces:
        return []
    area = float(plane.area_m2(pieces).sum())
    return [_area_failure(rule, rule, codes, area, shapely.union_all(pieces), plane, settings.sliver_m2, text(area))]


def _gaps_and_outside(parent_code, parent, codes, children, plane, settings) -> list[Failure]:
    out = []
    if len(children):
        union = shapely.coverage_union_all(children) if shapely.coverage_is_valid(children) else None
        if union is None:
            union = shapely.union_all(children)
        holes = shapely.difference(parent, union)
    else:
        holes = parent
    pieces = noise_free(plane.to_plane(np.array([holes], dtype=object))[0])
    for piece, area in zip(pieces, plane.area_m2(pieces), strict=True):
        text = (
            f"{parent_code} 内有 {area:.2f} 平方米不属于任何下级区域",
            f"{area:.2f} m² inside {parent_code} belong to none of its children",
        )
        out.append(_area_failure("gap", "gap", (parent_code,), area, piece, plane, settings.sliver_m2, text))
    outside = np.flatnonzero(~shapely.covers(parent, children))
    for i, geom in zip(outside, shapely.difference(children[outside], parent), strict=True):
        out += _shared_failure(
            "outside_parent",
            (codes[i],),
            geom,
            plane,
            settings,
            lambda area, i=i: (
                f"{codes[i]} 有 {area:.2f} 平方米超出上级区域 {parent_code}",
                f"{area:.2f} m² of {codes[i]} lie outside its parent {parent_code}",
            ),
        )
    return out


def _buildings(parent_code, parent, codes, level, children, buildings, plane, settings, general) -> list[Failure]:
    lon, lat = np.asarray(buildings["lon"], dtype=float), np.asarray(buildings["lat"], dtype=float)
    points = plane.to_plane(shapely.points(lon, lat))
    inside = np.ones(len(points), bool) if parent is None else shapely.covers(parent, points)
    ids = np.asarray(buildings["id"])[inside]
    households = np.asarray(buildings["households"], dtype=float)[inside]
    points = points[inside]
    tree = shapely.STRtree(children)
    out = []
    allowed = settings.household_ranges.get(level)
    if allowed is not None:
        p, c = tree.query(points, predicate="intersects")
        first = np.full(len(points), len(children))
        np.minimum.at(first, p, c)  # a point on a shared edge counts in the lowest code
        placed = first < len(children)
        counts = np.bincount(first[placed], weights=households[placed], minlength=len(children))
        lo, hi = allowed
        for i in np.flatnonzero(((counts < lo) | (counts > hi)) & general):
            n = int(round(counts[i]))
            text = (
                f"{codes[i]} 有 {n} 户，应在 {lo}–{hi} 户之间",
                f"{codes[i]} has {n} households, outside the range {lo}–{hi}",
            )
            geometry = plane.to_lonlat(np.array([children[i]], dtype=object))[0]
            out.append(
                Failure("households", (codes[i],), " ".join(text), {"households": n, "range": [lo, hi]}, geometry)
            )
    if level != "micro_grid":
        return out
    footprints = plane.to_plane(np.asarray(buildings["geometry"], dtype=object)[inside])
    b, c = tree.query(footprints, predicate="within")
    whole = np.zeros(len(footprints), bool)
    whole[b] = True
    rest = np.flatnonzero(~whole)
    b, c = tree.query(footprints[rest], predicate="intersects")
    b = rest[b]
    share = shapely.area(shapely.intersection(footprints[b], children[c])) / np.maximum(
        shapely.area(footprints[b]), NOISE_M2
    )
    big = share > settings.building_share
    b, c, share = b[big], c[big], share[big]
    order = np.lexsort((c, b))  # by building, then by child (code)
    b, c, share = b[order], c[order], share[order]
    n_in = np.bincount(b, minlength=len(footprints))
    flagged = rest[n_in[rest] != 1]
    places = plane.to_lonlat(footprints[flagged]) if len(flagged) else []
    starts = np.searchsorted(b, flagged)
    for k, where, at in zip(flagged, places, starts, strict=True):
        measure = {"building_id": int(ids[k]), "households": int(households[k])}
        if n_in[k] == 0:
            text = f"建筑 {ids[k]} 不在任何微网格内 building {ids[k]} is in no micro-grid of {parent_code}"
            out.append(Failure("building_unassigned", (parent_code,), text, measure, where))
            continue
        mine = slice(at, at + n_in[k])
        involved = tuple(codes[c[mine]])
        shares = {codes[x]: round(float(v), 3) for x, v in zip(c[mine], share[mine], strict=True)}
        text = f"建筑 {ids[k]} 跨 {'、'.join(involved)} building {ids[k]} is split between {', '.join(involved)}"
        out.append(Failure("building_split", involved, text, measure | {"shares": shares}, where))
    return out


# -- reading a generation, waivers, publishing ----------------------------------------------------------------
def settings_from(config: dict | None) -> RuleSettings:
    """:class:`RuleSettings` from the deployment's settings (defaults where a key is absent).

    Keys: ``HOUSEHOLD_RANGES``, ``RULE_SLIVER_M2``, ``RULE_BUILDING_SHARE``.
    """
    config = config or {}
    default = RuleSettings()
    ranges = config.get("HOUSEHOLD_RANGES", default.household_ranges)
    return RuleSettings(
        sliver_m2=float(config.get("RULE_SLIVER_M2", default.sliver_m2)),
        building_share=float(config.get("RULE_BUILDING_SHARE", default.building_share)),
        household_ranges={level: (lo, hi) for level, (lo, hi) in ranges.items()},
    )


def _generation(view, generation) -> int:
    if generation == "draft":
        from boundaries.drafts import draft_of

        draft = draft_of(view)
        if draft is None:
            raise NotFoundError("没有草稿版本 there is no draft generation")
        return draft
    return view.resolve_generation(generation)


def resolve_generation(view, generation) -> int:
    """The generation id of ``"draft"`` (the caller's draft; :class:`NotFoundError` when none), an id, or None.

    ``None`` is the current generation; :func:`check_area` reads its generation so.
    """
    return _generation(view, generation)


def _check(registry, code: str, generation: int, settings: RuleSettings) -> tuple[str | None, list[Failure]]:
    parent = registry.area(code, generation)
    children = registry.areas(parent_code=code, generation=generation)
    level = children["level"].iloc[0] if len(children) else None
    buildings = None
    if len(children) and (level == "micro_grid" or level in settings.household_ranges):
        rows = registry.store.buildings(bbox=shapely.bounds(parent.geometry).tolist())
        buildings = {k: [r[k] for r in rows] for k in ("id", "lon", "lat", "households")}
        buildings["geometry"] = np.asarray([r["geometry"] for r in rows], dtype=object)
    failures = check_children(
        code,
        parent.geometry,
        children["code"].tolist(),
        level,
        children.geometry.values,
        buildings,
        settings,
        children["kind"].tolist(),
    )
    waivers = registry.store.waivers(codes=[code, *children["code"]], generation=generation)
    return level, apply_waivers(failures, waivers)


def check_area(view, code: str, generation=None, settings: RuleSettings | None = None) -> dict:
    """The rule failures of an area's children in a generation (``"draft"``, an id, default current).

    Parameters
    ----------
    view : boundaries.scope.ScopedRegistry
        The caller's registry: the area must be in the caller's areas.
    code : str
    generation : int or "draft", optional
    settings : RuleSettings, optional

    Returns
    -------
    dict
        ``generation``, ``code``, ``level`` (of the children), ``failures`` (list of :class:`Failure`),
        ``errors`` (the number not waived).
    """
    g = _generation(view, generation)
    view.require(code, g)
    level, failures = _check(view.registry, code, g, settings or RuleSettings())
    errors = sum(not f.waived for f in failures)
    return {"generation": g, "code": code, "level": level, "failures": failures, "errors": errors}


def apply_waivers(failures: list[Failure], waivers: list[dict]) -> list[Failure]:
    """Mark failures waived: a failure is waived when one of its areas has a waiver of its rule."""
    by_key = {(w["area_code"], w["rule"]): w for w in waivers}
    out = []
    for failure in failures:
        found = next((by_key[(c, failure.rule)] for c in failure.codes if (c, failure.rule) in by_key), None)
        if found is None:
            out.append(failure)
        else:
            summary = {k: found[k] for k in ("id", "area_code", "rule", "reason", "user_name")}
            out.append(replace(failure, waived=True, waiver=summary | {"created_at": _iso(found["created_at"])}))
    return out


def _iso(value) -> str:
    value = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return value.isoformat()
