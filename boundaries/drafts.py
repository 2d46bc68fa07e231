"""The draft generation as writers see it: opened inside their transaction, and the scope rule of publishing.

Every area write reads the draft inside its own write transaction (:func:`open_draft`), so a draft cannot be
published or discarded between the read and the write; the store refuses any area row valid from, or retired
at, a generation that is not the open draft. Publishing and discarding check the scope of every change
(:func:`scope_check`) in the transaction that flips the draft's state.
"""

from __future__ import annotations

import numpy as np
import shapely

from boundaries.storage.change_sets import SYSTEM_OWNER
from core.errors import OutOfScopeError
from geo import topology

__all__ = [
    "OUTSIDE_PARENT_TOLERANCE_M2",
    "owner_of",
    "draft_of",
    "open_draft",
    "parents",
    "covered",
    "require_below",
    "scope_check",
    "SYSTEM_OWNER",
]

#: Area (m²) an area may lie outside its parent before a drawing is refused: below it is floating-point noise
#: of shared edges (the importer's report uses the same threshold for overlaps, gaps and outside-parent parts).
OUTSIDE_PARENT_TOLERANCE_M2 = 1.0


def owner_of(actor) -> str:
    """The change-set owner of an actor: ``user:<id>`` for a user, ``system`` for the command line."""
    return SYSTEM_OWNER if actor.user_id is None else f"user:{actor.user_id}"


def draft_of(view, conn=None) -> int | None:
    """The caller's open change set (``None`` when they have none)."""
    return view.registry.store.draft_generation_id(conn, owner_of(view.actor))


def open_draft(store, conn, actor, note: str = "") -> int:
    """The actor's change set, read (and locked) in the caller's write transaction; opened when there is none.

    Reading it here, not before the transaction, means it cannot have been published or discarded in between;
    opening it here means a refused write rolls it back with everything else (no empty change set is left).
    """
    owner = owner_of(actor)
    return store.draft_generation_id(conn, owner) or store.create_generation(conn, note, owner, actor.name)


def parents(store, conn, generation) -> dict:
    """Code → parent code of every area valid in ``generation``, read in the transaction."""
    if generation is None:
        return {}
    return {r["code"]: r["parent_code"] for r in store.areas(generation, geometry=False, conn=conn)}


def covered(view, parent_of: dict, code) -> bool:
    """Whether ``code`` or one of its ancestors (in ``parent_of``) is one of the caller's areas."""
    if view.scope.unrestricted:
        return True
    seen = set()
    while code is not None and code in parent_of and code not in seen:
        if code in view.scope.roots:
            return True
        seen.add(code)
        code = parent_of[code]
    return False


def require_below(view, conn, generation, parent_code) -> None:
    """Changes need the parent in scope (as :meth:`ScopedRegistry.require_below`), read in the transaction.

    Decided on what the transaction reads rather than on a cache another process may have outdated.
    """
    if view.scope.unrestricted:
        return
    if parent_code is None or not covered(view, parents(view.registry.store, conn, generation), parent_code):
        raise OutOfScopeError("只能修改所辖区域以下的区域 you may only change areas below your own areas")


def scope_check(view):
    """The check :meth:`Registry.publish` / :meth:`Registry.discard_draft` run in their transaction.

    For a caller bound to areas, every row the draft added, changed or retired must lie under those areas:

    - by code: the parent of an added or changed row in the draft, of a retired row in the current generation,
      is one of the caller's areas or below one;
    - by geometry: an added or redrawn row lies within its parent in the draft, up to
      :data:`OUTSIDE_PARENT_TOLERANCE_M2` (a row whose boundary is unchanged is not re-measured).

    Administrators and the command line (unrestricted) publish anything.
    """

    def check(conn, draft, _changes) -> None:
        if view.scope.unrestricted:
            return
        store = view.registry.store
        changes = store.draft_changes(conn, draft, geometry=True)
        in_draft = parents(store, conn, draft)
        in_current = parents(store, conn, store.current_generation_id(conn))
        for row in changes:
            parent_of = in_draft if row["generation_low"] == draft else in_current
            if row["parent_code"] is None or not covered(view, parent_of, row["parent_code"]):
                raise OutOfScopeError(
                    f"草稿中有所辖区域以外的改动 the draft changes area {row['code']!r} under "
                    f"{row['parent_code']!r}, outside your areas: only its author or an administrator may publish "
                    "or discard it"
                )
        _check_geometry(store, conn, draft, changes)

    return check


def _check_geometry(store, conn, draft, changes) -> None:
    before = {r["code"]: shapely.to_wkb(r["geometry"]) for r in changes if r["generation_high"] == draft}
    redrawn = [
        r for r in changes if r["generation_low"] == draft and shapely.to_wkb(r["geometry"]) != before.get(r["code"])
    ]
    if not redrawn:
        return
    parent_rows = store.areas(draft, codes=sorted({r["parent_code"] for r in redrawn}), conn=conn)
    parent_geometry = {r["code"]: r["geometry"] for r in parent_rows}
    outside = topology.outside_parent(
        np.asarray([r["geometry"] for r in redrawn], dtype=object),
        np.array([parent_geometry.get(r["parent_code"], shapely.Polygon()) for r in redrawn], dtype=object),
        min_area_m2=OUTSIDE_PARENT_TOLERANCE_M2,
    )
    for row, area_m2 in zip(redrawn, outside, strict=True):
        if area_m2 > 0:
            raise OutOfScopeError(
                f"区域 {row['code']} 超出上级区域 {row['parent_code']} {area_m2:.2f} 平方米 area {row['code']!r} "
                f"lies {area_m2:.2f} m² outside its parent area {row['parent_code']!r}, beyond your areas "
                f"(tolerance {OUTSIDE_PARENT_TOLERANCE_M2:g} m²): redraw it inside {row['parent_code']}"
            )
