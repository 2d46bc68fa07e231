"""A planner's change set as a whole: what it changed, rebasing it, and rolling boundaries back.

Publishing and discarding are in :mod:`boundaries.editing` (with the drawing they conclude); the store's side
(which rows a change set sees, renumbering on publish, conflicts) is in :mod:`boundaries.storage.change_sets`.
"""

from __future__ import annotations

import shapely

from boundaries import drafts
from boundaries.editing import _AREA_KEYS
from boundaries.scope import ScopedRegistry
from core.audit import record
from core.errors import ConflictError, InvalidInputError, NotFoundError

__all__ = ["change_set_summary", "rebase", "rollback"]


def rebase(view: ScopedRegistry, change_set: int | None = None) -> dict:
    """Move the caller's change set (or ``change_set``) onto the current generation (same scope rule)."""
    return view.registry.rebase(view.actor, drafts.scope_check(view), change_set)


def change_set_summary(view: ScopedRegistry, change_set: int | None = None) -> dict:
    """The caller's open change set (or ``change_set``): who, when, its base, the areas it changed, conflicts.

    ``conflicts`` lists the areas it changed that a generation published since its base also changed (what
    publishing would refuse); ``behind`` counts the generations published since its base.
    """
    store = view.registry.store
    with store.engine.connect() as conn:
        draft = drafts.draft_of(view, conn) if change_set is None else change_set
        if draft is None:
            raise NotFoundError("没有草稿版本 you have no open change set")
        row = store.generation(draft, conn)
        if row["state"] != "draft":
            raise ConflictError(f"版本 {draft} 不是草稿 generation {draft} is not an open change set")
        if row["owner"] != drafts.owner_of(view.actor):
            drafts.scope_check(view)(conn, draft, None)  # another's change set: only if it lies in your areas
        changes = store.draft_changes(conn, draft)
        touched = {r["code"] for r in changes} | {r["parent_code"] for r in changes if r["parent_code"]}
        conflicts = store.change_set_conflicts(conn, draft, touched)
        current = store.current_generation_id(conn)
    added = sorted({r["code"] for r in changes if r["generation_low"] == draft})
    retired = sorted({r["code"] for r in changes if r["generation_high"] == draft})
    base = row["base_generation"]
    return {
        "change_set": draft,
        "author": row["author"],
        "note": row["note"],
        "created_at": row["created_at"].isoformat() if row["created_at"] else None,
        "base_generation": base,
        "current_generation": current,
        "behind": sum(
            1 for g in store.generations() if g["state"] == "published" and base is not None and g["id"] > base
        ),
        "added_or_changed": added,
        "removed": sorted(set(retired) - set(added)),
        "conflicts": conflicts,
    }


def _subtree(rows: list[dict], root: str | None) -> dict[str, dict]:
    """The rows of ``root`` 's descendants (every row when ``root`` is None), by code."""
    if root is None:
        return {r["code"]: r for r in rows}
    children: dict[str, list[dict]] = {}
    for row in rows:
        children.setdefault(row["parent_code"], []).append(row)
    out, stack = {}, [root]
    while stack:
        for row in children.get(stack.pop(), []):
            if row["code"] not in out:
                out[row["code"]] = row
                stack.append(row["code"])
    return out


def _same(a: dict, b: dict) -> bool:
    return all(a[k] == b[k] for k in _AREA_KEYS) and shapely.to_wkb(a["geometry"]) == shapely.to_wkb(b["geometry"])


def rollback(view: ScopedRegistry, generation: int, parent: str | None = None) -> dict:
    """Bring back an older generation's boundaries below ``parent`` (everything when None) in a change set.

    The caller's change set receives them; publishing it makes the roll-back a new generation (history is never
    rewritten). Areas that differ from ``generation`` (boundary, name, kind or parent) are redrawn as they were, areas
    added since are removed, areas removed since come back. A planner may roll back only below their areas;
    the whole registry (``parent=None``) needs an unrestricted caller. Returns what changed (audited).
    """
    store = view.registry.store
    old_generation = int(generation)
    if store.generation(old_generation)["state"] != "published":
        raise InvalidInputError(
            f"只能回滚到已发布的版本 generation {old_generation} is not published: roll back to a published one"
        )
    if parent is None and not view.scope.unrestricted:
        raise InvalidInputError("请指定要回滚的上级区域 name the parent area whose areas to roll back")
    with store.transaction() as conn:
        draft = drafts.open_draft(store, conn, view.actor)
        if parent is not None:
            drafts.require_below(view, conn, draft, parent)
            if not store.areas(draft, codes=[parent], geometry=False, conn=conn):
                raise NotFoundError(f"区域不存在 no area with code {parent!r} in your change set")
        then = _subtree(store.areas(old_generation, conn=conn), parent)
        now = _subtree(store.areas(draft, conn=conn), parent)
        restored, redrawn, removed = [], [], []
        for code in sorted(now.keys() - then.keys(), key=lambda c: -len(c)):  # deepest first
            store.replace_draft_area(conn, draft, now[code], None)
            removed.append(code)
        for code, old in sorted(then.items()):
            current = now.get(code)
            if current is not None and _same(current, old):
                continue
            values = {k: old[k] for k in (*_AREA_KEYS, "geometry", "minx", "miny", "maxx", "maxy")}
            if current is None:
                store.insert_area(conn, {**values, "generation_low": draft})
                restored.append(code)
            else:
                store.replace_draft_area(conn, draft, current, values)
                redrawn.append(code)
        if not (restored or redrawn or removed):
            raise ConflictError(
                f"无需回滚 the areas below {parent or 'the root'} are already as in generation {old_generation}"
            )
        answer = {"change_set": draft, "generation": old_generation, "parent": parent,
                  "restored": restored, "redrawn": redrawn, "removed": sorted(removed)}  # fmt: skip
        record(conn, view.actor, "rollback", "generation", draft, None, answer)
    return answer
