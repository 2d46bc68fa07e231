"""History of the boundaries: what changed between two generations (历史对比).

:func:`diff` compares any two generations — published ones, or a published one and the caller's own change set
(``"draft"``) — area by area and building by building:

- areas are matched by code (a redrawn area keeps its code): ``added`` (only in the new generation),
  ``removed`` (only in the old), ``reshaped`` (same code, boundary not :func:`shapely.equals`: area before and
  after and the symmetric difference, in m² of the local CGCS2000 zone), ``changed`` (renamed, re-kinded or
  reparented);
- ``split``: an old area whose buildings now lie in several new areas of its level; ``merged``: a new area
  holding buildings of several old areas of its level;
- ``buildings_moved``: buildings (with their households) whose area of the lowest level compared (micro-grids)
  is not the same in both generations.

Buildings are placed as everywhere in Weige: by their point, with the registry's own locate (a point on a shared
edge counts in the lowest code; a point in an overlap or in no area counts in none). A restricted caller sees
only what lies under their areas: areas in their scope, and buildings whose area is in it on either side (the
other side's code is then left blank). Published generations never change, so a diff of two of them is computed
once per pair and kept in the registry's cache.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import shapely

from boundaries.levels import LEVELS, check_level
from core.errors import InvalidInputError, NotFoundError
from geo.crs import geometries_from_wgs84, metric_crs

__all__ = ["DRAFT", "CHANGES", "Diff", "diff", "generation_pair", "placed"]

#: The caller's change set, as a generation argument.
DRAFT = "draft"
#: Change of an area on the maps, strongest first (an area added and split is shown as added).
CHANGES = ("added", "removed", "split", "merged", "reshaped", "changed", "unchanged")


@dataclass
class Diff:
    """A diff of two generations; :meth:`as_dict` is the JSON answer, :meth:`features` the GeoJSON one."""

    old: int
    new: int
    parent: str | None
    levels: list
    added: list = field(default_factory=list)
    removed: list = field(default_factory=list)
    reshaped: list = field(default_factory=list)
    changed: list = field(default_factory=list)
    split: list = field(default_factory=list)
    merged: list = field(default_factory=list)
    buildings_moved: list = field(default_factory=list)
    moved_level: str | None = None
    geometries: dict = field(default_factory=dict, repr=False)  # (side, code) → WGS84 geometry
    names: dict = field(default_factory=dict, repr=False)  # (side, code) → (name, level)

    def as_dict(self) -> dict:
        """The lists, and counts of each."""
        keys = ("added", "removed", "reshaped", "changed", "split", "merged", "buildings_moved")
        out = {"old": self.old, "new": self.new, "parent": self.parent, "levels": self.levels}
        out |= {k: getattr(self, k) for k in keys} | {"moved_level": self.moved_level}
        out["counts"] = {k: len(getattr(self, k)) for k in keys}
        out["counts"]["households_moved"] = int(sum(b["households"] for b in self.buildings_moved))
        return out

    def change_of(self, side: str, code: str) -> str:
        """The strongest change of an area on one side (``before`` / ``after``), see :data:`CHANGES`."""
        found = self._changes().get((side, code), set())
        return next((c for c in CHANGES if c in found), "unchanged")

    def _changes(self) -> dict:
        out: dict = {}
        for side, key, entries in (
            ("after", "added", self.added),
            ("before", "removed", self.removed),
            ("before", "split", self.split),
            ("after", "merged", self.merged),
        ):
            for e in entries:
                out.setdefault((side, e["code"]), set()).add(key)
        for key, entries in (("reshaped", self.reshaped), ("changed", self.changed)):
            for e in entries:
                for side in ("before", "after"):
                    out.setdefault((side, e["code"]), set()).add(key)
        return out

    def features(self) -> dict:
        """GeoJSON: every compared area before and after (``side``, ``change``) and the buildings that moved."""
        features = []
        for (side, code), geom in sorted(self.geometries.items()):
            name, level = self.names[(side, code)]
            properties = {
                "side": side,
                "code": code,
                "name": name,
                "level": level,
                "change": self.change_of(side, code),
            }
            features.append({"type": "Feature", "geometry": shapely.geometry.mapping(geom), "properties": properties})
        for b in self.buildings_moved:
            point = {"type": "Point", "coordinates": [b["lon"], b["lat"]]}
            features.append(
                {"type": "Feature", "geometry": point, "properties": {"side": "both", "change": "moved", **b}}
            )
        return {"type": "FeatureCollection", "old": self.old, "new": self.new, "features": features}


def generation_pair(view, old, new) -> tuple[int, int]:
    """``(old, new)`` as generation ids: ``old`` published, ``new`` published or ``"draft"`` (the caller's).

    Raises :class:`NotFoundError` for a generation that does not exist or is not published (another planner's
    change set included), :class:`InvalidInputError` when both are the same.
    """
    from boundaries.drafts import draft_of

    def published(g) -> int:
        g = int(g)
        if g < 1 or g > 2_147_483_647 or not _is_published(view, g):
            raise NotFoundError(f"没有已发布的版本 {g} no published generation {g}")
        return g

    o = published(old)
    if new == DRAFT:
        n = draft_of(view)
        if n is None:
            raise NotFoundError("您没有未发布的变更集 you have no open change set to compare")
    else:
        n = published(new)
    if o == n:
        raise InvalidInputError(f"两个版本相同 old and new are the same generation ({o}): pick two generations")
    return o, n


def _is_published(view, g: int) -> bool:
    try:
        return view.registry.store.is_published(g)
    except NotFoundError:
        return False


def placed(registry, generation: int, level: str, buildings: pd.DataFrame) -> np.ndarray:
    """The code of the ``level`` area holding each building's point in ``generation`` ('' for none or several).

    The registry's locate decides (a point on a shared edge: the lowest code). A generation without areas of
    ``level`` holds no building.
    """
    if not len(buildings) or level not in registry.levels_present(generation):
        return np.full(len(buildings), "", dtype=object)
    code, _name, status, _edge = registry.locate_arrays(
        buildings["lon"].to_numpy(float), buildings["lat"].to_numpy(float), level, generation
    )
    return np.where(status == "ok", code, "").astype(object)


def diff(view, old, new, parent: str | None = None, level: str | None = None) -> Diff:
    """What changed between two generations, as the caller may see it.

    Parameters
    ----------
    view : boundaries.scope.ScopedRegistry
        The caller: a restricted one sees the areas under their own areas only.
    old, new : int or "draft"
        Generation ids: ``old`` published, ``new`` published or ``"draft"`` (the caller's change set).
    parent : str, optional
        Compare only the areas below this one (in either generation).
    level : str, optional
        Compare only areas of this level (below ``parent``'s); default every level (below ``parent``).

    Returns
    -------
    Diff
        Areas ``added``, ``removed``, ``reshaped``, ``changed``, ``split``, ``merged`` (dicts with ``code``,
        ``name``, ``level`` …) and ``buildings_moved`` (``id``, ``name``, ``address``, ``households``,
        ``from_code``, ``from_name``, ``to_code``, ``to_name``, ``lon``, ``lat``) at ``moved_level`` (``level``,
        or the lowest level present).
    """
    registry = view.registry
    o, n = generation_pair(view, old, new)
    if level is not None:
        check_level(level)
    if parent is not None:
        where = [g for g in (n, o) if parent in registry.hierarchy(g)]
        if not where:
            raise NotFoundError(f"区域不存在 no area with code {parent!r} in generation {o} or {n}")
        view.require(parent, where[0])
        parent_level = registry.hierarchy(where[0])[parent]["level"]
        if level is not None and LEVELS.index(level) <= LEVELS.index(parent_level):
            raise InvalidInputError(
                f"层级 {level} 不在 {parent} 之下 level {level!r} is not below {parent}'s level ({parent_level})"
            )
    published = registry.store.is_published(n)
    key = ("history-diff", o, n, parent, level)
    found = registry.cache.get(key) if published else None
    if found is None:
        found = _compute(registry, o, n, parent, level)
        if published:
            registry.cache.put(key, found)
    return _scoped(view, found)


def _under(registry, generation: int, parent: str | None, frame):
    if parent is None:
        return frame
    chains = registry.ancestors(generation)
    keep = [code != parent and parent in chains.get(code, {}).values() for code in frame["code"]]
    return frame[np.asarray(keep, dtype=bool)]


def _compute(registry, o: int, n: int, parent, level) -> Diff:
    frames = {}
    for side, g in (("before", o), ("after", n)):
        frame = registry.areas(generation=g, level=level)
        frames[side] = _under(registry, g, parent, frame).set_index("code", drop=False)
    levels = [lv for lv in LEVELS if lv in set(frames["before"]["level"]) | set(frames["after"]["level"])]
    result = Diff(o, n, parent, levels)
    for side, frame in frames.items():
        for code, name, lv, geom in zip(frame["code"], frame["name"], frame["level"], frame.geometry, strict=True):
            result.geometries[(side, code)] = geom
            result.names[(side, code)] = (name, lv)
    if not levels:
        return result
    both = pd.concat([frames["before"].geometry, frames["after"].geometry])
    bounds = shapely.total_bounds(both.values)
    crs = metric_crs((bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2)
    _areas(result, frames["before"], frames["after"], crs)
    rows = registry.store.buildings(bbox=None if parent is None else bounds.tolist(), geometry=False)
    buildings = pd.DataFrame(rows, columns=["id", "name", "address", "households", "lon", "lat"])
    for lv in levels:
        before = placed(registry, o, lv, buildings)
        after = placed(registry, n, lv, buildings)
        old_codes = set(frames["before"].loc[frames["before"]["level"] == lv, "code"])
        new_codes = set(frames["after"].loc[frames["after"]["level"] == lv, "code"])
        _splits(result, lv, buildings, before, after, old_codes, new_codes, frames)
        if lv == (level or registry.lowest_level(n)):
            result.moved_level = lv
            _moved(result, buildings, before, after, old_codes, new_codes, frames)
    return result


def _area_m2(geoms, crs) -> np.ndarray:
    return shapely.area(geometries_from_wgs84(np.asarray(geoms, dtype=object), crs))


def _sym_diff_m2(a, b) -> np.ndarray:
    """Areas of the symmetric differences.

    An outline valid in WGS84 can cross itself by a hair once projected: such a pair is overlaid after
    :func:`shapely.make_valid`.
    """
    try:
        return shapely.area(shapely.symmetric_difference(a, b))
    except shapely.errors.GEOSException:
        a, b = (np.where(shapely.is_valid(g), g, shapely.make_valid(g)) for g in (a, b))
        return shapely.area(shapely.symmetric_difference(a, b))


def _records(frame) -> dict[str, dict]:
    """Code → plain attributes (a row read through pandas would turn a missing parent into NaN)."""
    keys = ("code", "name", "level", "kind", "parent_code")
    columns = [frame[k].tolist() for k in keys]
    out = {}
    for values in zip(*columns, frame.geometry.tolist(), strict=True):
        record = {k: (v if isinstance(v, str) else None) for k, v in zip(keys, values[:-1], strict=True)}
        out[record["code"]] = record | {"geometry": values[-1]}
    return out


def _areas(result: Diff, before, after, crs) -> None:
    was, now = _records(before), _records(after)
    common = sorted(set(was) & set(now))
    for side, codes, target in (
        (now, sorted(set(now) - set(was)), result.added),
        (was, sorted(set(was) - set(now)), result.removed),
    ):
        m2 = _area_m2([side[c]["geometry"] for c in codes], crs) if codes else []
        target += [_entry(side[c]) | {"area_m2": round(float(a), 2)} for c, a in zip(codes, m2, strict=True)]
    if not common:
        return
    a = np.asarray([was[c]["geometry"] for c in common], dtype=object)
    b = np.asarray([now[c]["geometry"] for c in common], dtype=object)
    redrawn = ~shapely.equals(a, b)
    if redrawn.any():
        am, bm = geometries_from_wgs84(a[redrawn], crs), geometries_from_wgs84(b[redrawn], crs)
        sym = _sym_diff_m2(am, bm)
        for code, before_m2, after_m2, sym_m2 in zip(
            np.asarray(common, dtype=object)[redrawn], shapely.area(am), shapely.area(bm), sym, strict=True
        ):
            figures = {"area_before_m2": before_m2, "area_after_m2": after_m2, "sym_diff_m2": sym_m2}
            result.reshaped.append(_entry(now[code]) | {k: round(float(v), 2) for k, v in figures.items()})
    for code in common:
        changes = {
            k: [was[code][k], now[code][k]] for k in ("name", "kind", "parent_code") if was[code][k] != now[code][k]
        }
        if changes:
            result.changed.append(_entry(now[code]) | {"changes": changes})


def _entry(record: dict) -> dict:
    return {k: record[k] for k in ("code", "name", "level", "parent_code")}


def _name(frames, side, code) -> str:
    frame = frames[side]
    return str(frame.at[code, "name"]) if code in frame.index else ""


def _splits(result: Diff, level, buildings, before, after, old_codes, new_codes, frames) -> None:
    ok = (before != "") & (after != "")
    table = buildings.assign(old=before, new=after)[ok]
    groups = table.groupby(["old", "new"])["households"].agg(["size", "sum"]).reset_index()
    for code, part in groups.groupby("old"):
        if code in old_codes and len(part) > 1:
            into = [_part(frames, "after", r) for r in part.sort_values("new").itertuples()]
            result.split.append({"code": code, "name": _name(frames, "before", code), "level": level, "into": into})
    for code, part in groups.groupby("new"):
        if code in new_codes and len(part) > 1:
            parts = [_part(frames, "before", r) for r in part.sort_values("old").itertuples()]
            result.merged.append({"code": code, "name": _name(frames, "after", code), "level": level, "from": parts})
    result.split.sort(key=lambda e: e["code"])
    result.merged.sort(key=lambda e: e["code"])


def _part(frames, side, row) -> dict:
    code = row.new if side == "after" else row.old
    return {"code": code, "name": _name(frames, side, code), "buildings": int(row.size), "households": int(row.sum)}


def _moved(result: Diff, buildings, before, after, old_codes, new_codes, frames) -> None:
    mask = (before != after) & (np.isin(before, list(old_codes)) | np.isin(after, list(new_codes)))
    for row, was, now in zip(buildings[mask].itertuples(), before[mask], after[mask], strict=True):
        result.buildings_moved.append(
            {
                "id": int(row.id),
                "name": row.name,
                "address": row.address,
                "households": int(row.households),
                "from_code": was,
                "from_name": _name(frames, "before", was) if was else "",
                "to_code": now,
                "to_name": _name(frames, "after", now) if now else "",
                "lon": float(row.lon),
                "lat": float(row.lat),
            }
        )


def _scoped(view, found: Diff) -> Diff:
    """``found`` as the caller may see it: areas in their scope; partners and building sides outside blanked."""
    before, after = view.codes(found.old), view.codes(found.new)
    if before is None and after is None:
        return found
    sides = {"before": before, "after": after}

    def keep(side, code):
        return code in sides[side]

    out = Diff(found.old, found.new, found.parent, found.levels, moved_level=found.moved_level)
    out.added = [e for e in found.added if keep("after", e["code"])]
    out.removed = [e for e in found.removed if keep("before", e["code"])]
    out.reshaped = [e for e in found.reshaped if keep("before", e["code"]) or keep("after", e["code"])]
    out.changed = [e for e in found.changed if keep("before", e["code"]) or keep("after", e["code"])]
    blank = {"code": "", "name": ""}
    out.split = [
        e | {"into": [p if keep("after", p["code"]) else p | blank for p in e["into"]]}
        for e in found.split
        if keep("before", e["code"])
    ]
    out.merged = [
        e | {"from": [p if keep("before", p["code"]) else p | blank for p in e["from"]]}
        for e in found.merged
        if keep("after", e["code"])
    ]
    for b in found.buildings_moved:
        inside_before, inside_after = keep("before", b["from_code"]), keep("after", b["to_code"])
        if inside_before or inside_after:
            b = dict(b)
            if not inside_before:
                b.update(from_code="", from_name="")
            if not inside_after:
                b.update(to_code="", to_name="")
            out.buildings_moved.append(b)
    out.geometries = {k: v for k, v in found.geometries.items() if keep(*k)}
    out.names = {k: v for k, v in found.names.items() if keep(*k)}
    return out
