"""Area scope applied to the registry: what a caller may see and change of areas, buildings and service points.

A :class:`~core.scope.Scope` is the set of areas a user is bound to; each binding covers its whole subtree. The web
layer never reads the registry directly: it gets a :class:`ScopedRegistry` for the caller, whose every query
returning areas, buildings, service points or workers is filtered by the scope, so a new endpoint cannot forget
the filter. Issues and tracks carry the codes of the areas they lie in and are filtered the same way.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from boundaries import assets
from boundaries.registry import Registry
from core.audit import SYSTEM, Actor
from core.errors import NotFoundError, OutOfScopeError
from core.scope import Scope, mask_phone

__all__ = ["NO_SUCH_ASSET", "ScopedRegistry"]


#: The answer for a building or service point that does not exist or lies outside the caller's areas.
NO_SUCH_ASSET = {
    "building": "建筑不存在或不在您的辖区内 no such building in your areas",
    "service_point": "服务点不存在或不在您的辖区内 no such service point in your areas",
}


class ScopedRegistry:
    """The registry as one caller sees it.

    Parameters
    ----------
    registry : Registry
    scope : Scope
    actor : Actor
        Recorded in the audit log for every change made through this object.
    """

    def __init__(self, registry: Registry, scope: Scope, actor: Actor = SYSTEM):
        self.registry = registry
        self.scope = scope
        self.actor = actor
        self._snapshot: dict | None = None  # current generation and revisions, read once for this object's life

    # -- scope tests -------------------------------------------------------------------------------
    def codes(self, generation=None) -> frozenset[str] | None:
        """Codes the scope covers in a generation (``None`` when unrestricted)."""
        if self.scope.unrestricted:
            return None
        g = self.resolve_generation(generation)
        key = ("scope-codes", self.scope.roots, g, self.registry.cache_version(g))
        cached = self.registry.cache.get(key)
        if cached is None:  # an area is in scope when one of its ancestors (or itself) is a bound root
            roots = self.scope.roots
            cached = frozenset(c for c, chain in self.registry.ancestors(g).items() if roots & set(chain.values()))
            self.registry.cache.put(key, cached)
        return cached

    def covers(self, code: str | None, generation=None) -> bool:
        """Whether the area ``code`` lies in the scope."""
        codes = self.codes(generation)
        return codes is None or (code is not None and code in codes)

    def require(self, code: str, generation=None) -> None:
        """Raise :class:`NotFoundError` for an unknown area, :class:`OutOfScopeError` for one outside the scope."""
        g = self.resolve_generation(generation)
        if self.covers(code, g) and not self.scope.unrestricted:
            return
        if code not in self.registry.hierarchy(g):  # unknown codes are "not found" for everyone
            raise NotFoundError(f"区域不存在 no area with code {code!r} in this generation")
        if not self.covers(code, g):
            raise OutOfScopeError(f"无权访问该区域 area {code!r} is outside your areas")

    def require_below(self, parent_code: str | None, generation=None) -> None:
        """Changes to an area need its parent in scope: a binding lets one redraw what lies under it."""
        if self.scope.unrestricted:
            return
        if parent_code is None or not self.covers(parent_code, generation):
            raise OutOfScopeError("只能修改所辖区域以下的区域 you may only change areas below your own areas")

    def _geometry(self):
        """Union of the scope's root areas in the current generation (``None`` when unrestricted)."""
        if self.scope.unrestricted:
            return None
        g = self.registry.current_generation()
        key = ("scope-geometry", self.scope.roots, g)
        cached = self.registry.cache.get(key)
        if cached is None:
            frame = self.registry.areas(generation=g, codes=sorted(self.scope.roots))
            cached = shapely.union_all(frame.geometry.values) if len(frame) else shapely.Polygon()
            shapely.prepare(cached)
            self.registry.cache.put(key, cached)
        return cached

    def covers_points(self, lon, lat) -> np.ndarray:
        """Which points lie in the scope's areas (boundary included)."""
        lon, lat = np.asarray(lon, float), np.asarray(lat, float)
        geometry = self._geometry()
        if geometry is None:
            return np.ones(len(lon), bool)
        return shapely.intersects_xy(geometry, lon, lat)

    def require_point(self, lon: float, lat: float) -> None:
        """Raise :class:`OutOfScopeError` for a point outside the scope."""
        if not self.covers_points([lon], [lat])[0]:
            raise OutOfScopeError(f"该位置不在您的辖区内 ({lon:.6f}, {lat:.6f}) is outside your areas")

    # -- areas -------------------------------------------------------------------------------------
    def generations(self) -> list[dict]:
        """Every generation (metadata only)."""
        return self.registry.generations()

    def resolve_generation(self, generation=None) -> int:
        """See :meth:`Registry.resolve_generation`; the current generation is read once per object (request)."""
        if generation is not None:
            return self.registry.resolve_generation(generation)
        if self.snapshot()["current"] is None:
            return self.registry.resolve_generation(None)  # raises NoGenerationError
        return self.snapshot()["current"]

    def locating_generation(self, generation=None) -> int:
        """The generation to locate points in: ``generation`` if given, else the current one as it serves.

        That is the previous one while this process builds a just-published generation's index (see
        :meth:`Registry.serving_generation`).
        """
        if generation is not None:
            return self.registry.resolve_generation(generation)
        return self.registry.serving_generation(self.resolve_generation(None))

    def snapshot(self) -> dict:
        """The current generation and the database's revisions, read in one query the first time (a request)."""
        if self._snapshot is None:
            self._snapshot = self.registry.store.snapshot()
        return self._snapshot

    def areas(self, level=None, generation=None, parent_code=None, codes=None, bbox=None) -> gpd.GeoDataFrame:
        """Areas in scope; asking for the children of an area outside it is refused."""
        if parent_code is not None:
            self.require(parent_code, generation)
        frame = self.registry.areas(level=level, generation=generation, parent_code=parent_code, codes=codes, bbox=bbox)
        allowed = self.codes(generation)
        return frame if allowed is None else frame[frame["code"].isin(allowed)]

    def area(self, code: str, generation=None):
        """One area in scope."""
        self.require(code, generation)
        return self.registry.area(code, generation)

    def tree(self, generation=None) -> list[dict]:
        """The hierarchy pruned to the scope; the caller's own areas are the roots."""
        roots = self.registry.tree(generation)
        allowed = self.codes(generation)
        if allowed is None:
            return roots
        out, stack = [], list(roots)
        while stack:
            node = stack.pop(0)
            if node["code"] in allowed:
                out.append(node)
            else:
                stack.extend(node["children"])
        return out

    def chain(self, code: str, generation=None) -> list[dict]:
        """The area (in scope) and its ancestors, for context."""
        g = self.resolve_generation(generation)
        self.require(code, g)
        return self.registry.chain(code, g)

    def household_counts(self, generation=None) -> pd.DataFrame:
        """Buildings and households per area in scope."""
        counts = assets.household_counts(self.registry, generation)
        allowed = self.codes(generation)
        return counts if allowed is None else counts[counts.index.isin(allowed)]

    def locate(self, lon, lat, level=None, generation=None, crs="wgs84") -> pd.DataFrame:
        """:meth:`Registry.locate`, with areas outside the scope reported as ``out_of_scope`` and no code."""
        generation = self.resolve_generation(generation)
        result = self.registry.locate(lon, lat, level=level, generation=generation, crs=crs)
        allowed = self.codes(generation)
        if allowed is None:
            return result
        hidden = np.array(
            [bool(code) and not all(c in allowed for c in code.split(";")) for code in result["code"]], dtype=bool
        )
        result.loc[hidden, ["code", "name"]] = ""
        result.loc[hidden, "status"] = "out_of_scope"
        return result

    def locate_point(self, lon: float, lat: float, level=None, generation=None, crs="wgs84") -> dict:
        """One point, as :meth:`locate` answers it, without a table: ``{status, code, name, on_boundary}``."""
        generation = self.resolve_generation(generation)
        found = self.registry.locate_point(lon, lat, level=level, generation=generation, crs=crs)
        allowed = self.codes(generation)
        if allowed is not None and found["code"] and not all(c in allowed for c in found["code"].split(";")):
            found.update(code="", name="", status="out_of_scope")
        return found

    # -- assets ------------------------------------------------------------------------------------
    def _in_scope(self, frame):
        return frame[self.covers_points(frame["lon"].to_numpy(float), frame["lat"].to_numpy(float))]

    def buildings(self, bbox=None, area_code=None, generation=None) -> gpd.GeoDataFrame:
        """Buildings in scope (by representative point) in a bounding box and/or an area."""
        if area_code is not None:
            self.require(area_code, generation)
        return self._in_scope(assets.buildings(self.registry, bbox=bbox, area_code=area_code, generation=generation))

    def service_points(self, bbox=None, area_code=None, kind=None, generation=None) -> gpd.GeoDataFrame:
        """Service points in scope in a bounding box and/or an area."""
        if area_code is not None:
            self.require(area_code, generation)
        frame = assets.service_points(self.registry, bbox=bbox, area_code=area_code, kind=kind, generation=generation)
        return self._in_scope(frame)

    def building(self, building_id: int, conn=None) -> dict:
        """One building row (no geometry) in scope; see :meth:`asset_in_scope`."""
        rows = self.registry.store.buildings(ids=[int(building_id)], geometry=False, conn=conn)
        return self.asset_in_scope(rows, "building")

    def service_point(self, point_id: int, conn=None) -> dict:
        """One service point row in scope; see :meth:`asset_in_scope`."""
        return self.asset_in_scope(self.registry.store.service_points(ids=[int(point_id)], conn=conn), "service_point")

    def asset_in_scope(self, rows: list[dict], object_type: str) -> dict:
        """The one row of ``rows`` if it lies in the scope, else :class:`NotFoundError`.

        A building or service point outside the caller's areas answers exactly like an id that does not exist
        (:data:`NO_SUCH_ASSET`: same error, same message, no coordinates), so ids elsewhere cannot be probed.
        """
        if not rows or not self.covers_points([rows[0]["lon"]], [rows[0]["lat"]])[0]:
            raise NotFoundError(NO_SUCH_ASSET[object_type])
        return rows[0]

    def workers(self, codes) -> list[dict]:
        """Workers of the given areas in scope; phones masked unless the scope shows them in full."""
        codes = [c for c in codes if self.covers(c)]
        rows = assets.workers_of(self.registry, codes, self.snapshot()["assets"])
        return [
            {
                "name": w["name"],
                "role": w["role"],
                "phone": w["phone"] if self.scope.full_phones else mask_phone(w["phone"]),
                "area_code": w["area_code"],
            }
            for w in rows
        ]
