"""Editing several areas at once in a change set, so that shared boundaries stay shared.

The editor page saves what one gesture changed in one transaction: a vertex dragged on a boundary two areas
share moves in both (:func:`save_areas`); an area cut in two along a line (:func:`split_area`); neighbours
merged (:func:`merge_areas`); a boundary moved to a drawn line, the neighbours on the other side giving or taking
the difference (:func:`reshape_area`). Every function checks the caller's scope and the versions (ETags) the
caller last saw inside its transaction, refuses drawings outside the parent, writes the audit log, and answers
each changed area with its new version.
"""

from __future__ import annotations

import numpy as np
import shapely

from boundaries import drafts
from boundaries.editing import (
    _AREA_KEYS,
    _as_record,
    _checks,
    _polygon,
    _refuse_outside_parent,
    _state,
    clean_name,
    numeric_positions,
)
from boundaries.versions import area_version, check_version
from core.audit import record
from core.errors import ConflictError, InvalidInputError, NotFoundError

__all__ = ["AreaEdit", "save_areas", "split_area", "merge_areas", "reshape_area", "next_code", "MAX_BATCH"]

#: Vertices of neighbours closer than this (degrees, about 0.1 mm) are made one (see :meth:`AreaEdit.settle`).
SETTLE_DEGREES = 1e-9
#: Most areas one save may change.
MAX_BATCH = 200
#: Pieces of a cut or reshape smaller than this share of the area (or of the moved part) are noise, not areas.
_CRUMB = 1e-9


def _line(geometry) -> shapely.LineString:
    if isinstance(geometry, dict):
        kind = geometry.get("type")
        if kind != "LineString":
            raise InvalidInputError(f"需要一条线 draw a GeoJSON LineString geometry, not {kind!r}")
        numeric_positions(geometry.get("coordinates"), 1)
        if len(geometry["coordinates"]) < 2:
            raise InvalidInputError("线至少需要两个点 a line needs at least two positions")
    try:
        line = geometry if isinstance(geometry, shapely.Geometry) else shapely.geometry.shape(geometry)
    except (AttributeError, KeyError, TypeError, ValueError, IndexError, shapely.errors.GEOSException) as exc:
        raise InvalidInputError(f"几何格式错误 invalid GeoJSON line: {exc}") from exc
    if line.geom_type != "LineString" or line.is_empty or len(line.coords) < 2:
        raise InvalidInputError("需要一条至少两个点的线 draw a LineString of at least two positions")
    line = shapely.force_2d(line)
    coords = shapely.get_coordinates(line)
    if not np.isfinite(coords).all() or (np.abs(coords[:, 0]) > 180).any() or (np.abs(coords[:, 1]) > 90).any():
        raise InvalidInputError("线的坐标无效 the line's coordinates must be WGS84 longitude, latitude")
    if len(coords) > 10_000:
        raise InvalidInputError("线的点数过多 the line has more than 10,000 positions")
    return line


def _polygons(geom) -> list[shapely.Geometry]:
    return [g for g in shapely.get_parts(geom) if g.geom_type == "Polygon" and not g.is_empty]


def _as_area(geom) -> shapely.Geometry:
    """Polygonal part of a result (a union or difference may add lines or points), normalised to valid."""
    parts = _polygons(shapely.make_valid(geom))
    if not parts:
        return shapely.Polygon()
    return parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts)


class AreaEdit:
    """Several area writes in one transaction of the caller's change set: scope and versions checked, audited.

    ``row(code, if_match)`` reads an area (checking the caller's scope and the version), ``write(old, geom)``
    redraws it, ``create`` adds one, ``retire`` removes one; ``answer()`` lists every area written with its new
    version. Open it inside ``store.transaction()``.
    """

    def __init__(self, view, conn):
        self.view, self.conn, self.store = view, conn, view.registry.store
        self.draft = drafts.open_draft(self.store, conn, view.actor)
        self.written: dict[str, dict] = {}

    def row(self, code: str, if_match=None) -> dict:
        """The area ``code`` in the change set; scope and ``if_match`` (versions accepted) checked."""
        rows = self.store.areas(self.draft, codes=[code], conn=self.conn)
        if not rows:
            raise NotFoundError(f"区域不存在 no area with code {code!r} in your change set")
        row = rows[0]
        drafts.require_below(self.view, self.conn, self.draft, row["parent_code"])
        check_version(if_match, area_version(row), _state(self.draft, row), ("区域", "area"))
        return row

    def siblings(self, row: dict) -> list[dict]:
        """The other areas of ``row``'s level under its parent, in the change set."""
        rows = self.store.areas(self.draft, parent_code=row["parent_code"], conn=self.conn)
        return [r for r in rows if r["code"] != row["code"] and r["level"] == row["level"]]

    def parent_geometry(self, row: dict):
        """The outline of ``row``'s parent in the change set (``None`` without one)."""
        if row["parent_code"] is None:
            return None
        parent = self.store.areas(self.draft, codes=[row["parent_code"]], conn=self.conn)
        return parent[0]["geometry"] if parent else None

    def write(self, old: dict, geom, **changes) -> None:
        """Redraw ``old`` as ``geom`` (and ``changes`` of its columns); refused outside its parent."""
        geom = _polygon(geom)
        new = {**{k: old[k] for k in _AREA_KEYS}, **changes}
        found = _checks(self.store, self.conn, self.draft, old["code"], geom, new["parent_code"])
        _refuse_outside_parent(old["code"], new["parent_code"], found["outside_parent_m2"])
        new_id = self.store.replace_draft_area(self.conn, self.draft, old, {**new, "geometry": geom})
        record(self.conn, self.view.actor, "update", "area", old["code"], _as_record(old),
               _as_record({**new, "geometry": geom}))  # fmt: skip
        version = area_version({**new, "id": new_id, "generation_low": self.draft, "geometry": geom})
        self.written[old["code"]] = {"code": old["code"], "version": version,
                                     "geometry": shapely.geometry.mapping(geom)}  # fmt: skip

    def create(self, like: dict, code: str, name: str, geom) -> None:
        """Add an area ``code`` of ``like``'s level, kind and parent."""
        geom = _polygon(geom)
        row = {"code": code, "level": like["level"], "name": name, "kind": like["kind"],
               "parent_code": like["parent_code"]}  # fmt: skip
        new_id = self.store.insert_area(self.conn, {**row, "generation_low": self.draft, "geometry": geom})
        record(self.conn, self.view.actor, "create", "area", code, None, _as_record({**row, "geometry": geom}))
        version = area_version({**row, "id": new_id, "generation_low": self.draft, "geometry": geom})
        self.written[code] = {"code": code, "version": version, "created": True,
                              "geometry": shapely.geometry.mapping(geom)}  # fmt: skip

    def retire(self, old: dict) -> None:
        """Remove ``old``; refused while areas below it remain."""
        if self.store.areas(self.draft, parent_code=old["code"], geometry=False, conn=self.conn):
            raise ConflictError(f"区域 {old['code']} 下仍有下级区域 area {old['code']!r} still has areas below it")
        self.store.replace_draft_area(self.conn, self.draft, old, None)
        record(self.conn, self.view.actor, "delete", "area", old["code"], _as_record(old), None)
        self.written[old["code"]] = {"code": old["code"], "removed": True}

    def settle(self, like: dict) -> None:
        """Make the areas of ``like``'s level under its parent share their vertices exactly.

        Cutting and overlaying compute new vertices (where a line crosses an edge) that lie on a neighbour's edge
        only up to rounding, which leaves overlaps and gaps of a fraction of a square millimetre that the rules
        report as slivers. Each area is snapped to the others' vertices within :data:`SETTLE_DEGREES` (about
        0.1 mm: a vertex is inserted into the neighbour's edge, nothing visibly moves); the areas that change are
        written again.
        """
        rows = [r for r in self.store.areas(self.draft, parent_code=like["parent_code"], conn=self.conn)
                if r["level"] == like["level"]]  # fmt: skip
        geoms = np.asarray([r["geometry"] for r in rows], dtype=object)
        for i, row in enumerate(rows):
            others = np.delete(geoms, i)
            if not len(others):
                continue
            points = shapely.multipoints(shapely.get_coordinates(others))
            snapped = shapely.snap(geoms[i], points, SETTLE_DEGREES)
            if shapely.is_valid(snapped) and not shapely.equals_exact(snapped, geoms[i], 0):
                geoms[i] = snapped
                self.write(row, snapped)

    def answer(self) -> dict:
        """The change set and every area written, with its new version and drawing checks.

        The checks (outside the parent, overlapping siblings) are measured once everything is written, so a
        neighbour is never compared with the old outline of an area the same gesture redrew.
        """
        for code, written in self.written.items():
            if not written.get("removed"):
                geom = shapely.geometry.shape(written["geometry"])
                parent = self.store.areas(self.draft, codes=[code], geometry=False, conn=self.conn)[0]["parent_code"]
                written["checks"] = _checks(self.store, self.conn, self.draft, code, geom, parent)
        return {"generation": self.draft, "areas": list(self.written.values())}


def save_areas(view, changes: list[dict]) -> dict:
    """Save new boundaries of several areas in one transaction (all or nothing).

    ``changes``: ``[{"code", "geometry" (GeoJSON, WGS84), "if_match" (the version read, optional)}]``. A stale
    version refuses the whole save (:class:`~boundaries.versions.PreconditionFailedError`), so a shared vertex
    never moves in one neighbour and not the other.
    """
    if not changes:
        raise InvalidInputError("没有要保存的改动 nothing to save: send at least one area")
    if len(changes) > MAX_BATCH:
        raise InvalidInputError(f"一次最多保存 {MAX_BATCH} 个区域 at most {MAX_BATCH} areas per save")
    codes = [c["code"] for c in changes]
    if len(set(codes)) != len(codes):
        raise InvalidInputError("同一区域出现多次 an area appears more than once in the save")
    geometries = [_polygon(c["geometry"]) for c in changes]  # refuse bad drawings before the transaction
    with view.registry.store.transaction() as conn:
        edit = AreaEdit(view, conn)
        rows = [edit.row(c["code"], _tags(c.get("if_match"))) for c in changes]
        for row, geom in zip(rows, geometries, strict=True):
            edit.write(row, geom)
        return edit.answer()


def _tags(value) -> set[str] | None:
    return None if value is None else {value}


def next_code(layout, parent: str | None, level: str, taken: set[str], like: str | None = None) -> str:
    """The next free code of ``level`` under ``parent`` in ``layout`` (``<like>-<n>`` when codes do not follow it).

    ``taken``: the codes already used there; ``like``: a sibling's code, the stem of a code outside the layout.
    """
    stem = like or parent or "area"
    if (
        parent
        and (like is None or layout.follows(like, level))
        and layout.child_problem(layout.child_code(parent, level, 1), level, parent) is None
    ):
        width = layout.length(level) - len(parent)
        used = [int(c[len(parent) :]) for c in taken if c.startswith(parent) and c[len(parent) :].isdigit()]
        sequence = max(used, default=0) + 1
        if width <= 0 or sequence >= 10**width:
            raise ConflictError(f"上级区域 {parent} 下编码已用尽 no free code left under {parent!r}")
        return layout.child_code(parent, level, sequence)
    n = 2
    while f"{stem}-{n}" in taken:
        n += 1
    return f"{stem}-{n}"


def _next_code(view, edit: AreaEdit, like: dict) -> str:
    taken = {r["code"] for r in edit.siblings(like)} | {like["code"]}
    return next_code(view.registry.layout, like["parent_code"], like["level"], taken, like["code"])


def split_area(view, code: str, line, if_match=None, name: str | None = None) -> dict:
    """Cut an area in two along a drawn line; the larger piece keeps the code, the other gets the next code."""
    line = _line(line)
    with view.registry.store.transaction() as conn:
        edit = AreaEdit(view, conn)
        old = edit.row(code, if_match)
        if edit.store.areas(edit.draft, parent_code=code, geometry=False, conn=conn):
            raise ConflictError(f"区域 {code} 下有下级区域，不能切分 area {code!r} has areas below it: split those")
        geom = old["geometry"]
        pieces = sorted(_polygons(shapely.ops.split(geom, line)), key=lambda g: -g.area)
        pieces = [p for p in pieces if p.area > _CRUMB * geom.area]
        if len(pieces) != 2:
            raise InvalidInputError(
                f"切分线须从区域一侧穿到另一侧，把区域分成两块 the line must cross area {code!r} from one side to the "
                f"other and cut it in two (it makes {len(pieces)} piece(s))"
            )
        new_code = _next_code(view, edit, old)
        edit.write(old, pieces[0])
        edit.create(old, new_code, clean_name(name) if name is not None else f"{old['name']}（分）"[:200], pieces[1])
        edit.settle(old)
        return edit.answer()


def merge_areas(view, codes: list[str], if_match: dict | None = None) -> dict:
    """Merge neighbouring areas of one parent into the one with the lowest code; the others are removed.

    Areas below the removed ones move under the kept one. ``if_match``: code → version read (optional).
    """
    codes = sorted(set(codes))
    if len(codes) < 2:
        raise InvalidInputError("至少选择两个区域 choose at least two areas to merge")
    if len(codes) > MAX_BATCH:
        raise InvalidInputError(f"一次最多合并 {MAX_BATCH} 个区域 at most {MAX_BATCH} areas per merge")
    if_match = if_match or {}
    with view.registry.store.transaction() as conn:
        edit = AreaEdit(view, conn)
        rows = [edit.row(c, _tags(if_match.get(c))) for c in codes]
        if len({(r["parent_code"], r["level"]) for r in rows}) != 1:
            raise InvalidInputError("只能合并同一上级下的同级区域 merge only areas of one level under one parent")
        union = _as_area(shapely.union_all(np.asarray([r["geometry"] for r in rows], dtype=object)))
        if union.geom_type != "Polygon":
            raise InvalidInputError(f"区域不相邻 areas {', '.join(codes)} do not share a boundary: merge neighbours")
        keep, gone = rows[0], rows[1:]
        for row in gone:
            for child in edit.store.areas(edit.draft, parent_code=row["code"], conn=conn):
                edit.write(child, child["geometry"], parent_code=keep["code"])
            edit.retire(row)
        edit.write(keep, union)
        edit.settle(keep)
        return edit.answer()


def _reshaped(geom, line):
    """The area with its boundary between the line's two crossings replaced by the line (``None``: no change)."""
    faces = _polygons(shapely.polygonize(shapely.get_parts(shapely.union_all([geom.boundary, line]))))
    inside = [f for f in faces if geom.contains(f.representative_point())]
    outside = [f for f in faces if not geom.contains(f.representative_point())]
    if len(inside) < 2 and not outside:
        return None
    kept = max(inside, key=lambda f: f.area) if inside else shapely.Polygon()
    return _as_area(shapely.union_all([kept, *outside]))


def reshape_area(view, code: str, line, if_match=None) -> dict:
    """Move the boundary of an area to a drawn line that crosses it twice.

    The area gains what lies between its old boundary and the line on the outside, and loses what the line
    cuts off on the inside (the larger part stays). What it gains is taken from its neighbours; each piece it
    loses goes to the neighbour that shares the longest boundary with it — a piece no neighbour touches is refused
    (it would be a gap: split instead). What it gains is clipped to its parent.
    """
    line = _line(line)
    with view.registry.store.transaction() as conn:
        edit = AreaEdit(view, conn)
        old = edit.row(code, if_match)
        geom = old["geometry"]
        new = _reshaped(geom, line)
        if new is None or new.is_empty:
            raise InvalidInputError(
                f"线须两次穿过区域 {code} 的边界 the line must cross the boundary of area {code!r} twice "
                "(start and end on the same side, or cut across it)"
            )
        parent = edit.parent_geometry(old)
        if parent is not None:
            new = _as_area(shapely.intersection(new, parent))
        if shapely.area(shapely.symmetric_difference(new, geom)) <= _CRUMB * geom.area:
            raise InvalidInputError(
                f"新边界没有改变区域 {code} the line changes nothing of area {code!r} inside its parent: "
                "it must cross the boundary of the area twice within the parent"
            )
        gained = shapely.difference(new, geom)
        lost = _polygons(shapely.difference(geom, new))
        siblings = edit.siblings(old)
        shapes = {r["code"]: r["geometry"] for r in siblings}
        changed = {}
        for sibling in siblings:
            shape = shapes[sibling["code"]]
            if shape.intersects(gained) and shapely.area(shapely.intersection(shape, gained)) > _CRUMB * shape.area:
                changed[sibling["code"]] = _as_area(shapely.difference(shape, gained))
        for piece in lost:  # shared boundary measured with a hair of tolerance: overlay rounding leaves points
            edge = piece.boundary
            shared = {c: shapely.length(shapely.intersection(edge, shapely.buffer(changed.get(c, s).boundary,
                                                                                  SETTLE_DEGREES * 10)))
                      for c, s in shapes.items()}  # fmt: skip
            best = max(shared, key=shared.get, default=None)
            if best is None or shared[best] <= 0:
                raise InvalidInputError(
                    f"切下的部分不与任何相邻区域相接 the part the line cuts off area {code!r} touches no neighbour, "
                    "so it would become a gap: split the area instead, or draw the line where a neighbour can take it"
                )
            changed[best] = _as_area(shapely.union_all([changed.get(best, shapes[best]), piece]))
        for sibling in siblings:
            if sibling["code"] in changed:
                if changed[sibling["code"]].is_empty:
                    raise InvalidInputError(
                        f"改形会吞掉整个区域 {sibling['code']} the new boundary would swallow area "
                        f"{sibling['code']!r} whole: merge the areas instead"
                    )
                edit.write(sibling, changed[sibling["code"]])
        edit.write(old, new)
        edit.settle(old)
        return edit.answer()
