"""A local plane in metres where an edge straight in longitude and latitude stays straight.

Weige stores outlines in WGS84 longitude/latitude, and reads their edges as straight lines there: shapely, the
locate index and every map library draw and test them so. A map projection (a Gauss–Krüger zone, UTM) bends such
an edge: a parallel 2 km long bows about 4 cm off its chord at 31° N, 4 m at 20 km. Planning rules measured on a
projection therefore see gaps and overlaps along long straight edges that are not in the stored outlines (and
miss ones that are). :class:`LocalPlane` is an affine map of longitude/latitude instead — longitude and latitude
scaled to metres about the centre of an extent — so that the topology there is the stored topology exactly, while
distances and areas are in metres.

Its scales are those of the centre's latitude on the GRS80 ellipsoid (CGCS2000); elsewhere the plane is off the
ground by the change of scale with latitude, about 0.01 % over a community (0.02°) and 0.3 % over 0.5°. What must
be exact on the ground is measured there: :meth:`LocalPlane.area_m2` at each piece's own latitude, and
:meth:`LocalPlane.ground` turns short offsets in the plane into metres on the ground where they lie.
"""

from __future__ import annotations

import math

import numpy as np
import shapely

__all__ = ["LocalPlane", "metres_per_degree", "POLAR"]

#: The scales of a plane centred nearer a pole than this latitude (degrees) are those of this latitude.
POLAR = 89.9

_A = 6378137.0  # GRS80 (CGCS2000) semi-major axis, m
_F = 1 / 298.257222101
_E2 = _F * (2 - _F)


def metres_per_degree(lat) -> tuple[np.ndarray, np.ndarray]:
    """Metres per degree of longitude and of latitude at latitude ``lat`` (degrees) on the GRS80 ellipsoid.

    Examples
    --------
    >>> x, y = metres_per_degree(0.0)
    >>> round(float(x)), round(float(y))
    (111319, 110574)
    """
    phi = np.radians(np.asarray(lat, dtype=float))
    w = 1 - _E2 * np.sin(phi) ** 2
    along_parallel = _A / np.sqrt(w) * np.cos(phi)
    along_meridian = _A * (1 - _E2) / w**1.5
    return along_parallel * math.pi / 180, along_meridian * math.pi / 180


class LocalPlane:
    """Longitude/latitude scaled to metres about the centre of ``bounds`` (an affine map; see the module).

    Parameters
    ----------
    bounds : sequence of float
        ``(min_lon, min_lat, max_lon, max_lat)`` of the extent worked in.

    Examples
    --------
    >>> plane = LocalPlane((104.0, 30.0, 104.02, 30.02))
    >>> edge = shapely.LineString([(104.0, 30.01), (104.02, 30.01)])
    >>> metres = plane.to_plane(np.array([edge], dtype=object))[0]
    >>> round(metres.length, 1), int(shapely.get_num_coordinates(metres))
    (1929.5, 2)
    """

    def __init__(self, bounds):
        minx, miny, maxx, maxy = (float(v) for v in bounds)
        if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)):
            raise ValueError("a local plane needs a finite extent")
        self.lon0, self.lat0 = (minx + maxx) / 2, (miny + maxy) / 2
        kx, ky = metres_per_degree(min(max(self.lat0, -POLAR), POLAR))  # a degree of longitude is 0 m at a pole
        self.kx, self.ky = float(kx), float(ky)

    def __repr__(self) -> str:
        return f"LocalPlane(centre=({self.lon0:.6f}, {self.lat0:.6f}), m/deg=({self.kx:.3f}, {self.ky:.3f}))"

    def forward(self, lon, lat) -> tuple[np.ndarray, np.ndarray]:
        """Plane coordinates (m) of longitude/latitude arrays."""
        return (np.asarray(lon, dtype=float) - self.lon0) * self.kx, (
            np.asarray(lat, dtype=float) - self.lat0
        ) * self.ky

    def inverse(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """Longitude/latitude of plane coordinates (m)."""
        return np.asarray(x, dtype=float) / self.kx + self.lon0, np.asarray(y, dtype=float) / self.ky + self.lat0

    def to_plane(self, geoms) -> np.ndarray:
        """Geometries (WGS84) in the plane."""
        return shapely.transform(np.asarray(geoms, dtype=object), lambda xy: np.column_stack(self.forward(*xy.T)))

    def to_lonlat(self, geoms) -> np.ndarray:
        """Geometries in the plane back to WGS84."""
        return shapely.transform(np.asarray(geoms, dtype=object), lambda xy: np.column_stack(self.inverse(*xy.T)))

    def ratios(self, y) -> tuple[np.ndarray, np.ndarray]:
        """Ground metres per plane metre, east and north, at plane northings ``y``."""
        lat = self.inverse(0.0, np.nan_to_num(np.asarray(y, dtype=float)))[1]
        kx, ky = metres_per_degree(lat)
        return kx / self.kx, ky / self.ky

    def ground(self, dx, dy, y) -> np.ndarray:
        """Lengths on the ground (m) of short plane offsets ``dx``, ``dy`` lying at plane northings ``y``."""
        rx, ry = self.ratios(y)
        return np.hypot(np.asarray(dx, dtype=float) * rx, np.asarray(dy, dtype=float) * ry)

    def area_m2(self, geoms) -> np.ndarray:
        """Areas (m²) on the ground of geometries in the plane, at the scales of each one's own latitude (centroid).

        Examples
        --------
        >>> plane = LocalPlane((104.0, 30.0, 104.02, 30.2))
        >>> north = plane.to_plane(np.array([shapely.box(104.0, 30.19, 104.01, 30.2)], dtype=object))
        >>> round(float(plane.area_m2(north)[0] / shapely.area(north)[0]), 4)  # narrower there than at the centre
        0.9991
        """
        geoms = np.asarray(geoms, dtype=object)
        area = shapely.area(geoms)
        if not len(geoms):
            return area
        rx, ry = self.ratios(shapely.get_y(shapely.centroid(geoms)))
        return area * rx * ry
