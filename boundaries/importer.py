"""Importing areas into the draft generation, with a report on the drawing rules.

The import of one level (optionally under one parent) replaces that level's set within the parent in the
draft: areas whose code, name, kind, parent and geometry are unchanged are kept as they are, changed areas
get a new row valid from the draft, and areas missing from the file are retired in the draft. Importing the
same file again into the same draft gives the same result, and its report counts against the draft as it stood
before the run (a second run says every area is unchanged). Nothing is written when a check refuses the input.
Under a parent whose code follows the registry's :class:`~boundaries.codes.CodeLayout`, every code must extend
the parent's code; codes under other parents (Hong Kong's ``A01``) are kept as given.

Blank values (missing, empty or only spaces): a blank code refuses the import, naming the features; a blank name
falls back to the area's code, and the report lists those features (``named_by_code``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from boundaries import drafts
from boundaries.codes import is_addressable, order_west_east_north_south
from boundaries.levels import LEVELS, check_kind, check_level, parent_level
from boundaries.registry import Registry
from core.audit import SYSTEM, Actor, record
from core.errors import InvalidInputError
from geo import topology

__all__ = ["ImportReport", "import_areas"]


@dataclass
class ImportReport:
    """What an area import found and did."""

    level: str
    generation: int | None = None
    count: int = 0
    added: int = 0
    changed: int = 0
    unchanged: int = 0
    retired: int = 0
    published: bool = False
    repaired: list[dict] = field(default_factory=list)
    overlaps: list[dict] = field(default_factory=list)
    gaps: list[dict] = field(default_factory=list)
    outside_parent: list[dict] = field(default_factory=list)
    named_by_code: list[dict] = field(default_factory=list)  # features with a blank name: named by their code

    def as_dict(self) -> dict:
        """The report as JSON-ready dict."""
        return asdict(self)


def _column(gdf, name, what):
    if name not in gdf.columns:
        raise InvalidInputError(
            f"字段不存在 {what} field {name!r} is not in the file; fields: {', '.join(map(str, gdf.columns[:-1]))}"
        )
    values = gdf[name].to_numpy(dtype=object)
    return np.array(["" if _blank(v) else str(v).strip() for v in values], dtype=object)


def _blank(value) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA or not str(value).strip()


def _check_polygons(geoms) -> None:
    def what(g):
        if g is None or shapely.is_empty(g):
            return "empty"
        return g.geom_type if g.geom_type not in ("Polygon", "MultiPolygon") else None

    bad = [(i, what(g)) for i, g in enumerate(geoms) if what(g)]
    if bad:
        kinds = ", ".join(f"#{i + 1}: {kind}" for i, kind in bad[:5])
        raise InvalidInputError(
            f"区域必须是面 areas must be polygons: {len(bad)} feature(s) are not ({kinds}); nothing was imported"
        )


def _parents(registry, gdf, geoms, level, parent, parent_field, actor):
    if parent is not None:
        registry.area(parent, generation=_draft_or_current(registry, actor))
        return np.full(len(gdf), parent, dtype=object)
    if parent_field is not None:
        return np.array([v or None for v in _column(gdf, parent_field, "parent")], dtype=object)
    above = parent_level(level)
    if above is None:
        return np.full(len(gdf), None, dtype=object)
    try:
        index, frame = registry.index(above, _draft_or_current(registry, actor))
    except Exception:  # noqa: BLE001 - no parent level loaded: areas stand alone
        return np.full(len(gdf), None, dtype=object)
    pts = shapely.point_on_surface(geoms)
    found = index.locate(shapely.get_x(pts), shapely.get_y(pts)).index
    codes = frame["code"].to_numpy(dtype=object)
    return np.where(found >= 0, codes[np.maximum(found, 0)], None)


def _draft_or_current(registry, actor: Actor) -> int | None:
    """The actor's change set when they have one, else the current generation."""
    return registry.store.draft_generation_id(owner=drafts.owner_of(actor)) or registry.store.current_generation_id()


def _codes(registry, geoms, parents, level):
    codes = np.empty(len(geoms), dtype=object)
    for parent in {p for p in parents}:
        members = (
            np.flatnonzero(parents == parent)
            if parent is not None
            else np.flatnonzero(np.array([p is None for p in parents]))
        )
        order = order_west_east_north_south(geoms[members])
        for seq, i in enumerate(members[order], start=1):
            if parent is None:
                codes[i] = f"{seq:0{registry.layout.length(level)}d}"
            else:
                codes[i] = registry.layout.child_code(parent, level, seq)
    return codes


def import_areas(
    registry: Registry,
    gdf: gpd.GeoDataFrame,
    level: str,
    parent: str | None = None,
    code_field: str | None = None,
    name_field: str | None = None,
    kind_field: str | None = None,
    parent_field: str | None = None,
    repair: bool = True,
    publish: bool = False,
    note: str = "",
    actor: Actor = SYSTEM,
) -> ImportReport:
    """Import areas of one level from a WGS84 GeoDataFrame into the draft generation.

    Parameters
    ----------
    registry : Registry
    gdf : geopandas.GeoDataFrame
        Areas in WGS84 (see :func:`geo.io.read_vector`).
    level : str
        One of :data:`boundaries.levels.LEVELS`.
    parent : str, optional
        Code of the parent of every imported area; else ``parent_field``, else found by location in the level
        above, else none.
    code_field, name_field, kind_field, parent_field : str, optional
        Attribute names; codes are generated (west→east, north→south) when ``code_field`` is omitted.
    repair : bool, default True
        Repair invalid rings (reported); with ``False`` an invalid ring refuses the whole import.
    publish : bool, default False
        Publish the draft after a successful import.
    note : str
        Note stored with a newly created draft generation.

    Returns
    -------
    ImportReport
    """
    check_level(level)
    if len(gdf) == 0:
        raise InvalidInputError("文件没有要素 the file has no features")
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    _check_polygons(geoms)
    report = ImportReport(level=level, count=len(gdf))
    reasons = topology.invalid_reasons(geoms)
    parents = _parents(registry, gdf, geoms, level, parent, parent_field, actor)
    codes = _column(gdf, code_field, "code") if code_field else None
    if codes is None:
        codes = _codes(registry, np.asarray(shapely.make_valid(geoms), dtype=object), parents, level)
    blank_codes = [i for i, c in enumerate(codes) if not c]
    if blank_codes:
        listed = ", ".join(f"#{i + 1}" for i in blank_codes[:20]) + (" …" if len(blank_codes) > 20 else "")
        raise InvalidInputError(
            f"编码为空 {len(blank_codes)} feature(s) have a blank code ({listed}); nothing was imported"
        )
    unaddressable = [f"#{i + 1} {c!r}" for i, c in enumerate(codes) if not is_addressable(c)]
    if unaddressable:
        raise InvalidInputError(
            f"编码格式错误 {len(unaddressable)} feature(s) have codes a URL cannot carry "
            f"({', '.join(unaddressable[:10])}): use 1-32 letters, digits, '-', '_' or '.'; nothing was imported"
        )
    _check_layout(registry, codes, level, parents)
    names = _column(gdf, name_field, "name") if name_field else codes.copy()
    report.named_by_code = [{"feature": i + 1, "code": codes[i]} for i, n in enumerate(names) if not n]
    names = np.where(names == "", codes, names)
    kinds = _column(gdf, kind_field, "kind") if kind_field else np.full(len(gdf), "general", dtype=object)
    for kind in set(kinds):
        check_kind(kind)
    if len(set(codes)) != len(codes) or any(not c for c in codes):
        dup = sorted({c for c in codes if list(codes).count(c) > 1} | ({""} if any(not c for c in codes) else set()))
        raise InvalidInputError(f"编码重复或为空 duplicate or empty codes: {', '.join(map(repr, dup[:10]))}")
    if reasons:
        detail = [{"index": i, "code": codes[i], "name": names[i], "reason": r} for i, r in reasons.items()]
        if not repair:
            listing = "; ".join(f"{d['code']}: {d['reason']}" for d in detail[:10])
            raise InvalidInputError(f"{len(detail)} 个无效面 invalid polygon(s), repair refused: {listing}")
        geoms = topology.repair_polygons(geoms)
        emptied = [d for d in detail if shapely.is_empty(geoms[d["index"]])]
        if emptied:
            raise InvalidInputError(f"修复后为空 polygons with no area left after repair: {emptied[:5]}")
        report.repaired = detail
    _check_rules(registry, report, geoms, codes, parents, actor)
    _write(registry, report, level, parent, geoms, codes, names, kinds, parents, note, publish, actor)
    return report


def _check_layout(registry, codes, level, parents) -> None:
    """Under a parent whose code follows the layout, every code must extend it (see ``CodeLayout.child_problem``)."""
    wrong = [
        (i, codes[i], parents[i])
        for i in range(len(codes))
        if registry.layout.child_problem(codes[i], level, parents[i]) is not None
    ]
    if wrong:
        listed = "; ".join(f"#{i + 1} {code!r} under {parent!r}" for i, code, parent in wrong[:10])
        width = registry.layout.widths[LEVELS.index(level)]
        raise InvalidInputError(
            f"编码不以上级编码开头 {len(wrong)} feature(s) have codes that do not extend their parent's code ({listed}"
            f"{' …' if len(wrong) > 10 else ''}): a {level} code is its parent's code followed by {width} digits; "
            "nothing was imported"
        )


def _check_rules(registry, report, geoms, codes, parents, actor) -> None:
    report.overlaps = [
        {"a": codes[i], "b": codes[j], "area_m2": round(a, 2)} for i, j, a in topology.overlapping_pairs(geoms)
    ]
    has_parent = np.array([p is not None for p in parents])
    generation = _draft_or_current(registry, actor)
    for parent_code in sorted({p for p in parents if p is not None}):
        members = np.flatnonzero(parents == parent_code)
        parent_geom = registry.area(parent_code, generation=generation).geometry
        outside = topology.outside_parent(geoms[members], np.full(len(members), parent_geom, dtype=object))
        report.outside_parent += [
            {"code": codes[i], "parent_code": parent_code, "area_m2": round(float(a), 2)}
            for i, a in zip(members, outside, strict=True)
            if a > 0
        ]
        report.gaps += _gap_rows(topology.gap_polygons(geoms[members], within=parent_geom), parent_code)
    if (~has_parent).any():
        report.gaps += _gap_rows(topology.gap_polygons(geoms[~has_parent]), None)


def _gap_rows(gaps, parent_code):
    if len(gaps) == 0:
        return []
    pts = shapely.point_on_surface(gaps)
    return [
        {
            "parent_code": parent_code,
            "area_m2": round(float(a), 2),
            "lon": round(float(x), 6),
            "lat": round(float(y), 6),
        }
        for a, x, y in zip(topology.areas_m2(gaps), shapely.get_x(pts), shapely.get_y(pts), strict=True)
    ]


def _same_area(row: dict, attrs: dict, geom) -> bool:
    return all(row[k] == v for k, v in attrs.items()) and shapely.equals_exact(
        shapely.normalize(row["geometry"]), shapely.normalize(geom), tolerance=1e-9
    )


def _write(registry, report, level, parent, geoms, codes, names, kinds, parents, note, publish, actor) -> None:
    store = registry.store
    with store.transaction() as conn:
        draft = drafts.open_draft(store, conn, actor, note)
        report.generation = draft
        # the report compares with the draft as it stands (an earlier run's rows included) ...
        before = {r["code"]: r for r in store.areas(draft, level=level, parent_code=parent, conn=conn)}
        # ... the rows are written against the generation below it, so a run replaces the previous run's rows
        store.undo_draft_areas(conn, draft, store.draft_area_ids(conn, draft, level, parent))
        existing = {r["code"]: r for r in store.areas(draft, level=level, parent_code=parent, conn=conn)}
        rows, retire = [], []
        for i, code in enumerate(codes):
            attrs = {"code": code, "level": level, "name": names[i], "kind": kinds[i], "parent_code": parents[i]}
            shown = before.pop(code, None)
            if shown is None:
                report.added += 1
            elif _same_area(shown, attrs, geoms[i]):
                report.unchanged += 1
            else:
                report.changed += 1
            old = existing.pop(code, None)
            if old is not None:
                if _same_area(old, attrs, geoms[i]):
                    continue
                retire.append(old["id"])
            rows.append({**attrs, "generation_low": draft, "geometry": geoms[i]})
        retire += [r["id"] for r in existing.values()]
        report.retired = len(before)
        store.retire_areas(conn, retire, draft)
        store.insert_areas(conn, rows)
        if publish:
            report.generation = store.set_generation_state(conn, draft, "published")
            report.published = True
        summary = {k: v for k, v in report.as_dict().items() if not isinstance(v, list)}
        record(
            conn, actor, "import", "area", parent or level, None, {**summary, "codes": sorted(r["code"] for r in rows)}
        )
