"""The grid registry: areas by level and generation, publishing, and locating points in them.

Generations work as in MapIt: an area row is valid from ``generation_low`` (inclusive) until
``generation_high`` (exclusive, NULL while still valid). Changes go into one draft generation whose id is
higher than every published one; publishing flips the draft's state in one statement, so lookups of the
current generation switch atomically. Old generations stay queryable.
"""

from __future__ import annotations

import logging
import threading

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from boundaries.caches import AreaNodes, Cache, IndexFolder
from boundaries.codes import DEFAULT_LAYOUT, CodeLayout
from boundaries.levels import LEVELS, check_level
from boundaries.storage import Store
from core.audit import SYSTEM, Actor, record
from core.errors import ChangeSetConflictError, NoGenerationError, NotFoundError
from geo.crs import check_area_of_use, check_lonlat, normalize_crs, to_wgs84
from geo.locate import AMBIGUOUS, LazyPolygons, PolygonIndex

__all__ = ["Registry", "frame_from_rows"]

_AREA_COLUMNS = ["code", "level", "name", "kind", "parent_code", "generation_low", "generation_high"]


def frame_from_rows(rows: list[dict], columns: list[str]) -> gpd.GeoDataFrame:
    """A WGS84 GeoDataFrame from store rows (``geometry`` as the store gives it: shapely)."""
    if not rows:
        return gpd.GeoDataFrame(columns=[*columns, "geometry"], geometry="geometry", crs="EPSG:4326")
    df = pd.DataFrame(rows)
    geoms = df.pop("geometry").to_numpy()
    keep = [c for c in df.columns if c not in ("minx", "miny", "maxx", "maxy")]
    return gpd.GeoDataFrame(df[keep], geometry=geoms, crs="EPSG:4326")


class Registry:
    """Domain operations on areas and generations over a :class:`~boundaries.storage.Store`.

    Parameters
    ----------
    store : Store
    layout : CodeLayout, optional
        Digit widths of generated codes.
    index_dir : str or os.PathLike or False, optional
        Where published generations' point indexes are saved for other processes (default: ``indexes`` beside
        a SQLite file; none for a server database unless given; ``False``: never).
    prepare_on_publish : bool
        Build the new generation's point index in a background thread right after publishing (the service
        does; commands and tests build on first use).

    Notes
    -----
    Caches are keyed by :meth:`cache_version`: the generation alone once published (published generations
    never change), the database's ``areas`` revision for a draft, so a write by any process invalidates them.
    """

    def __init__(self, store: Store, layout: CodeLayout = DEFAULT_LAYOUT, index_dir=None, prepare_on_publish=False):
        self.store = store
        self.layout = layout
        self.indexes = Cache(size=4)
        self.cache = Cache(size=32)
        self.layers = Cache(size=12)  # simplified map layers per zoom (boundaries.layers)
        self.tiles = Cache(size=4096)  # encoded vector tiles
        folder = store.default_index_dir() if index_dir is None else (index_dir or None)  # False: never save
        self.index_folder = IndexFolder(folder) if folder is not None else None
        self.prepare_on_publish = prepare_on_publish
        self._preparing: set[int] = set()  # generations whose index a background thread is building
        self.preparation: threading.Thread | None = None  # the latest such thread (tests join it)

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

    def publish(self, actor: Actor = SYSTEM, check=None, change_set: int | None = None) -> int:
        """Publish the actor's change set (or the open change set ``change_set``) as the newest generation.

        Lookups of the current generation switch to it in one transaction. Returns the published generation's
        id (a change set opened before another generation was created is published under a new, higher id).
        ``check(conn, draft, changes)`` may refuse by raising before anything is written; ``changes`` are the
        area rows the change set added or retired. An area the change set changed that a generation published
        since its base also changed is a conflict (:class:`ChangeSetConflictError`): rebase (:meth:`rebase`)
        and publish again. The audit entry records what the change set changed.
        """
        return self._close_draft("published", actor, check, change_set)

    def discard_draft(self, actor: Actor = SYSTEM, check=None, change_set: int | None = None) -> int:
        """Throw the actor's change set (or ``change_set``) away, restoring every area it retired."""
        return self._close_draft("discarded", actor, check, change_set)

    def rebase(self, actor: Actor = SYSTEM, check=None, change_set: int | None = None) -> dict:
        """Move the actor's change set (or ``change_set``) onto the current generation.

        The areas it changed keep its version (replacing what was published in between); everything else is
        read from the current generation. Returns ``{"change_set", "base_generation", "codes"}`` (audited).
        """
        with self.store.transaction() as conn:
            draft = self._change_set(conn, actor, change_set, "rebase")
            changes = self.store.draft_changes(conn, draft)
            if check is not None:
                check(conn, draft, changes)
            before = self.store.generation(draft, conn)["base_generation"]
            codes = sorted({r["code"] for r in changes})
            base = self.store.rebase_change_set(conn, draft, codes)
            answer = {"change_set": draft, "base_generation": base, "codes": codes}
            record(conn, actor, "rebase", "generation", draft, {"base_generation": before}, answer)
        return answer

    def _change_set(self, conn, actor: Actor, change_set: int | None, verb: str) -> int:
        from boundaries.drafts import owner_of

        if change_set is None:
            draft = self.store.draft_generation_id(conn, owner_of(actor))
            if draft is None:
                raise NotFoundError(f"没有草稿版本 you have no open change set to {verb}")
            return draft
        self.store.generation(change_set, conn)  # 404 naming what a published change set became
        self.store.lock_change_set(conn, change_set)
        return change_set

    def _close_draft(self, state: str, actor: Actor, check, change_set: int | None = None) -> int:
        verb = {"published": "publish", "discarded": "discard"}[state]
        with self.store.transaction() as conn:
            draft = self._change_set(conn, actor, change_set, verb)
            changes = self.store.draft_changes(conn, draft)
            if check is not None:
                check(conn, draft, changes)
            if state == "published":
                self.store.lock_publishing(conn)  # a concurrent publish commits first, and is seen below
                touched = {r["code"] for r in changes} | {r["parent_code"] for r in changes if r["parent_code"]}
                conflicts = self.store.change_set_conflicts(conn, draft, touched)
                if conflicts:
                    raise ChangeSetConflictError(draft, conflicts)
            generation = self.store.set_generation_state(conn, draft, state)
            summary = {
                "state": state,
                "change_set": draft,
                "added_or_changed": sorted(r["code"] for r in changes if r["generation_low"] == draft),
                "retired_or_replaced": sorted(r["code"] for r in changes if r["generation_high"] == draft),
            }
            record(conn, actor, verb, "generation", generation, {"state": "draft"}, summary)
        draft = generation
        if state == "published" and self.prepare_on_publish:
            self._preparing.add(draft)
            self.preparation = threading.Thread(
                target=self._prepare, args=(draft,), name=f"index-g{draft}", daemon=True
            )
            self.preparation.start()
        return draft

    def _prepare(self, generation: int) -> None:
        """Build (and save) the point index of a generation's lowest level before the first request needs it."""
        try:
            self.index(self.lowest_level(generation), generation)
            self.ancestors(generation)  # the hierarchy a located point's chain and scope need
        except Exception:  # noqa: BLE001 - a failed preparation is only a missed head start: the request builds it
            logging.getLogger(__name__).exception("preparing the index of generation %s failed", generation)
        finally:
            self._preparing.discard(generation)
        self.warm_map_layers(generation)  # after the index: locating switches to the new generation first

    def warm_map_layers(self, generation: int) -> None:
        """Simplify the map's tiles of a generation's lowest level ahead (see :func:`boundaries.layers.warm_layers`)."""
        from boundaries.layers import warm_layers

        try:
            warm_layers(self, generation)
        except Exception:  # noqa: BLE001 - a missed head start only: the first tile request builds it
            logging.getLogger(__name__).exception("preparing the map layers of generation %s failed", generation)

    def serving_generation(self, current: int) -> int:
        """The generation to locate in when none is asked for, ``current`` being the newest published one.

        While this process prepares the new generation's index in the background (``prepare_on_publish``),
        points are still located in the previous published generation, so no request waits for the build; the
        new one serves as soon as its index is ready. Another process that did not publish builds or loads it.
        """
        if current not in self._preparing:
            return current
        older = [g["id"] for g in self.store.generations() if g["state"] == "published" and g["id"] < current]
        return max(older) if older else current

    def cache_version(self, generation: int):
        """What cached values of ``generation`` are keyed by: ``None`` once published, else the areas revision."""
        return None if self.store.is_published(generation) else ("rev", self.store.revision("areas"))

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

    def hierarchy(self, generation=None) -> AreaNodes:
        """Every area of a generation: code → ``{code, name, level, kind, parent_code}`` (cached, no geometry)."""
        g = self.resolve_generation(generation)

        def build():
            return AreaNodes(self.store.area_columns(g, ["id", *AreaNodes.KEYS]))

        return self.cache.get_or_build(("hierarchy", g, self.cache_version(g)), build)

    def chain(self, code: str, generation=None) -> list[dict]:
        """The area and its ancestors, from the area up to the top, as property dicts."""
        nodes = self.hierarchy(generation)
        result, seen = [], set()
        while code and code not in seen and code in nodes:
            seen.add(code)
            node = nodes[code]
            result.append({k: node[k] for k in ("code", "name", "level", "kind")})
            code = node["parent_code"]
        return result

    def ancestors(self, generation=None) -> dict[str, dict[str, str]]:
        """For every area code of a generation: ``{level: code}`` of the area and all above it (cached)."""
        g = self.resolve_generation(generation)

        def build():
            nodes = self.hierarchy(g)
            level_of = dict(zip(nodes.columns["code"].tolist(), nodes.columns["level"].tolist(), strict=True))
            parent_of = dict(zip(nodes.columns["code"].tolist(), nodes.columns["parent_code"].tolist(), strict=True))
            out = {}
            for code in level_of:
                chain, seen, c = {}, set(), code
                while c and c in level_of and c not in seen:
                    seen.add(c)
                    chain.setdefault(level_of[c], c)
                    c = parent_of[c]
                out[code] = chain
            return out

        return self.cache.get_or_build(("ancestors", g, self.cache_version(g)), build)

    # -- locating ----------------------------------------------------------------------------------
    def index(self, level: str, generation=None) -> tuple[PolygonIndex, pd.DataFrame]:
        """The point index of one level's areas in a generation, with the areas it indexes.

        The areas come as a DataFrame of ``id``, ``code`` and ``name`` ordered by code, with no geometry.
        Cached per generation (and revision, for a draft); built once however many threads ask at once. A
        published generation's index is saved in :attr:`index_folder`, so other processes load it; a loaded
        index reads no outline until a point lies within a hair of an edge or in an overlap, and then only the
        outlines whose bounding box holds that point (:class:`~geo.exact.LazyPolygons`).
        """
        index, frame, _codes, _names = self._indexed(level, generation)
        return index, frame

    def _indexed(self, level: str, generation=None):
        check_level(level)
        g = self.resolve_generation(generation)
        version = self.cache_version(g)

        def build():
            saved = self._saved_index_path(level, g) if version is None else None
            if saved is not None and saved[0].is_dir():
                folder, table = saved
                ids = table["id"].astype("int64")
                polygons = LazyPolygons(None, lambda at: self._outlines(ids[at]), n=len(ids))
                index = self.index_folder.load_or_build(folder, polygons)
            else:
                table = self.store.area_columns(g, ["id", "code", "name", "geometry"], level=level)
                polygons = np.asarray(table.pop("geometry"), dtype=object)
                if not len(polygons):  # (nothing to index: said before a build is tried)
                    raise NotFoundError(f"该版本没有 {level} 层级的区域 no {level} areas in generation {g}")
                if saved is not None:
                    index = self.index_folder.load_or_build(saved[0], polygons)
                else:
                    index = PolygonIndex(polygons)
            if not len(table["code"]):
                raise NotFoundError(f"该版本没有 {level} 层级的区域 no {level} areas in generation {g}")
            frame = pd.DataFrame(table)
            codes, names = np.asarray(table["code"], dtype=object), np.asarray(table["name"], dtype=object)
            return index, frame, codes, names

        return self.indexes.get_or_build((level, g, version), build)

    def _saved_index_path(self, level: str, generation: int):
        """``(folder, area columns)`` of a published generation's saved index, or ``None`` without a folder."""
        if self.index_folder is None:
            return None
        columns = self.hierarchy(generation).columns  # one lean read serves the hierarchy and every level
        of_level = columns["level"] == level
        table = {name: columns[name][of_level] for name in ("id", "code", "name")}
        if not len(table["code"]):
            raise NotFoundError(f"该版本没有 {level} 层级的区域 no {level} areas in generation {generation}")
        row = self.store.generation(generation)
        stamp = f"{row['created_at']}|{row.get('published_at')}"
        return self.index_folder.path(level, generation, stamp, table["code"]), table

    def _outlines(self, ids) -> np.ndarray:
        """Outlines of areas by row id, in the order asked (for a loaded index's lazily fetched polygons)."""
        found = self.store.area_geometries(ids)
        return np.asarray([found[int(i)] for i in ids], dtype=object)

    def outline(self, level: str, code: str, generation=None) -> shapely.MultiLineString:
        """The boundary of one area of ``level`` from its point index's own edges (no outline read)."""
        index = self.index(level, generation)[0]
        return index.outline(self.positions(level, generation)[code])

    def levels_present(self, generation=None) -> tuple[str, ...]:
        """The levels that have areas in a generation, top down (cached per generation and draft change)."""
        g = self.resolve_generation(generation)
        key = ("levels", g, self.cache_version(g))
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
        g = self.resolve_generation(generation)
        index, frame = self.index(level, g)
        key = ("positions", level, g, self.cache_version(g))
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
        code_out, name_out, status, on_boundary = self.locate_arrays(lon, lat, level, generation, crs)
        return pd.DataFrame({"code": code_out, "name": name_out, "status": status, "on_boundary": on_boundary})

    def locate_point(self, lon: float, lat: float, level: str | None = None, generation=None, crs="wgs84") -> dict:
        """Locate one point without building a table: ``{status, code, name, on_boundary}`` (see :meth:`locate`)."""
        code, name, status, on_boundary = self.locate_arrays([lon], [lat], level, generation, crs)
        return {"code": code[0], "name": name[0], "status": str(status[0]), "on_boundary": bool(on_boundary[0])}

    def locate_arrays(self, lon, lat, level: str | None = None, generation=None, crs="wgs84") -> tuple:
        """:meth:`locate`'s columns as numpy arrays ``(code, name, status, on_boundary)``, with no table built."""
        crs = normalize_crs(crs)
        if not isinstance(crs, str):  # an EPSG code: the points must lie where it can describe them
            check_area_of_use(lon, lat, crs, "点坐标 point")
        lon, lat = to_wgs84(lon, lat, crs)
        lon, lat = np.atleast_1d(lon).ravel(), np.atleast_1d(lat).ravel()
        check_lonlat(lon, lat, "点坐标 point")
        level = level or self.lowest_level(generation)
        index, _frame, codes, names = self._indexed(level, generation)
        result = index.locate(lon, lat)
        found = result.index >= 0
        code_out = np.full(len(lon), "", dtype=object)
        name_out = np.full(len(lon), "", dtype=object)
        code_out[found] = codes[result.index[found]]
        name_out[found] = names[result.index[found]]
        for i, polys in result.ambiguous.items():
            code_out[i] = ";".join(codes[polys])
            name_out[i] = ";".join(names[polys])
        status = np.where(found, "ok", np.where(result.index == AMBIGUOUS, "ambiguous", "outside"))
        return code_out, name_out, status, result.on_boundary
