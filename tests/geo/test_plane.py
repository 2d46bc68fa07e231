"""The local plane (geo/plane.py): straight lon/lat edges stay straight, areas and distances on the ground."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from pyproj import Geod

from geo.plane import LocalPlane, metres_per_degree

GEOD = Geod(ellps="GRS80")


def test_metres_per_degree_agree_with_the_ellipsoid():
    for lat in (0.0, 22.3, 30.65, 45.0, 53.5):
        kx, ky = metres_per_degree(lat)
        _, _, east = GEOD.inv(104.0, lat, 104.001, lat)
        _, _, north = GEOD.inv(104.0, lat - 0.0005, 104.0, lat + 0.0005)
        assert float(kx) == pytest.approx(east * 1000, rel=1e-6) and float(ky) == pytest.approx(north * 1000, rel=1e-6)


def test_a_straight_lon_lat_edge_stays_straight_and_a_point_on_it_stays_on_it():
    plane = LocalPlane((104.0, 30.6, 104.2, 30.8))
    edge = shapely.LineString([(104.0, 30.6), (104.2, 30.8)])
    point = edge.interpolate(0.37, normalized=True)
    edge_m, point_m = plane.to_plane(np.array([edge, point], dtype=object))
    assert shapely.distance(edge_m, point_m) < 1e-8  # metres: on it up to rounding


def test_areas_are_on_the_ground_at_each_piece_s_latitude():
    plane = LocalPlane((104.0, 30.0, 104.5, 31.0))
    for box in (shapely.box(104.0, 30.0, 104.01, 30.01), shapely.box(104.3, 30.95, 104.31, 30.96)):
        ground = abs(GEOD.geometry_area_perimeter(shapely.segmentize(box, 1e-4))[0])
        assert plane.area_m2(plane.to_plane(np.array([box], dtype=object)))[0] == pytest.approx(ground, rel=1e-5)


def test_ground_lengths_of_short_offsets():
    plane = LocalPlane((104.0, 30.0, 104.5, 31.0))
    lon, lat = 104.2, 30.9
    x, y = plane.forward([lon, lon + 1e-4], [lat, lat + 1e-4])
    _, _, expected = GEOD.inv(lon, lat, lon + 1e-4, lat + 1e-4)
    assert float(plane.ground(x[1] - x[0], y[1] - y[0], y[0])) == pytest.approx(expected, rel=1e-4)


def test_a_plane_at_a_pole_or_across_the_antimeridian_is_finite_and_round_trips():
    for bounds in ((10.0, 90.0, 10.0, 90.0), (-180.0, -10.0, 180.0, 10.0), (0.0, -90.0, 1.0, -89.95)):
        plane = LocalPlane(bounds)
        assert math.isfinite(plane.kx) and plane.kx > 0 and math.isfinite(plane.ky)
        lon, lat = plane.inverse(*plane.forward([bounds[0], bounds[2]], [bounds[1], bounds[3]]))
        assert np.allclose(lon, [bounds[0], bounds[2]]) and np.allclose(lat, [bounds[1], bounds[3]])
    with pytest.raises(ValueError):
        LocalPlane((np.nan, 0.0, 1.0, 1.0))
