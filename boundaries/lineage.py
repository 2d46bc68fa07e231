"""Lineage of areas across published generations (沿革): which old areas became which new ones.

Identity is the code: a redrawn area keeps its code. Between two consecutive published generations, each old area
of a level is linked to the new areas of that level that hold its buildings, with the share of its households
(of its buildings when they have no households) that went to each — buildings placed by their point with the
registry's locate, as everywhere in Weige. An old area with no building in any new area is linked by the share
of its area that each new area covers (measured in the local CGCS2000 zone). The shares of an old area sum to 1
(an area whose ground no new area covers has no descendants). Links of published generations are computed once
per pair and level (cached).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from boundaries.errors import NotFoundError
from boundaries.history import placed
from geo.crs import geometries_from_wgs84, metric_crs

__all__ = ["links", "lineage", "published_generations"]

#: Overlaps smaller than this (m²) are floating-point noise of shared edges, not lineage.
NOISE_M2 = 1e-3


def published_generations(registry) -> list[int]:
    """Ids of the published generations, oldest first."""
    return [int(g["id"]) for g in registry.generations() if g["state"] == "published"]


def links(registry, old: int, new: int, level: str) -> dict[str, dict[str, float]]:
    """Old code → {new code: share} for the areas of ``level`` from generation ``old`` to ``new``.

    Parameters
    ----------
    registry : boundaries.registry.Registry
    old, new : int
        Published generations (normally consecutive).
    level : str

    Returns
    -------
    dict
        For every old area of ``level`` with a successor: the share of its households (else buildings, else
        area) that lies in each new area; the shares of one old area sum to 1.
    """
    key = ("lineage-links", old, new, level)
    found = registry.cache.get(key)
    if found is None:
        found = _links(registry, old, new, level)
        registry.cache.put(key, found)
    return found


def _links(registry, old: int, new: int, level: str) -> dict[str, dict[str, float]]:
    before = registry.areas(level=level, generation=old) if level in registry.levels_present(old) else None
    after = registry.areas(level=level, generation=new) if level in registry.levels_present(new) else None
    if before is None or not len(before) or after is None or not len(after):
        return {}
    rows = registry.store.buildings(geometry=False)
    buildings = pd.DataFrame(rows, columns=["id", "households", "lon", "lat"])
    table = buildings.assign(old=placed(registry, old, level, buildings), new=placed(registry, new, level, buildings))
    table = table[(table["old"] != "") & (table["new"] != "")]
    out: dict[str, dict[str, float]] = {}
    for code, part in table.groupby("old"):
        sums = part.groupby("new")["households"].agg(["size", "sum"])
        weight = sums["sum"] if sums["sum"].sum() > 0 else sums["size"]
        total = float(weight.sum())
        out[code] = {str(c): float(w) / total for c, w in weight.items() if w > 0}
    empty = [i for i, code in enumerate(before["code"]) if code not in out]
    if empty:
        out |= _by_area(before.iloc[empty], after)
    return out


def _by_area(before, after) -> dict[str, dict[str, float]]:
    """Links of areas with no buildings: the share of each old area's overlap with the new areas."""
    bounds = shapely.total_bounds(np.concatenate([before.geometry.values, after.geometry.values]))
    crs = metric_crs((bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2)
    old_m = geometries_from_wgs84(np.asarray(before.geometry.values, dtype=object), crs)
    new_m = geometries_from_wgs84(np.asarray(after.geometry.values, dtype=object), crs)
    tree = shapely.STRtree(new_m)
    left, right = tree.query(old_m, predicate="intersects")
    shared = shapely.area(shapely.intersection(old_m[left], new_m[right])) if len(left) else np.array([])
    out: dict[str, dict[str, float]] = {}
    codes_old, codes_new = before["code"].to_numpy(), after["code"].to_numpy()
    for i in np.unique(left):
        pick = (left == i) & (shared > NOISE_M2)
        total = float(shared[pick].sum())
        if total > 0:
            out[str(codes_old[i])] = {
                str(codes_new[j]): float(a) / total for j, a in zip(right[pick], shared[pick], strict=True)
            }
    return out


def lineage(view, code: str, generation=None) -> dict:
    """An area's ancestors back and descendants forward through the published generations.

    Parameters
    ----------
    view : boundaries.scope.ScopedRegistry
        The area must lie in the caller's areas; ancestors and descendants outside them are shown without code
        or name.
    code : str
    generation : int, optional
        A published generation holding the area; default the newest published one that holds it.

    Returns
    -------
    dict
        ``code``, ``name``, ``level``, ``generation``, ``ancestors`` and ``descendants``: one step per published
        generation before (newest first) / after (oldest first), each ``{"generation", "areas"}`` with, per
        area, ``code``, ``name`` and ``links`` (``{"code", "share"}``: the areas of the neighbouring, later
        step it gave its share to (ancestors), or the areas of the earlier step whose share it received
        (descendants)); an ancestor's ``share`` is the part of it that went into the followed areas.
    """
    registry = view.registry
    published = published_generations(registry)
    if generation is None:
        holding = [g for g in published if code in registry.hierarchy(g)]
        if not holding:
            raise NotFoundError(f"区域不存在 no area with code {code!r} in any published generation")
        g = holding[-1]
    else:
        g = int(generation)
        if g not in published:
            raise NotFoundError(f"没有已发布的版本 {g} no published generation {g}")
    view.require(code, g)
    node = registry.hierarchy(g)[code]
    level = node["level"]
    at = published.index(g)
    back, forward = [], []
    followed = {code}
    for older, newer in zip(reversed(published[:at]), reversed(published[1 : at + 1]), strict=True):
        step = links(registry, older, newer, level)
        areas = []
        for old_code, targets in sorted(step.items()):
            into = {c: s for c, s in targets.items() if c in followed}
            if into:
                areas.append(_node(view, registry, older, old_code, sum(into.values()), into, newer))
        if not areas:
            break
        back.append({"generation": older, "areas": areas})
        followed = {a["_code"] for a in areas}
    followed = {code}
    for older, newer in zip(published[at:], published[at + 1 :], strict=False):
        step = links(registry, older, newer, level)
        came: dict[str, dict[str, float]] = {}
        for old_code in followed:
            for new_code, share in step.get(old_code, {}).items():
                came.setdefault(new_code, {})[old_code] = share
        if not came:
            break
        areas = [_node(view, registry, newer, c, None, f, older) for c, f in sorted(came.items())]
        forward.append({"generation": newer, "areas": areas})
        followed = set(came)
    for step in back + forward:
        for area in step["areas"]:
            area.pop("_code")
    return {
        "code": code,
        "name": node["name"],
        "level": level,
        "generation": g,
        "ancestors": back,
        "descendants": forward,
    }


def _node(view, registry, generation, code, share, linked, other) -> dict:
    """One area of a lineage step; codes outside the caller's areas are blanked."""
    visible = view.covers(code, generation)
    name = registry.hierarchy(generation)[code]["name"] if visible else ""
    shown = [{"code": c if view.covers(c, other) else "", "share": round(s, 6)} for c, s in sorted(linked.items())]
    out = {"_code": code, "code": code if visible else "", "name": name, "links": shown}
    return out if share is None else out | {"share": round(share, 6)}
