"""Coverage figures of service points over buildings.

For every building: which service points reach it and how far the nearest is; per area at every level: the
households covered; per point: the demand it carries against its capacity.

Reach is per service-point kind (``COVERAGE_REACH``, default 500 m), measured in a straight line in the data's
metric CRS or along the walking network when roads are loaded. Sites just outside the caller's areas still
count for the buildings they reach (a clinic across the street serves them), but only buildings, areas and
points inside the caller's scope are returned.

Out of reach: a building's nearest distance is known when some point of the kind is found for it — in a straight
line whenever there is a point, along the network only within the reach (the walk stops there). Other buildings
are *unreachable*: ``reachable`` is false and ``nearest_m`` / ``nearest_point`` are null (never ``inf`` or -1).
Distance figures (median, 90th percentile, maximum) are over **all** buildings, the unreachable ones ranked beyond
every finite distance; a figure that falls among them (or between the last reached one and them) is null, and the
summary names it in ``nearest_m.beyond_reach``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from boundaries import assets
from boundaries.scope import ScopedRegistry
from core.errors import InvalidInputError, NotFoundError
from geo.crs import from_wgs84, geometries_from_wgs84, geometries_to_wgs84, metric_crs
from geo.reach import pairs_within, straight_reach

__all__ = ["CoverageResult", "analyse", "reach_for", "check_kind", "DEFAULT_REACH_M", "DISTANCE_BINS", "KNOWN_KINDS"]

#: Reach of a kind with no configured reach.
DEFAULT_REACH_M = 500.0
#: Upper edges (metres) of the nearest-distance distribution's bins.
DISTANCE_BINS = (250, 500, 1000, 2000, np.inf)
#: Service-point kinds known without any point loaded (besides the kinds present and those in ``COVERAGE_REACH``).
KNOWN_KINDS = ("grid_station", "community_centre", "police", "clinic", "hospital", "school")
_QUANTILES = (("p50", 0.5), ("p90", 0.9), ("max", 1.0))


def check_kind(registry, kind: str, reach_table: dict | None = None) -> None:
    """Refuse a kind no service point has and no one knows (:data:`KNOWN_KINDS`, ``COVERAGE_REACH``).

    Raises
    ------
    InvalidInputError
        Naming the kinds present and the kinds known.
    """
    present = sorted({str(k) for k in assets.service_points(registry)["kind"]})
    known = sorted(set(KNOWN_KINDS) | set(reach_table or {}))
    if kind in present or kind in known:
        return
    raise InvalidInputError(
        f"未知服务点类型 unknown service-point kind {kind!r}: "
        f"已有 present: {', '.join(present) or '-'}; 已知 known: {', '.join(known)}"
    )


def quantile_over_all(distances, q: float) -> float | None:
    """Quantile ``q`` of distances where NaN means out of reach, ranked beyond every finite distance.

    Linear interpolation between order statistics, as :meth:`pandas.Series.quantile`; ``None`` when the quantile
    touches an out-of-reach building (it lies beyond the reach, at an unknown distance).

    Examples
    --------
    >>> quantile_over_all([110.0, 210.0, 310.0, np.nan, np.nan], 0.5)
    310.0
    >>> quantile_over_all([110.0, np.nan], 0.5) is None
    True
    """
    values = np.sort(np.where(np.isnan(np.asarray(distances, float)), np.inf, distances))
    if len(values) == 0:
        return None
    h = (len(values) - 1) * q
    lo, hi = int(np.floor(h)), int(np.ceil(h))
    if np.isinf(values[hi]) or np.isinf(values[lo]):
        return None
    return round(float(values[lo] + (h - lo) * (values[hi] - values[lo])), 1)


def reach_for(kind: str, table: dict | None = None, reach_m: float | None = None) -> float:
    """The reach of ``kind``: an explicit ``reach_m``, else the configured table, else 500 m."""
    value = reach_m if reach_m is not None else (table or {}).get(kind, DEFAULT_REACH_M)
    try:
        value = float(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"服务半径须为数字 reach must be a number of metres, got {value!r}") from exc
    if not 1 <= value <= 50_000:
        raise InvalidInputError(f"服务半径须在 1–50000 米 reach must be 1–50,000 m, got {value:g}")
    return value


@dataclass
class CoverageResult:
    """Everything one coverage run found (WGS84 geometries)."""

    kind: str
    reach_m: float
    network: bool
    area: str | None
    crs: object
    buildings: gpd.GeoDataFrame
    points: gpd.GeoDataFrame
    areas: pd.DataFrame
    reach_polygons: gpd.GeoDataFrame
    sites_xy: np.ndarray = field(repr=False, default=None)  # every site used, metric
    buildings_xy: np.ndarray = field(repr=False, default=None)

    def summary(self) -> dict:
        """Headline figures."""
        b = self.buildings
        households = float(b["households"].sum())
        covered = float(b.loc[b["covered"], "households"].sum())
        distances = b["nearest_m"].to_numpy(float)
        edges = [0, *DISTANCE_BINS]
        hist = np.histogram(distances[np.isfinite(distances)], bins=edges)[0]
        figures = {name: quantile_over_all(distances, q) for name, q in _QUANTILES}
        return {
            "kind": self.kind,
            "reach_m": self.reach_m,
            "network": self.network,
            "area": self.area,
            "service_points": int(len(self.points)),
            "buildings": int(len(b)),
            "buildings_uncovered": int((~b["covered"]).sum()),
            "buildings_unreachable": int((~b["reachable"]).sum()),
            "households": int(households),
            "households_covered": int(covered),
            "covered_share": round(covered / households, 4) if households else None,
            "nearest_m": {
                **figures,
                "beyond_reach": [name for name, _ in _QUANTILES if figures[name] is None],
                "histogram": [
                    {"up_to_m": None if np.isinf(e) else int(e), "buildings": int(n)}
                    for e, n in zip(DISTANCE_BINS, hist, strict=True)
                ],
            },
        }


def _scope_bounds(view: ScopedRegistry, area: str | None):
    if area is not None:
        return tuple(view.area(area).geometry.bounds)
    frame = view.areas()
    if frame.empty:
        raise NotFoundError("您的辖区内没有区域 there are no areas in your scope")
    return tuple(frame.total_bounds)


def _expand(bounds, metres: float):
    minx, miny, maxx, maxy = bounds
    dy = metres / 110_574.0
    dx = metres / (111_320.0 * max(np.cos(np.radians((miny + maxy) / 2)), 0.1))
    return (minx - dx, miny - dy, maxx + dx, maxy + dy)


def analyse(
    view: ScopedRegistry,
    kind: str,
    reach_m: float | None = None,
    network: bool = False,
    area: str | None = None,
    reach_table: dict | None = None,
    polygons: bool = True,
) -> CoverageResult:
    """Coverage of the service points of ``kind`` over the buildings of ``area`` (default: the caller's areas).

    Parameters
    ----------
    view : ScopedRegistry
    kind : str
        Service-point kind (e.g. ``police``, ``clinic``, ``grid_station``).
    reach_m : float, optional
        Reach in metres (default: ``reach_table[kind]``, else 500 m).
    network : bool
        Measure along the walking network (needs roads; see ``import-roads``).
    area : str, optional
        An area code in the caller's scope.
    """
    reach = reach_for(kind, reach_table, reach_m)
    registry = view.registry
    check_kind(registry, kind, reach_table)
    bounds = _scope_bounds(view, area)
    buildings = view.buildings(bbox=bounds, area_code=area)
    if buildings.empty:
        raise NotFoundError("该区域没有建筑 no buildings in this area: import buildings first")
    near = _expand(bounds, reach * 1.05)
    sites = assets.service_points(registry, bbox=near, kind=kind)
    crs = metric_crs(*np.mean(np.reshape(bounds, (2, 2)), axis=0))
    bx, by = from_wgs84(buildings["lon"].to_numpy(float), buildings["lat"].to_numpy(float), crs)
    sx, sy = from_wgs84(sites["lon"].to_numpy(float), sites["lat"].to_numpy(float), crs)
    site_ids = sites["id"].to_numpy()
    if network:
        roads = assets.roads(registry, bbox=_expand(near, reach))
        roads = roads[roads["walkable"].astype(bool)]
        if roads.empty:
            raise InvalidInputError("没有道路数据 no roads loaded here: import road centre lines, or drop --network")
        from geo.network import WalkNetwork, nearest_of  # here: networkx is needed for --network only

        net = WalkNetwork(geometries_from_wgs84(roads.geometry.values, crs))
        b_idx, s_idx, dist = net.pairs(bx, by, sx, sy, reach)  # one walk from each site serves every figure
        nearest_m, nearest, count = nearest_of(len(bx), b_idx, s_idx, dist)
    else:
        net = None
        r = straight_reach(bx, by, sx, sy, reach)
        nearest_m, nearest, count = r.nearest_m, r.nearest, r.count
        b_idx, s_idx, _ = pairs_within(bx, by, sx, sy, reach)
    reaching = _lists(len(bx), b_idx, site_ids[s_idx] if len(s_idx) else s_idx)
    covered = count > 0
    reachable = np.isfinite(nearest_m) & (nearest >= 0)
    out = buildings.drop(columns=[c for c in ("minx", "miny", "maxx", "maxy") if c in buildings.columns]).copy()
    out["covered"] = covered
    out["reachable"] = reachable
    out["nearest_m"] = np.where(reachable, np.round(np.where(reachable, nearest_m, 0.0), 1), np.nan)
    point_of = site_ids[np.clip(nearest, 0, None)] if len(site_ids) else np.zeros(len(nearest), int)
    out["nearest_point"] = pd.array(np.where(reachable, point_of, 0), dtype="Int64")
    out.loc[~reachable, "nearest_point"] = pd.NA
    out["points"] = reaching
    points = _points(sites, nearest, covered, buildings["households"].to_numpy(float), b_idx, s_idx)
    areas = _areas(view, out, area)
    reach_polygons = _polygons(sites, sx, sy, reach, crs, net) if polygons else gpd.GeoDataFrame(geometry=[], crs=4326)
    keep = view.covers_points(points["lon"].to_numpy(float), points["lat"].to_numpy(float))
    return CoverageResult(
        kind, reach, network, area, crs, out, points[keep].reset_index(drop=True), areas, reach_polygons,
        np.column_stack([sx, sy]), np.column_stack([bx, by]),
    )  # fmt: skip


def _lists(n: int, b_idx, ids) -> np.ndarray:
    out = np.full(n, "", dtype=object)
    if len(b_idx):
        order = np.argsort(b_idx, kind="stable")
        b_sorted, ids_sorted = b_idx[order], np.asarray(ids)[order]
        starts = np.flatnonzero(np.r_[True, b_sorted[1:] != b_sorted[:-1]])
        for start, end in zip(starts, [*starts[1:], len(b_sorted)], strict=True):
            out[b_sorted[start]] = ";".join(str(i) for i in sorted(ids_sorted[start:end]))
    return out


def _points(sites, nearest, covered, households, b_idx, s_idx) -> gpd.GeoDataFrame:
    """Per point: households its reach includes, demand (households whose nearest point it is) and capacity."""
    demand = np.bincount(nearest[covered], weights=households[covered], minlength=len(sites))
    reached = np.bincount(s_idx, weights=households[b_idx], minlength=len(sites))
    frame = sites.copy()
    frame["households_reached"] = reached.astype(int)
    frame["demand_households"] = np.asarray(demand, float).astype(int)
    capacity = pd.to_numeric(frame["capacity"], errors="coerce")
    share = np.where(
        frame["demand_households"] > 0, np.minimum(1.0, capacity / frame["demand_households"].clip(lower=1)), np.nan
    )
    frame["served_share"] = np.where(capacity.notna(), np.round(share, 4), np.nan)
    return frame


def _areas(view: ScopedRegistry, buildings: gpd.GeoDataFrame, area: str | None) -> pd.DataFrame:
    """Per area at every level (in scope, within ``area``): households covered, buildings uncovered, distances."""
    registry = view.registry
    generation = registry.current_generation()
    level = registry.lowest_level(generation)
    located = registry.locate(buildings["lon"].to_numpy(float), buildings["lat"].to_numpy(float), level=level)
    chains = registry.ancestors(generation)
    rows = []
    for i, code in enumerate(located["code"].to_numpy()):
        if located["status"].iat[i] != "ok":
            continue
        for c in chains.get(code, {}).values():
            rows.append((c, i))
    if not rows:
        return pd.DataFrame(columns=["code", "name", "level"])
    pairs = pd.DataFrame(rows, columns=["code", "row"])
    b = buildings.reset_index(drop=True)
    pairs["households"] = b["households"].to_numpy()[pairs["row"]]
    pairs["covered"] = b["covered"].to_numpy()[pairs["row"]]
    pairs["nearest_m"] = b["nearest_m"].to_numpy(float)[pairs["row"]]
    pairs["covered_households"] = np.where(pairs["covered"], pairs["households"], 0)
    pairs["unreachable"] = pairs["nearest_m"].isna()

    def over_all(q):
        return lambda s: np.nan if (v := quantile_over_all(s.to_numpy(float), q)) is None else v

    grouped = pairs.groupby("code").agg(
        buildings=("row", "size"),
        households=("households", "sum"),
        covered_households=("covered_households", "sum"),
        uncovered_buildings=("covered", lambda s: int((~s).sum())),
        unreachable_buildings=("unreachable", "sum"),
        nearest_p50_m=("nearest_m", over_all(0.5)),
        nearest_p90_m=("nearest_m", over_all(0.9)),
        nearest_max_m=("nearest_m", over_all(1.0)),
    )
    grouped["covered_share"] = np.where(
        grouped["households"] > 0, grouped["covered_households"] / grouped["households"].clip(lower=1), np.nan
    )
    meta = registry.areas(generation=generation, codes=list(grouped.index)).set_index("code")[
        ["name", "level", "parent_code"]
    ]
    out = meta.join(grouped, how="inner").reset_index()
    allowed = view.codes(generation)
    if allowed is not None:
        out = out[out["code"].isin(allowed)]
    if area is not None:
        below = {c for c, chain in chains.items() if area in chain.values()}
        out = out[out["code"].isin(below)]
    return out.round({"covered_share": 4, "nearest_p50_m": 1, "nearest_p90_m": 1, "nearest_max_m": 1}).reset_index(
        drop=True
    )


def _polygons(sites, sx, sy, reach, crs, net) -> gpd.GeoDataFrame:
    if len(sites) == 0:
        return gpd.GeoDataFrame({"id": [], "name": []}, geometry=[], crs=4326)
    if net is None:
        shapes = shapely.buffer(shapely.points(sx, sy), reach, quad_segs=16)
    else:
        shapes = np.array([net.service_area(x, y, reach) for x, y in zip(sx, sy, strict=True)], dtype=object)
    return gpd.GeoDataFrame(
        {"id": sites["id"].to_numpy(), "name": sites["name"].to_numpy()},
        geometry=geometries_to_wgs84(shapes, crs),
        crs=4326,
    )
