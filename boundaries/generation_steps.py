"""What changed between consecutive published generations, read lean (no geometry) and kept per registry.

A published generation never changes, so what changed from one to the next is read once: the codes whose row is
not the same (added, removed or replaced — a rename or a redraw writes a new row), and the areas above them.
History and lineage use it to skip building-level work where nothing changed: an area whose row is the same in
two consecutive generations keeps its ground, so it maps to itself and its buildings and households are those of
the generation before. Values are kept in a bounded cache of their own per registry (:func:`history_cache`), so
the registry's small shared cache (hierarchies, point indexes) is not flushed by a walk through many generations.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

from boundaries.caches import Cache
from boundaries.levels import LEVELS

__all__ = ["CACHE_SIZE", "Step", "history_cache", "published_generations", "steps"]

#: Values kept per registry: steps, links of changed pairs, lineages and figures (each small).
CACHE_SIZE = 2048

_CACHES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def history_cache(registry) -> Cache:
    """The bounded cache of history values of ``registry`` (made on first use)."""
    with _LOCK:
        found = _CACHES.get(registry)
        if found is None:
            found = _CACHES[registry] = Cache(size=CACHE_SIZE)
        return found


def published_generations(registry) -> list[int]:
    """Ids of the published generations, oldest first."""
    return sorted(int(g["id"]) for g in registry.store.generations() if g["state"] == "published")


@dataclass(frozen=True)
class Step:
    """What changed from the published generation ``old`` to the next one, ``new``."""

    old: int
    new: int
    #: Codes whose row is not the same in both (added, removed, renamed, re-kinded, reparented or redrawn).
    changed: frozenset
    #: The changed codes and every area above one of them, in either generation.
    touched: frozenset
    #: Whether both generations have the same lowest level (where buildings are counted).
    same_lowest: bool


def steps(registry, published: list[int]) -> list[Step]:
    """The :class:`Step` of every consecutive pair of ``published`` (oldest first), each read once and kept.

    Parameters
    ----------
    registry : boundaries.registry.Registry
    published : list of int
        Published generation ids, oldest first (see :func:`published_generations`).

    Returns
    -------
    list of Step
        ``len(published) - 1`` steps; a step not yet known reads the two generations' ids, codes, parents and
        levels (one lean query each, every generation read at most once per call).
    """
    cache = history_cache(registry)
    read: dict[int, dict] = {}

    def columns(g: int) -> dict:
        if g not in read:
            for older in [k for k in read if k < g]:
                del read[older]
            read[g] = registry.store.area_columns(g, ["id", "code", "parent_code", "level"])
        return read[g]

    out = []
    for old, new in zip(published, published[1:], strict=False):
        out.append(cache.get_or_build(("step", old, new), lambda o=old, n=new: _step(o, n, columns(o), columns(n))))
    return out


def _step(old: int, new: int, before: dict, after: dict) -> Step:
    ids = [dict(zip(side["code"], side["id"], strict=True)) for side in (before, after)]
    changed = {c for c in ids[0].keys() | ids[1].keys() if ids[0].get(c) != ids[1].get(c)}
    touched = set(changed)
    for side in (before, after):
        parents = dict(zip(side["code"], side["parent_code"], strict=True))
        done: set = set()
        for code in changed:
            while code and code not in done:
                done.add(code)
                touched.add(code)
                code = parents.get(code)
    lowest = [max((LEVELS.index(v) for v in set(side["level"])), default=-1) for side in (before, after)]
    return Step(old, new, frozenset(changed), frozenset(touched), lowest[0] == lowest[1])
