"""Coordinate systems used in China, converted at the edge.

Weige stores everything in WGS84 longitude/latitude (EPSG:4326). Inputs name their CRS:

* ``wgs84`` (EPSG:4326, phones' GPS) and ``cgcs2000`` (EPSG:4490, the national datum) are treated as
  identical: they differ by centimetres, below the precision of any boundary we store.
* ``gcj02`` (AMap, Tencent, WeChat) and ``bd09`` (Baidu) are obfuscated systems that PROJ does not know.
  We implement the published algorithm (the leaked ``Converter.java`` / ``eviltransform`` formulae, Krasovsky
  ellipsoid) vectorised in numpy, and invert it by fixed-point iteration to below 1e-9 degrees (< 0.1 mm),
  because no PyPI package offers a vectorised, precise inverse.
* Any other CRS that pyproj understands (``EPSG:4544``, ``EPSG:32648`` ...) goes through pyproj. Coordinates
  given in such a CRS must lie where it can describe them (:func:`check_area_of_use`): converted, within
  :data:`AREA_OF_USE_MARGIN_DEG` of the CRS's area of use, and, for a projected CRS, not all within ±180/±90
  (longitude/latitude declared as metres, which PROJ converts without complaint to a point near the equator).

Metric work uses :func:`metric_crs`: the CGCS2000 3-degree Gauss-Krüger zone for points in China, else UTM.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import pyproj
import shapely

from geo.errors import CoordinateRangeError, UnknownCRSError
from geo.plane import LocalPlane

__all__ = [
    "WGS84",
    "CGCS2000",
    "GCJ02",
    "BD09",
    "normalize_crs",
    "to_wgs84",
    "from_wgs84",
    "wgs84_to_gcj02",
    "gcj02_to_wgs84",
    "gcj02_to_bd09",
    "bd09_to_gcj02",
    "geometries_to_wgs84",
    "geometries_from_wgs84",
    "to_wgs84_keeping",
    "metric_crs",
    "check_lonlat",
    "outside_area_of_use",
    "check_area_of_use",
    "AREA_OF_USE_MARGIN_DEG",
]

WGS84 = "wgs84"
CGCS2000 = "cgcs2000"
GCJ02 = "gcj02"
BD09 = "bd09"

_ALIASES = {
    "wgs84": WGS84,
    "wgs-84": WGS84,
    "epsg:4326": WGS84,
    "4326": WGS84,
    "crs84": WGS84,
    "ogc:crs84": WGS84,
    "urn:ogc:def:crs:ogc:1.3:crs84": WGS84,
    "urn:ogc:def:crs:epsg::4326": WGS84,
    "cgcs2000": CGCS2000,
    "epsg:4490": CGCS2000,
    "4490": CGCS2000,
    "gcj02": GCJ02,
    "gcj-02": GCJ02,
    "gcj": GCJ02,
    "amap": GCJ02,
    "bd09": BD09,
    "bd-09": BD09,
    "bd09ll": BD09,
    "baidu": BD09,
}

# Krasovsky 1940 ellipsoid, as in the published GCJ-02 algorithm.
_A = 6378245.0
_EE = 0.00669342162296594323
_X_PI = np.pi * 3000.0 / 180.0
_TOLERANCE_DEG = 1e-10
_MAX_ITERATIONS = 30


def _is_lonlat(crs) -> bool:
    """Whether a normalised CRS is WGS84 or CGCS2000 (a name: comparing a pyproj CRS with text parses the text)."""
    return isinstance(crs, str) and crs in (WGS84, CGCS2000)


def normalize_crs(crs: str | int | pyproj.CRS | None) -> str | pyproj.CRS:
    """Return the canonical name of a CRS, or a :class:`pyproj.CRS` for other systems.

    Parameters
    ----------
    crs : str, int, pyproj.CRS or None
        ``wgs84``, ``cgcs2000``, ``gcj02``, ``bd09`` (case-insensitive, with aliases such as ``EPSG:4326``),
        an EPSG code (``EPSG:4544`` or ``4544``), or a :class:`pyproj.CRS` (e.g. a file's). ``None`` means WGS84.
        Other text (PROJ strings, WKT, other authorities) is refused.

    Returns
    -------
    str or pyproj.CRS

    Raises
    ------
    UnknownCRSError
        If the CRS is not recognised.

    Examples
    --------
    >>> normalize_crs("EPSG:4326"), normalize_crs("GCJ-02")
    ('wgs84', 'gcj02')
    """
    if crs is None:
        return WGS84
    if isinstance(crs, pyproj.CRS):
        epsg = crs.to_epsg()
        return normalize_crs(epsg) if epsg in (4326, 4490) else crs
    key = str(crs).strip().lower()
    if key in _ALIASES:
        return _ALIASES[key]
    code = key.removeprefix("epsg:")
    try:
        if not (code.isascii() and code.isdigit() and len(code) <= 6):  # only the documented names and EPSG codes
            raise ValueError(key)
        parsed = pyproj.CRS.from_user_input(f"EPSG:{int(code)}")
    except (pyproj.exceptions.CRSError, ValueError, TypeError) as exc:
        raise UnknownCRSError(
            f"未知坐标系 unknown CRS {crs!r}: use wgs84, cgcs2000, gcj02, bd09 or an EPSG code"
        ) from exc
    epsg = parsed.to_epsg()
    if epsg in (4326, 4490):
        return WGS84 if epsg == 4326 else CGCS2000
    return parsed


def _out_of_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _gcj_delta(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = lon - 105.0
    y = lat - 35.0
    xpi = x * np.pi
    ypi = y * np.pi
    common = (20.0 * np.sin(6.0 * xpi) + 20.0 * np.sin(2.0 * xpi)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    dlat += common
    dlat += (20.0 * np.sin(ypi) + 40.0 * np.sin(ypi / 3.0)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(ypi / 12.0) + 320.0 * np.sin(ypi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    dlon += common
    dlon += (20.0 * np.sin(xpi) + 40.0 * np.sin(xpi / 3.0)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(xpi / 12.0) + 300.0 * np.sin(xpi / 30.0)) * 2.0 / 3.0
    radlat = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrtmagic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * np.cos(radlat) * np.pi)
    outside = _out_of_china(lon, lat)
    return np.where(outside, 0.0, dlon), np.where(outside, 0.0, dlat)


def _arrays(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    lon = np.asarray(lon, dtype="float64")
    lat = np.asarray(lat, dtype="float64")
    return np.broadcast_arrays(lon, lat)


def wgs84_to_gcj02(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Shift WGS84 longitude/latitude to GCJ-02; points outside China are returned unchanged.

    Examples
    --------
    >>> lon, lat = wgs84_to_gcj02(121.5272106, 31.1774276)
    >>> round(float(lon), 6), round(float(lat), 6)
    (121.531542, 31.175304)
    """
    lon, lat = _arrays(lon, lat)
    dlon, dlat = _gcj_delta(lon, lat)
    return lon + dlon, lat + dlat


def _invert(forward, lon, lat):
    """Solve ``forward(x) == (lon, lat)`` by fixed-point iteration (the shift is a smooth contraction)."""
    x, y = lon.copy(), lat.copy()
    for _ in range(_MAX_ITERATIONS):
        fx, fy = forward(x, y)
        ex, ey = lon - fx, lat - fy
        x, y = x + ex, y + ey
        if np.all(np.abs(ex[np.isfinite(ex)]) < _TOLERANCE_DEG) and np.all(
            np.abs(ey[np.isfinite(ey)]) < _TOLERANCE_DEG
        ):
            break
    return x, y


def gcj02_to_wgs84(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Precise inverse of :func:`wgs84_to_gcj02` (round trip below 1e-9 degrees).

    Examples
    --------
    >>> lon, lat = gcj02_to_wgs84(*wgs84_to_gcj02(104.08, 30.65))
    >>> abs(float(lon) - 104.08) < 1e-9 and abs(float(lat) - 30.65) < 1e-9
    True
    """
    lon, lat = _arrays(lon, lat)
    return _invert(wgs84_to_gcj02, lon, lat)


def gcj02_to_bd09(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Shift GCJ-02 longitude/latitude to Baidu's BD-09."""
    lon, lat = _arrays(lon, lat)
    z = np.hypot(lon, lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def bd09_to_gcj02(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Precise inverse of :func:`gcj02_to_bd09` (the usual closed form is only accurate to ~1 m)."""
    lon, lat = _arrays(lon, lat)
    return _invert(gcj02_to_bd09, lon, lat)


@lru_cache(maxsize=64)
def _transformer(src: str, dst: str) -> pyproj.Transformer:
    return pyproj.Transformer.from_crs(src, dst, always_xy=True)


def to_wgs84(x, y, crs: str | int | pyproj.CRS | None = WGS84) -> tuple[np.ndarray, np.ndarray]:
    """Convert coordinates in ``crs`` to WGS84 longitude/latitude.

    Parameters
    ----------
    x, y : array_like
        Longitude/latitude (or easting/northing for projected systems), in that order.
    crs : str, int or pyproj.CRS, default ``"wgs84"``
        See :func:`normalize_crs`.

    Returns
    -------
    tuple of numpy.ndarray
        WGS84 longitude and latitude.
    """
    crs = normalize_crs(crs)
    x, y = _arrays(x, y)
    if _is_lonlat(crs):
        return x.copy(), y.copy()
    if isinstance(crs, str) and crs == GCJ02:
        return gcj02_to_wgs84(x, y)
    if isinstance(crs, str) and crs == BD09:
        return gcj02_to_wgs84(*bd09_to_gcj02(x, y))
    return _transformer(crs.to_wkt(), "EPSG:4326").transform(x, y)


def from_wgs84(lon, lat, crs: str | int | pyproj.CRS | None = WGS84) -> tuple[np.ndarray, np.ndarray]:
    """Convert WGS84 longitude/latitude to ``crs`` (inverse of :func:`to_wgs84`)."""
    crs = normalize_crs(crs)
    lon, lat = _arrays(lon, lat)
    if _is_lonlat(crs):
        return lon.copy(), lat.copy()
    if isinstance(crs, str) and crs == GCJ02:
        return wgs84_to_gcj02(lon, lat)
    if isinstance(crs, str) and crs == BD09:
        return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))
    return _transformer("EPSG:4326", crs.to_wkt()).transform(lon, lat)


def _transform_geometries(geoms, func):
    geoms = np.asarray(geoms, dtype=object)

    def apply(coords: np.ndarray) -> np.ndarray:
        x, y = func(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geoms, apply)


def geometries_to_wgs84(geoms, crs: str | int | pyproj.CRS | LocalPlane | None = WGS84) -> np.ndarray:
    """Convert an array of shapely geometries from ``crs`` (or a :class:`geo.plane.LocalPlane`) to WGS84."""
    if isinstance(crs, LocalPlane):
        return crs.to_lonlat(geoms)
    if _is_lonlat(normalize_crs(crs)):
        return np.asarray(geoms, dtype=object)
    return _transform_geometries(geoms, lambda x, y: to_wgs84(x, y, crs))


def to_wgs84_keeping(known: dict, crs):
    """A coordinate function for ``shapely.transform``: to WGS84 from ``crs`` (or a plane), keeping ``known`` vertices.

    A vertex found in ``known`` (a ``(x, y)`` tuple → its ``(lon, lat)``) gets those coordinates exactly. A round
    trip through a projected CRS shifts a vertex by float noise; taking a vertex that did not move back to its input
    coordinates keeps it shared exactly with a neighbour that was not transformed at all.
    """

    def convert(coords: np.ndarray) -> np.ndarray:
        out = shapely.get_coordinates(geometries_to_wgs84(shapely.points(coords), crs)) if len(coords) else coords
        for k, xy in enumerate(map(tuple, coords.tolist())):
            if xy in known:
                out[k] = known[xy]
        return out

    return convert


def geometries_from_wgs84(geoms, crs: str | int | pyproj.CRS | LocalPlane | None = WGS84) -> np.ndarray:
    """Convert an array of WGS84 shapely geometries to ``crs`` (or a :class:`geo.plane.LocalPlane`)."""
    if isinstance(crs, LocalPlane):
        return crs.to_plane(geoms)
    if _is_lonlat(normalize_crs(crs)):
        return np.asarray(geoms, dtype=object)
    return _transform_geometries(geoms, lambda x, y: from_wgs84(x, y, crs))


def metric_crs(lon: float, lat: float) -> pyproj.CRS:
    """Projected CRS for metric work around a WGS84 point.

    Inside China's longitudes (73.5–136.5 E, northern hemisphere) this is the CGCS2000 3-degree Gauss–Krüger
    zone without false-easting prefix (EPSG:4534 for CM 75E … EPSG:4554 for CM 135E; Chengdu: EPSG:4544);
    elsewhere the UTM zone. A 3-degree zone ``n`` has central meridian ``3n`` and spans
    ``[3n - 1.5, 3n + 1.5)``, so ``n = floor((lon + 1.5) / 3)``: a longitude on a zone edge belongs to the
    zone east of it (as a UTM zone edge does).

    Examples
    --------
    >>> metric_crs(104.08, 30.65).to_epsg()
    4544
    >>> metric_crs(103.5, 30.65).to_epsg()  # on the edge between CM 102E and CM 105E
    4544
    """
    lon, lat = float(lon), float(lat)
    if 73.5 <= lon < 136.5 and 0 <= lat <= 56:
        zone = math.floor((lon + 1.5) / 3.0)
        return _crs_from_epsg(4534 + zone - 25)  # zone 25 is CM 75E
    zone = int((lon + 180) // 6) % 60 + 1
    return _crs_from_epsg((32600 if lat >= 0 else 32700) + zone)


@lru_cache(maxsize=256)
def _crs_from_epsg(code: int) -> pyproj.CRS:
    return pyproj.CRS.from_epsg(code)


def check_lonlat(lon, lat, what: str = "coordinates") -> None:
    """Raise :class:`CoordinateRangeError` unless every point is a finite longitude/latitude.

    The message says when the values look like latitude and longitude swapped.
    """
    lon, lat = _arrays(lon, lat)
    finite = np.isfinite(lon) & np.isfinite(lat)
    if not finite.all():
        raise CoordinateRangeError(f"{what}: 坐标缺失或非数字 missing or non-numeric coordinate")
    bad = (np.abs(lon) > 180) | (np.abs(lat) > 90)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        message = f"{what}: 坐标超出范围 lon={lon.flat[i]}, lat={lat.flat[i]} is out of range"
        if abs(lat.flat[i]) > 90 and abs(lon.flat[i]) <= 90:
            message += " — 经纬度可能颠倒 longitude and latitude look swapped: give longitude first"
        raise CoordinateRangeError(message)


#: How far (degrees) converted coordinates may lie outside their CRS's area of use before they are refused:
#: wide enough for data slightly beyond a 3-degree zone, far narrower than the error of a wrongly declared CRS.
AREA_OF_USE_MARGIN_DEG = 5.0


def _area_of_use(crs: pyproj.CRS):
    try:
        return crs.area_of_use
    except pyproj.exceptions.CRSError:  # pragma: no cover - PROJ without its database
        return None


def outside_area_of_use(x, y, crs) -> np.ndarray:
    """Which points, given in ``crs``, are not where ``crs`` can describe them.

    For the named systems (``wgs84``, ``cgcs2000``, ``gcj02``, ``bd09``) only the longitude/latitude range is
    checked. For any other CRS a point is refused when its conversion to WGS84 is not finite or out of range,
    when it lies more than :data:`AREA_OF_USE_MARGIN_DEG` outside the CRS's area of use (pyproj's
    ``CRS.area_of_use``), or, for a projected CRS, when ``|x| <= 180`` and ``|y| <= 90`` (longitude/latitude
    given as metres).

    Returns
    -------
    numpy.ndarray of bool
    """
    crs = normalize_crs(crs)
    x, y = _arrays(x, y)
    x, y = np.atleast_1d(x).ravel(), np.atleast_1d(y).ravel()
    if isinstance(crs, str):
        return ~(np.isfinite(x) & np.isfinite(y) & (np.abs(x) <= 180) & (np.abs(y) <= 90))
    with np.errstate(invalid="ignore"):
        lon, lat = to_wgs84(x, y, crs)
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    bad = ~(np.isfinite(lon) & np.isfinite(lat) & (np.abs(lon) <= 180) & (np.abs(lat) <= 90))
    if crs.is_projected:
        bad |= (np.abs(x) <= 180) & (np.abs(y) <= 90)
    area = _area_of_use(crs)
    if area is not None:
        m = AREA_OF_USE_MARGIN_DEG
        west, south, east, north = area.bounds
        bad |= (lat < south - m) | (lat > north + m)
        if west <= east and east - west < 360 - 2 * m:
            bad |= (lon < west - m) | (lon > east + m)
    return bad


def check_area_of_use(x, y, crs, what: str = "coordinates") -> None:
    """Raise :class:`CoordinateRangeError` when any point is where ``crs`` cannot describe it.

    See :func:`outside_area_of_use`. The message says when the values look like longitude/latitude, and names
    the CRS's area of use otherwise.
    """
    crs = normalize_crs(crs)
    if isinstance(crs, str):
        check_lonlat(x, y, what)
        return
    x, y = (np.atleast_1d(v).ravel() for v in _arrays(x, y))
    if not (np.isfinite(x) & np.isfinite(y)).all():
        raise CoordinateRangeError(f"{what}: 坐标缺失或非数字 missing or non-numeric coordinate")
    bad = outside_area_of_use(x, y, crs)
    if not bad.any():
        return
    i = int(np.flatnonzero(bad)[0])
    name = f"EPSG:{crs.to_epsg()}" if crs.to_epsg() else crs.name
    if crs.is_projected and abs(x[i]) <= 180 and abs(y[i]) <= 90:
        raise CoordinateRangeError(
            f"{what}: 坐标看起来是经纬度而不是 {name} 的米制坐标 ({x[i]}, {y[i]}) look like longitude/latitude, "
            f"not metres of {name}: give the CRS the data are really in (wgs84, gcj02, …)"
        )
    area = _area_of_use(crs)
    where = f" ({area.name}: {', '.join(f'{v:g}' for v in area.bounds)})" if area is not None else ""
    raise CoordinateRangeError(
        f"{what}: 坐标不在 {name} 的适用范围内 ({x[i]}, {y[i]}) in {name} lies far outside that CRS's area of use"
        f"{where}: check that {name} is the data's real CRS"
    )
