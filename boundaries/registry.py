"""The grid registry: areas by level and generation, publishing, and locating points in them.

Generations work as in MapIt: an area row is valid from ``generation_low`` (inclusive) until
``generation_high`` (exclusive, NULL while still valid). Changes go into one draft generation whose id is
higher than every published one; publishing flips the draft's state in one statement, so lookups of the
current generation switch atomically. Old generations stay queryable.
"""

from __future__ import annotations

import threading

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from boundaries.audit import SYSTEM, Actor, record
from boundaries.codes import DEFAULT_LAYOUT, CodeLayout
from boundaries.errors import NoGenerationError, NotFoundError
from boundaries.levels import LEVELS, check_level
from boundaries.storage import Store
from geo.crs import check_lonlat, to_wgs84
from geo.locate import AMBIGUOUS, PolygonIndex

__all__ = ["Registry", "frame_from_rows", "wkb_row"]

_AREA_COLUMNS = ["code", "level", "name", "kind", "parent_code", "generation_low", "generation_high"]


def wkb_row(geometry) -> dict:
    """Storage columns of a geometry: WKB and bounding box."""
    minx, miny, maxx, maxy = shapely.bounds(geometry)
    return {"geometry": shapely.to_wkb(geometry), "minx": minx, "miny": miny, "maxx": maxx, "maxy": maxy}


def frame_from_rows(rows: list[dict], columns: list[str]) -> gpd.GeoDataFrame:
    """A WGS84 GeoDataFrame from store rows carrying WKB ``geometry``."""
    if not rows:
        return gpd.GeoDataFrame(columns=[*columns, "geometry"], geometry="geometry", crs="EPSG:4326")
    df = pd.DataFrame(rows)
    geoms = shapely.from_wkb(df.pop("geometry").to_numpy())
    keep = [c for c in df.columns if c not in ("minx", "miny", "maxx", "maxy")]
    return gpd.GeoDataFrame(df[keep], geometry=geoms, crs="EPSG:4326")


class _Cache:
    """A small thread-safe cache of derived values, keyed by everything they depend on."""

    def __init__(self, size: int = 16):
        self._items: dict = {}
        self._size = size
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            return self._items.get(key)

    def put(self, key, value) -> None:
        with self._lock:
            if len(self._items) >= self._size:
                self._items.pop(next(iter(self._items)))
            self._items[key] = value


class Registry:
    """Domain operations on areas and generations over a :class:`~boundaries.storage.Store`.

    Parameters
    ----------
    store : Store
    layout : CodeLayout, optional
        Digit widths of generated codes.
    """

    def __init__(self, store: Store, layout: CodeLayout = DEFAULT_LAYOUT):
        self.store = store
        self.layout = layout
        self._indexes: dict[tuple, tuple[PolygonIndex, gpd.GeoDataFrame]] = {}
        self._lock = threading.Lock()
        self._draft_version = 0
        self.cache = _Cache()

    # -- generations -------------------------------------------------------------------------------
    def current_generation(self) -> int:
        """Id of the current (newest published) generation."""
        current = self.store.current_generation_id()
        if current is None:
            raise NoGenerationError("尚无已发布的版本 no generation has been published yet: import and publish areas")
        return current

    def resolve_generation(self, generation: int | None) -> int:
        """``generation`` checked to exist (drafts included), or the current one when ``None``."""
        if generation is None:
            return self.current_generation()
        if self.store.is_published(int(generation)):
            return int(generation)
        row = self.store.generation(int(generation))
        if row["state"] == "discarded":
            raise NotFoundError(f"版本 {generation} 已作废 generation {generation} was discarded")
        return int(generation)

    def generations(self) -> list[dict]:
        """All generations with their state; ``current`` marks the current one."""
        current = self.store.current_generation_id()
        return [{**g, "current": g["id"] == current} for g in self.store.generations()]

    def publish(self, actor: Actor = SYSTEM, check=None) -> int:
        """Publish the draft generation: it becomes current in one transaction. Returns its id.

        ``check(conn, draft, changes)`` may refuse by raising before anything is written; ``changes`` are the
        area rows the draft added or retired. The audit entry records what the draft changed.
        """
        return self._close_draft("published", actor, check)

    def discard_draft(self, actor: Actor = SYSTEM, check=None) -> int:
        """Throw the draft generation away, restoring every area it retired (``check`` as in :meth:`publish`)."""
        return self._close_draft("discarded", actor, check)

    def _close_draft(self, state: str, actor: Actor, check) -> int:
        verb = {"published": "publish", "discarded": "discard"}[state]
        with self.store.transaction() as conn:
            draft = self.store.draft_generation_id(conn)
            if draft is None:
                raise NotFoundError(f"没有草稿版本 there is no draft generation to {verb}")
            changes = self.store.draft_changes(conn, draft)
            if check is not None:
                check(conn, draft, changes)
            if state == "discarded":
                self.store.undo_draft_areas(conn, draft)
            self.store.set_generation_state(conn, draft, state)
            summary = {
                "state": state,
                "added_or_changed": sorted(r["code"] for r in changes if r["generation_low"] == draft),
                "retired_or_replaced": sorted(r["code"] for r in changes if r["generation_high"] == draft),
            }
            record(conn, actor, verb, "generation", draft, {"state": "draft"}, summary)
        self._invalidate()
        return draft

    def _invalidate(self) -> None:
        with self._lock:
            self._draft_version += 1
            self._indexes = {k: v for k, v in self._indexes.items() if k[2] is None}

    # -- areas -------------------------------------------------------------------------------------
    def areas(self, level=None, generation=None, parent_code=None, codes=None, bbox=None) -> gpd.GeoDataFrame:
        """Areas valid in a generation (default: current) as a WGS84 GeoDataFrame ordered by code."""
        if level is not None:
            check_level(level)
        g = self.resolve_generation(generation)
        rows = self.store.areas(g, level=level, parent_code=parent_code, codes=codes, bbox=bbox)
        return frame_from_rows(rows, ["id", *_AREA_COLUMNS])

    def area(self, code: str, generation=None) -> gpd.GeoSeries:
        """One area by code in a generation; :class:`NotFoundError` if it is not valid there."""
        frame = self.areas(generation=generation, codes=[code])
        if frame.empty:
            raise NotFoundError(f"区域不存在 no area with code {code!r} in this generation")
        return frame.iloc[0]

    def tree(self, generation=None) -> list[dict]:
        """The hierarchy as nested ``{code, name, level, kind, children}`` dicts (roots first)."""
        g = self.resolve_generation(generation)
        rows = self.store.areas(g, geometry=False)
        nodes = {r["code"]: {k: r[k] for k in ("code", "name", "level", "kind")} | {"children": []} for r in rows}
        roots = []
        for r in rows:
            parent = nodes.get(r["parent_code"]) if r["parent_code"] else None
            (parent["children"] if parent else roots).append(nodes[r["code"]])
        return roots

    def chain(self, code: str, generation=None) -> list[dict]:
        """The area and its ancestors, from the area up to the top, as property dicts."""
        g = self.resolve_generation(generation)
        result, seen = [], set()
        while code and code not in seen:
            seen.add(code)
            rows = self.store.areas(g, codes=[code], geometry=False)
            if not rows:
                break
            row = rows[0]
            result.append({k: row[k] for k in ("code", "name", "level", "kind")})
            code = row["parent_code"]
        return result

    def ancestors(self, generation=None) -> dict[str, dict[str, str]]:
        """For every area code of a generation: ``{level: code}`` of the area and all above it (cached)."""
        g = self.resolve_generation(generation)
        key = ("ancestors", g, None if self.store.is_published(g) else self._draft_version)
        cached = self.cache.get(key)
        if cached is None:
            rows = self.store.areas(g, geometry=False)
            parent = {r["code"]: r["parent_code"] for r in rows}
            level = {r["code"]: r["level"] for r in rows}
            cached = {}
            for code in parent:
                chain, seen, c = {}, set(), code
                while c and c in level and c not in seen:
                    seen.add(c)
                    chain.setdefault(level[c], c)
                    c = parent[c]
                cached[code] = chain
            self.cache.put(key, cached)
        return cached

    # -- locating ----------------------------------------------------------------------------------
    def index(self, level: str, generation=None) -> tuple[PolygonIndex, gpd.GeoDataFrame]:
        """The (cached) point index of one level's areas in a generation, with the areas it indexes."""
        check_level(level)
        g = self.resolve_generation(generation)
        draft = not self.store.is_published(g)
        key = (level, g, self._draft_version if draft else None)
        with self._lock:
            cached = self._indexes.get(key)
        if cached is None:
            frame = self.areas(level=level, generation=g)
            if frame.empty:
                raise NotFoundError(f"该版本没有 {level} 层级的区域 no {level} areas in generation {g}")
            cached = (PolygonIndex(np.asarray(frame.geometry.values, dtype=object)), frame.reset_index(drop=True))
            with self._lock:
                self._indexes[key] = cached
        return cached

    def levels_present(self, generation=None) -> tuple[str, ...]:
        """The levels that have areas in a generation, top down (cached per generation and draft change)."""
        g = self.resolve_generation(generation)
        key = ("levels", g, None if self.store.is_published(g) else self._draft_version)
        found = self.cache.get(key)
        if found is None:
            found = tuple(level for level in LEVELS if self.store.has_areas(g, level))
            self.cache.put(key, found)
        return found

    def lowest_level(self, generation=None) -> str:
        """The lowest level that has areas in a generation (micro-grids when there are any)."""
        present = self.levels_present(generation)
        if not present:
            raise NoGenerationError("该版本没有区域 the generation has no areas")
        return present[-1]

    def positions(self, level: str, generation=None) -> dict[str, int]:
        """Code → row of :meth:`index`'s frame, for one level and generation (cached with the index)."""
        index, frame = self.index(level, generation)
        key = ("positions", id(index))
        found = self.cache.get(key)
        if found is None:
            found = {code: i for i, code in enumerate(frame["code"])}
            self.cache.put(key, found)
        return found

    def locate(self, lon, lat, level: str | None = None, generation=None, crs="wgs84") -> pd.DataFrame:
        """Locate points (vectorised) in one level's areas.

        Parameters
        ----------
        lon, lat : array_like
            Coordinates in ``crs`` (longitude first).
        level : str, optional
            Default: the lowest level with areas.
        generation : int, optional
            Default: the current generation.
        crs : str
            ``wgs84`` (default), ``cgcs2000``, ``gcj02``, ``bd09`` or an EPSG code.

        Returns
        -------
        pandas.DataFrame
            Columns ``code``, ``name`` and ``status`` (``ok``, ``outside``, ``ambiguous``; for ambiguous points
            ``code`` and ``name`` list every containing area, ``;``-separated), and ``on_boundary``.
        """
        lon, lat = to_wgs84(lon, lat, crs)
        lon, lat = np.atleast_1d(lon).ravel(), np.atleast_1d(lat).ravel()
        check_lonlat(lon, lat, "点坐标 point")
        level = level or self.lowest_level(generation)
        index, frame = self.index(level, generation)
        result = index.locate(lon, lat)
        codes = frame["code"].to_numpy(dtype=object)
        names = frame["name"].to_numpy(dtype=object)
        found = result.index >= 0
        code_out = np.full(len(lon), "", dtype=object)
        name_out = np.full(len(lon), "", dtype=object)
        code_out[found] = codes[result.index[found]]
        name_out[found] = names[result.index[found]]
        for i, polys in result.ambiguous.items():
            code_out[i] = ";".join(codes[polys])
            name_out[i] = ";".join(names[polys])
        status = np.where(found, "ok", np.where(result.index == AMBIGUOUS, "ambiguous", "outside"))
        return pd.DataFrame({"code": code_out, "name": name_out, "status": status, "on_boundary": result.on_boundary})
