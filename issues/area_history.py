"""An area's figures over time, followed through its lineage across the published generations.

Per published generation: the area itself (in the generation the lineage starts from), or its ancestors /
descendants in that generation (:func:`boundaries.lineage.lineage`), with their buildings and households
(:func:`boundaries.assets.household_counts`, buildings counted by their point) and the issues located in them in
that generation (an issue carries the generation it was located in and the code of its area at every level),
counted through the caller's scope (:func:`issues.queries.visible`).
"""

from __future__ import annotations

from datetime import timezone

import sqlalchemy as sa

from boundaries import assets
from boundaries.lineage import lineage
from boundaries.storage import tables as t
from issues.queries import visible
from issues.workflow import ACTIVE_STATES

__all__ = ["figures_over_time"]


def _issue_counts(view, generation: int, level: str, codes: list[str]) -> tuple[int, int]:
    """Issues located in ``generation`` in the ``level`` areas ``codes`` that the caller may see: (all, open)."""
    column = f"{level}_code"
    if not codes or column not in t.LEVEL_CODE_COLUMNS:
        return 0, 0
    c = t.issues.c
    where = sa.and_(visible(view), c.generation == generation, getattr(c, column).in_(codes))
    active = sa.func.sum(sa.case((c.state.in_(ACTIVE_STATES), 1), else_=0))
    with view.registry.store.engine.connect() as conn:
        total, open_ = conn.execute(sa.select(sa.func.count(), active).where(where)).one()
    return int(total or 0), int(open_ or 0)


def _iso(value):
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).isoformat()


def figures_over_time(view, code: str) -> dict:
    """Buildings, households and issues of an area (or its lineage) in every published generation.

    Parameters
    ----------
    view : boundaries.scope.ScopedRegistry
        The caller (the area must be theirs; ancestors or descendants outside their areas are not counted).
    code : str

    Returns
    -------
    dict
        ``code``, ``name``, ``level``, ``generation`` (where the lineage starts), ``lineage`` (see
        :func:`boundaries.lineage.lineage`) and ``figures``: per published generation, oldest first,
        ``generation``, ``published_at``, ``via`` (``self``, ``ancestors``, ``descendants`` or ``none``),
        ``areas`` (``code``, ``name``), ``buildings``, ``households``, ``issues``, ``open_issues``.
    """
    registry = view.registry
    found = lineage(view, code)
    followed = {found["generation"]: ("self", [{"code": code, "name": found["name"]}])}
    for via in ("ancestors", "descendants"):
        for step in found[via]:
            followed[step["generation"]] = (via, [{"code": a["code"], "name": a["name"]} for a in step["areas"]])
    figures = []
    for row in registry.generations():
        if row["state"] != "published":
            continue
        g = int(row["id"])
        via, areas = followed.get(g, ("none", []))
        areas = [a for a in areas if a["code"]]  # outside the caller's areas: not counted
        codes = [a["code"] for a in areas]
        counts = assets.household_counts(registry, g).reindex(codes).fillna(0)
        issues, open_issues = _issue_counts(view, g, found["level"], codes)
        figures.append(
            {
                "generation": g,
                "published_at": _iso(row.get("published_at")),
                "via": via,
                "areas": areas,
                "buildings": int(counts["buildings"].sum()),
                "households": int(counts["households"].sum()),
                "issues": issues,
                "open_issues": open_issues,
            }
        )
    keys = ("code", "name", "level", "generation")
    return {k: found[k] for k in keys} | {"lineage": found, "figures": figures}
