"""An area's figures over time, followed through its lineage across the published generations.

Per published generation: the area itself (in the generation the lineage starts from), or its ancestors /
descendants in that generation (:func:`boundaries.lineage.lineage`), with their buildings and households
(counted as :func:`boundaries.assets.household_counts` counts them: each building in the lowest-level area holding
its point, summed up the hierarchy) and the issues located in them in that generation (an issue carries the
generation it was located in and the code of its area at every level), counted through the caller's scope
(:func:`issues.queries.visible`).

Households come from the current buildings, so an area whose row, and every row below it, is the same in two
consecutive generations has the same figures in both (:mod:`boundaries.generation_steps`): buildings are located
only in the generations where a followed area or an area below it changed, and the figures are kept per start,
newest generation and assets revision in the registry's history cache. Issues are one count per generation and
never kept (they change all the time). ``cached=False`` counts every generation afresh with
:func:`~boundaries.assets.household_counts`.
"""

from __future__ import annotations

from datetime import timezone

import pandas as pd

from boundaries import assets
from boundaries.generation_steps import history_cache, steps
from boundaries.history import placed
from boundaries.lineage import lineage, trace
from core.storage.tables import LEVEL_CODE_COLUMNS
from issues import storage as st

__all__ = ["figures_over_time"]


def _issue_counts(view, generation: int, level: str, codes: list[str]) -> tuple[int, int]:
    """Issues located in ``generation`` in the ``level`` areas ``codes`` that the caller may see: (all, open)."""
    if not codes or f"{level}_code" not in LEVEL_CODE_COLUMNS:
        return 0, 0
    with view.registry.store.engine.connect() as conn:
        return st.issue_counts(conn, view.scope, generation, level, codes)


def _iso(value):
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).isoformat()


def _buildings(registry) -> pd.DataFrame:
    return pd.DataFrame(registry.store.buildings(geometry=False), columns=["id", "households", "lon", "lat"])


def _located_counts(registry, generation: int, codes, buildings=None) -> dict[str, tuple[int, int]]:
    """(buildings, households) of the areas ``codes`` in ``generation``, as ``household_counts`` counts them."""
    buildings = _buildings(registry) if buildings is None else buildings
    out = dict.fromkeys(codes, (0, 0))
    present = registry.levels_present(generation)
    if not len(buildings) or not present:
        return out
    located = placed(registry, generation, present[-1], buildings)
    inside = located != ""
    sums = buildings[inside].assign(code=located[inside]).groupby("code")["households"].agg(["size", "sum"])
    columns = registry.store.area_columns(generation, ["code", "parent_code"])
    parents = dict(zip(columns["code"], columns["parent_code"], strict=True))
    for code, count, total in zip(sums.index, sums["size"], sums["sum"], strict=True):
        seen: set = set()
        while code and code in parents and code not in seen:
            seen.add(code)
            if code in out:
                out[code] = (out[code][0] + int(count), out[code][1] + int(total))
            code = parents[code]
    return out


def _counts(registry, wanted: dict[int, list[str]], published: list[int]) -> dict[int, dict[str, tuple[int, int]]]:
    """Generation → code → (buildings, households) of the ``wanted`` codes, reused where nothing below changed."""
    pairs = {(s.old, s.new): s for s in steps(registry, published)}
    frame = None
    out: dict[int, dict[str, tuple[int, int]]] = {}
    before: dict[str, tuple[int, int]] = {}
    for older, g in zip([None, *published], published, strict=False):
        step = pairs.get((older, g))
        same = step is not None and step.same_lowest
        found = {c: before[c] for c in wanted.get(g, []) if same and c in before and c not in step.touched}
        missing = [c for c in wanted.get(g, []) if c not in found]
        if missing:
            frame = _buildings(registry) if frame is None else frame
            found |= _located_counts(registry, g, missing, buildings=frame)
        out[g] = before = found
    return out


def figures_over_time(view, code: str, cached: bool = True) -> dict:
    """Buildings, households and issues of an area (or its lineage) in every published generation.

    Parameters
    ----------
    view : boundaries.scope.ScopedRegistry
        The caller (the area must be theirs; ancestors or descendants outside their areas are not counted).
    code : str
    cached : bool
        Reuse figures where nothing changed and keep them (see the module); ``False``: count afresh.

    Returns
    -------
    dict
        ``code``, ``name``, ``level``, ``generation`` (where the lineage starts), ``lineage`` (see
        :func:`boundaries.lineage.lineage`) and ``figures``: per published generation, oldest first,
        ``generation``, ``published_at``, ``via`` (``self``, ``ancestors``, ``descendants`` or ``none``),
        ``areas`` (``code``, ``name``), ``buildings``, ``households``, ``issues``, ``open_issues``.
    """
    registry = view.registry
    traced, found = trace(view, code, cached=cached), lineage(view, code, cached=cached)
    followed = {traced["generation"]: ("self", [{"code": code, "name": traced["name"]}])}
    for via in ("ancestors", "descendants"):  # every area (counted once for all callers); those shown: the caller's
        for step, seen in zip(traced[via], found[via], strict=True):
            areas = [
                {"code": a["code"], "name": a["name"], "shown": bool(b["code"])}
                for a, b in zip(step["areas"], seen["areas"], strict=True)
            ]
            followed[step["generation"]] = (via, areas)
    rows = [row for row in registry.generations() if row["state"] == "published"]
    published = [int(row["id"]) for row in rows]
    wanted = {g: [a["code"] for a in areas] for g, (_via, areas) in followed.items()}
    if cached:
        key = ("figures", code, traced["generation"], published[-1], len(published), registry.store.revision("assets"))
        counts = history_cache(registry).get_or_build(key, lambda: _counts(registry, wanted, published))
    else:
        counts = {}
        for g, codes in wanted.items():
            frame = assets.household_counts(registry, g).reindex(codes).fillna(0)
            counts[g] = {
                c: (int(b), int(h)) for c, b, h in zip(codes, frame["buildings"], frame["households"], strict=True)
            }
    figures = []
    for row, g in zip(rows, published, strict=True):
        via, areas = followed.get(g, ("none", []))
        areas = [{"code": a["code"], "name": a["name"]} for a in areas if a.get("shown", True)]  # others: not counted
        codes = [a["code"] for a in areas]
        issues, open_issues = _issue_counts(view, g, traced["level"], codes)
        figures.append(
            {
                "generation": g,
                "published_at": _iso(row.get("published_at")),
                "via": via,
                "areas": areas,
                "buildings": sum(counts[g][c][0] for c in codes),
                "households": sum(counts[g][c][1] for c in codes),
                "issues": issues,
                "open_issues": open_issues,
            }
        )
    keys = ("code", "name", "level", "generation")
    return {k: traced[k] for k in keys} | {"lineage": found, "figures": figures}
