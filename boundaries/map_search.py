"""What the staff map asks besides tiles: search and label points of areas.

Search finds an area by name or code, a building by address, or a place by coordinates in a CRS.

Every answer is filtered by the caller's scope (:class:`boundaries.scope.ScopedRegistry`); coordinates come back
in WGS84 longitude/latitude.
"""

from __future__ import annotations

import re

import numpy as np
import shapely

from boundaries.levels import LEVELS
from boundaries.scope import ScopedRegistry
from core.errors import InvalidInputError, NotFoundError
from geo.crs import check_area_of_use, check_lonlat, normalize_crs, to_wgs84
from geo.errors import CoordinateRangeError, UnknownCRSError

__all__ = ["SEARCH_CRS", "MAX_LABELS", "search", "label_points", "parse_coordinates"]

#: The coordinate systems the search box offers (any EPSG code is accepted too).
SEARCH_CRS = ("wgs84", "cgcs2000", "gcj02", "EPSG:4544")
MAX_LABELS = 400
_PAIR = re.compile(r"^\s*([-+]?\d+(?:\.\d+)?)\s*[,，\s]\s*([-+]?\d+(?:\.\d+)?)\s*$")


def parse_coordinates(text: str, crs: str = "wgs84") -> tuple[float, float] | None:
    """``"x,y"`` in ``crs`` as WGS84 ``(lon, lat)``; ``None`` when ``text`` is not a pair of numbers.

    Parameters
    ----------
    text : str
        Two numbers separated by a comma (or a space): longitude, latitude for a geographic CRS, easting,
        northing for a projected one.
    crs : str
        ``wgs84`` (default), ``cgcs2000``, ``gcj02`` or an EPSG code such as ``EPSG:4544``.

    Raises
    ------
    InvalidInputError
        For an unknown CRS, coordinates out of range (with a hint when latitude and longitude look swapped) or
        outside the CRS's area of use.

    Examples
    --------
    >>> parse_coordinates("104.06, 30.65")
    (104.06, 30.65)
    """
    found = _PAIR.match(text or "")
    if not found:
        return None
    x, y = float(found.group(1)), float(found.group(2))
    try:
        system = normalize_crs(crs)
        if isinstance(system, str):
            check_lonlat(np.array([x]), np.array([y]), "坐标 coordinates")
        else:
            check_area_of_use(np.array([x]), np.array([y]), system, "坐标 coordinates")
        lon, lat = to_wgs84(np.array([x]), np.array([y]), system)
    except (UnknownCRSError, CoordinateRangeError) as exc:
        raise InvalidInputError(str(exc)) from exc
    return float(lon[0]), float(lat[0])


def _area_result(row, how: str) -> dict:
    minx, miny, maxx, maxy = row.geometry.bounds
    point = row.geometry.representative_point()
    return {
        "kind": "area",
        "match": how,
        "code": row["code"],
        "name": row["name"],
        "level": row["level"],
        "lon": point.x,
        "lat": point.y,
        "bbox": [minx, miny, maxx, maxy],
    }


def search(view: ScopedRegistry, text: str, crs: str = "wgs84", generation=None, limit: int = 10) -> dict:
    """Areas by code or name, buildings by address or name, or a place given by coordinates in ``crs``.

    Parameters
    ----------
    view : ScopedRegistry
        The caller; only what they may see is found.
    text : str
        An area code, part of an area's name, part of a building's address or name, or ``x,y`` in ``crs``.
    crs : str
        The CRS of coordinates (see :func:`parse_coordinates`).
    generation : int, optional
        Default: the current generation.
    limit : int
        At most this many results.

    Returns
    -------
    dict
        ``{"query", "generation", "results": [...]}`` (empty when nothing matches); each result has ``kind``
        (``area``, ``building`` or ``place``), ``name``, ``lon``, ``lat`` (WGS84); areas add ``code``, ``level``
        and ``bbox``; a place adds the ``code`` and ``name`` of the lowest area holding it when the caller may
        see it.
    """
    text = (text or "").strip()
    if not text:
        raise InvalidInputError("请输入搜索内容 enter something to search for")
    g = view.resolve_generation(generation)
    point = parse_coordinates(text, crs)
    if point is not None:
        lon, lat = point
        result = {"kind": "place", "name": "", "code": None, "level": None, "lon": lon, "lat": lat}
        if view.registry.levels_present(g):
            level = view.registry.lowest_level(g)
            found = view.registry.locate_point(lon, lat, level=level, generation=g)
            if found["status"] == "ok" and view.covers(found["code"], g):
                result.update(code=found["code"], name=found["name"], level=level)
        return {"query": text, "generation": g, "results": [result]}
    nodes = view.registry.hierarchy(g)  # names and codes only: no outline is read to search
    allowed = view.codes(g)
    codes = nodes.columns["code"]
    names = np.array([str(n or "") for n in nodes.columns["name"]], dtype=object)
    order = {level: i for i, level in enumerate(LEVELS)}
    exact = [text] if text in nodes and (allowed is None or text in allowed) else []
    named = [
        c
        for c, name in zip(codes, names, strict=True)
        if text in name and c != text and (allowed is None or c in allowed)
    ]
    named.sort(key=lambda c: (order.get(nodes[c]["level"], 9), c))
    chosen = [(c, "code") for c in exact] + [(c, "name") for c in named[:limit]]
    results = []
    if chosen:
        frame = view.registry.areas(codes=[c for c, _how in chosen], generation=g).set_index("code", drop=False)
        results = [_area_result(frame.loc[c], how) for c, how in chosen if c in frame.index]
    if len(results) < limit:
        want = limit - len(results)
        rows = view.registry.store.find_buildings(text, want * 20)  # scope may leave out some: ask for more
        if rows:
            lon = np.array([r["lon"] for r in rows], dtype=float)
            lat = np.array([r["lat"] for r in rows], dtype=float)
            keep = view.covers_points(lon, lat)
            results += [
                {
                    "kind": "building",
                    "match": "address",
                    "id": int(r["id"]),
                    "name": str(r["name"] or ""),
                    "address": str(r["address"] or ""),
                    "lon": float(r["lon"]),
                    "lat": float(r["lat"]),
                }
                for r, ok in zip(rows, keep, strict=True)
                if ok
            ][:want]
    return {"query": text, "generation": g, "results": results[:limit]}


def label_points(view: ScopedRegistry, level: str, bbox, generation=None) -> dict:
    """A point inside each area of ``level`` meeting ``bbox`` (WGS84), with its name, for map labels.

    Parameters
    ----------
    view : ScopedRegistry
        The caller; only their areas are labelled.
    level : str
        One of :data:`boundaries.levels.LEVELS`.
    bbox : tuple of float
        minlon, minlat, maxlon, maxlat.
    generation : int, optional
        Default: the current generation.

    Returns
    -------
    dict
        ``{"level", "generation", "labels": [{"code", "name", "lon", "lat"}], "truncated"}``: the largest
        :data:`MAX_LABELS` areas when more meet the box.
    """
    if level not in LEVELS:
        raise NotFoundError(f"层级不存在 no level {level!r}: {', '.join(LEVELS)}")
    g = view.resolve_generation(generation)
    registry = view.registry

    def build():
        frame = registry.areas(level=level, generation=g)
        geoms = np.asarray(frame.geometry.values, dtype=object)
        points = shapely.point_on_surface(geoms) if len(geoms) else np.array([], dtype=object)
        return {
            "codes": frame["code"].to_numpy(dtype=object),
            "names": frame["name"].fillna("").to_numpy(dtype=object),
            "points": points,
            "sizes": shapely.area(geoms) if len(geoms) else np.array([]),
            "tree": shapely.STRtree(points),
        }

    data = registry.layers.get_or_build(("labels", level, g, registry.cache_version(g)), build)
    hits = np.sort(data["tree"].query(shapely.box(*bbox)))
    allowed = view.codes(g)
    if allowed is not None:
        hits = hits[np.fromiter((data["codes"][i] in allowed for i in hits), bool, len(hits))]
    truncated = len(hits) > MAX_LABELS
    if truncated:
        hits = hits[np.argsort(-data["sizes"][hits], kind="stable")[:MAX_LABELS]]
    labels = [
        {
            "code": str(data["codes"][i]),
            "name": str(data["names"][i]) or str(data["codes"][i]),
            "lon": round(float(data["points"][i].x), 7),
            "lat": round(float(data["points"][i].y), 7),
        }
        for i in hits
    ]
    return {"level": level, "generation": g, "labels": labels, "truncated": truncated}
