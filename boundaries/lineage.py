"""Lineage of areas across published generations (沿革): which old areas became which new ones.

Identity is the code: a redrawn area keeps its code. Between two consecutive published generations, each old area
of a level is linked to the new areas of that level that hold its buildings, with the share of its households
(of its buildings when they have no households) that went to each — buildings placed by their point with the
registry's locate, as everywhere in Weige. An old area with no building in any new area is linked by the share
of its area that each new area covers (measured in the local CGCS2000 zone). The shares of an old area sum to 1
(an area whose ground no new area covers has no descendants).

Published generations never change, so most of this is known without looking at a building: an area whose row
is the same in two consecutive generations (:mod:`boundaries.generation_steps`) keeps its ground and maps to
itself with share 1. Buildings are placed only for the pairs where a followed area changed; those links are kept
per pair, level and assets revision, and a whole lineage per start, newest generation and assets revision, in
the history cache of the registry (:func:`boundaries.generation_steps.history_cache`). ``cached=False``
computes the plain definition instead: every pair linked building by building, nothing kept.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from boundaries.generation_steps import history_cache, published_generations, steps
from boundaries.history import placed
from core.errors import NotFoundError
from geo.crs import geometries_from_wgs84, metric_crs

__all__ = ["links", "lineage", "published_generations", "shown", "trace"]

#: Overlaps smaller than this (m²) are floating-point noise of shared edges, not lineage.
NOISE_M2 = 1e-3


def links(registry, old: int, new: int, level: str, cached: bool = True) -> dict[str, dict[str, float]]:
    """Old code → {new code: share} for the areas of ``level`` from generation ``old`` to ``new``.

    Parameters
    ----------
    registry : boundaries.registry.Registry
    old, new : int
        Published generations (normally consecutive).
    level : str
    cached : bool
        Keep the links of the pair (per assets revision) in the history cache; ``False``: compute them afresh.

    Returns
    -------
    dict
        For every old area of ``level`` with a successor: the share of its households (else buildings, else
        area) that lies in each new area; the shares of one old area sum to 1.
    """
    if not cached:
        return _links(registry, old, new, level)
    moves = _moves(registry, old, new, level, registry.store.revision("assets"))
    codes = registry.store.area_columns(old, ["code"], level=level)["code"]
    return {c: targets for c in codes if (targets := moves.get(c, {c: 1.0}))}


def _moves(registry, old: int, new: int, level: str, assets: int) -> dict[str, dict[str, float]]:
    """:func:`links` kept short: only the old areas not linked to themselves alone (``{}``: no successor)."""

    def build():
        found = _links(registry, old, new, level)
        codes = registry.store.area_columns(old, ["code"], level=level)["code"]
        return {c: t for c in codes if (t := found.get(c, {})) != {c: 1.0}}

    return history_cache(registry).get_or_build(("links", old, new, level, assets), build)


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


def lineage(view, code: str, generation=None, cached: bool = True) -> dict:
    """An area's ancestors back and descendants forward through the published generations.

    Parameters
    ----------
    view : boundaries.scope.ScopedRegistry
        The area must lie in the caller's areas; ancestors and descendants outside them are shown without code
        or name.
    code : str
    generation : int, optional
        A published generation holding the area; default the newest published one that holds it.
    cached : bool
        Skip the pairs where no followed area changed and keep what was computed (see the module); ``False``:
        link every pair building by building and keep nothing.

    Returns
    -------
    dict
        ``code``, ``name``, ``level``, ``generation``, ``ancestors`` and ``descendants``: one step per published
        generation before (newest first) / after (oldest first), each ``{"generation", "areas"}`` with, per
        area, ``code``, ``name`` and ``links`` (``{"code", "share"}``: the areas of the neighbouring, later
        step it gave its share to (ancestors), or the areas of the earlier step whose share it received
        (descendants)); an ancestor's ``share`` is the part of it that went into the followed areas.
    """
    key, traced = _traced(view, code, generation, cached)
    if key is None:
        return shown(view, traced)
    # what a scope sees of a published lineage never changes either (kept per scope; callers must not modify it)
    return history_cache(view.registry).get_or_build(("shown", key, view.scope.roots), lambda: shown(view, traced))


def trace(view, code: str, generation=None, cached: bool = True) -> dict:
    """The lineage of :func:`lineage` before the caller's scope is applied (every code and name shown).

    Each step also carries ``other``: the generation its areas' ``links`` refer to. The area itself must lie
    in the caller's areas (:class:`NotFoundError`, :class:`~core.errors.OutOfScopeError`).
    """
    return _traced(view, code, generation, cached)[1]


def _traced(view, code: str, generation, cached: bool) -> tuple:
    """``(key, traced lineage)``: the key it is kept under in the history cache (``None``: not kept)."""
    registry = view.registry
    published = published_generations(registry)
    pairs = {(s.old, s.new): s for s in steps(registry, published)} if cached else None
    g = _start(registry, code, generation, published, pairs)
    view.require(code, g)
    if not cached:
        return None, _walk(registry, code, g, published, None, None)
    assets = registry.store.revision("assets")
    key = ("lineage", code, g, published[-1], len(published), assets)
    build = lambda: _walk(registry, code, g, published, pairs, assets)  # noqa: E731
    return key, history_cache(registry).get_or_build(key, build)


def _start(registry, code: str, generation, published: list[int], pairs) -> int:
    """The generation a lineage starts from: ``generation`` (published), else the newest holding ``code``."""
    if generation is not None:
        g = int(generation)
        if g not in published:
            raise NotFoundError(f"没有已发布的版本 {g} no published generation {g}")
        return g
    if pairs is None:
        holding = [g for g in published if code in registry.hierarchy(g)]
    else:  # the newest, else back through the steps where the code changed (it is absent in between)
        holding = [published[-1]] if published and _names(registry, published[-1], None, [code]) else []
        for older, newer in reversed(list(pairs)):
            if holding:
                break
            if code in pairs[(older, newer)].changed and _names(registry, older, None, [code]):
                holding = [older]
    if not holding:
        raise NotFoundError(f"区域不存在 no area with code {code!r} in any published generation")
    return holding[-1]


def _names(registry, generation: int, level: str | None, codes) -> dict[str, str]:
    """Code → name of those of ``codes`` that are areas (of ``level``) in ``generation`` (one lean query)."""
    if not codes:
        return {}
    rows = registry.store.areas(generation, level=level, codes=sorted(codes), geometry=False)
    return {r["code"]: r["name"] for r in rows}


def _walk(registry, code: str, g: int, published: list[int], pairs, assets) -> dict:
    """The lineage with every code; ``pairs`` (the steps) and ``assets`` given: the cached way, else uncached."""
    (row,) = registry.store.areas(g, codes=[code], geometry=False)
    level = row["level"]
    at = published.index(g)

    def unchanged(older, newer, followed) -> bool:
        return pairs is not None and not (followed.keys() & pairs[(older, newer)].changed)

    def targets(older, newer) -> dict[str, dict[str, float]]:
        if pairs is None:
            return _links(registry, older, newer, level)
        return _moves(registry, older, newer, level, assets)

    back: list[dict] = []
    followed = {code: row["name"]}
    for older, newer in zip(reversed(published[:at]), reversed(published[1 : at + 1]), strict=True):
        if unchanged(older, newer, followed):
            areas = [{"code": c, "name": n, "share": 1.0, "links": {c: 1.0}} for c, n in sorted(followed.items())]
        else:
            step = targets(older, newer)
            if pairs is not None:  # the followed areas left out of the short links: linked to themselves alone
                kept = _names(registry, older, level, [c for c in followed if c not in step])
                step = step | {c: {c: 1.0} for c in kept}
            shares = {o: into for o, t in step.items() if (into := {c: s for c, s in t.items() if c in followed})}
            names = _names(registry, older, level, shares)
            areas = [
                {"code": o, "name": names[o], "share": sum(into.values()), "links": into}
                for o, into in sorted(shares.items())
            ]
        if not areas:
            break
        back.append({"generation": older, "other": newer, "areas": areas})
        followed = {a["code"]: a["name"] for a in areas}
    forward: list[dict] = []
    followed = {code: row["name"]}
    for older, newer in zip(published[at:], published[at + 1 :], strict=False):
        if unchanged(older, newer, followed):
            came, names = {c: {c: 1.0} for c in followed}, followed
        else:
            step = targets(older, newer)
            came = {}
            for old_code in followed:  # the short links leave out the areas linked to themselves alone
                alone = {} if pairs is None else {old_code: 1.0}
                for new_code, share in step.get(old_code, alone).items():
                    came.setdefault(new_code, {})[old_code] = share
            names = _names(registry, newer, level, came)
        if not came:
            break
        areas = [{"code": c, "name": names[c], "links": f} for c, f in sorted(came.items())]
        forward.append({"generation": newer, "other": older, "areas": areas})
        followed = {c: names[c] for c in came}
    return {
        "code": code,
        "name": row["name"],
        "level": level,
        "generation": g,
        "ancestors": back,
        "descendants": forward,
    }


def shown(view, traced: dict) -> dict:
    """A traced lineage (:func:`trace`) as the caller may see it: areas outside their areas without code or name."""
    out = {k: traced[k] for k in ("code", "name", "level", "generation")}
    for via in ("ancestors", "descendants"):
        out[via] = [
            {"generation": s["generation"], "areas": [_node(view, s["generation"], a, s["other"]) for a in s["areas"]]}
            for s in traced[via]
        ]
    return out


def _node(view, generation: int, area: dict, other: int) -> dict:
    """One area of a lineage step; codes outside the caller's areas are blanked."""
    visible = view.covers(area["code"], generation)
    linked = [
        {"code": c if view.covers(c, other) else "", "share": round(s, 6)} for c, s in sorted(area["links"].items())
    ]
    out = {"code": area["code"] if visible else "", "name": area["name"] if visible else "", "links": linked}
    return out if "share" not in area else out | {"share": round(area["share"], 6)}
