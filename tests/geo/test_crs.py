import json

import numpy as np
import pyproj
import pytest
import shapely

from geo import crs
from geo.errors import CoordinateRangeError, UnknownCRSError
from tests.conftest import shared_file

# Reference pairs published with googollee/eviltransform's tests: (wgs lat, wgs lng, gcj lat, gcj lng).
EVIL_GCJ = [
    (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),  # Shanghai
    (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),  # Shenzhen
    (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),  # Beijing
]
METRE = 1e-5  # about one metre in degrees


def test_wgs84_to_gcj02_matches_published_pairs():
    wlat, wlng, glat, glng = np.array(EVIL_GCJ).T
    lon, lat = crs.wgs84_to_gcj02(wlng, wlat)
    # eviltransform uses a 6378137 m radius where the leaked algorithm uses Krasovsky's 6378245 m: < 2 cm apart.
    np.testing.assert_allclose(lon, glng, atol=0.02 * METRE)
    np.testing.assert_allclose(lat, glat, atol=0.02 * METRE)


def test_gcj02_inverse_is_precise():
    wlat, wlng, glat, glng = np.array(EVIL_GCJ).T
    lon, lat = crs.gcj02_to_wgs84(glng, glat)
    np.testing.assert_allclose(lon, wlng, atol=0.02 * METRE)
    np.testing.assert_allclose(lat, wlat, atol=0.02 * METRE)
    rng = np.random.default_rng(3)
    x, y = rng.uniform(73.6, 134.7, 100_000), rng.uniform(18.2, 53.5, 100_000)
    bx, by = crs.gcj02_to_wgs84(*crs.wgs84_to_gcj02(x, y))
    error_m = np.hypot((bx - x) * np.cos(np.radians(y)), by - y) * 111_320
    assert error_m.max() < 0.5 and error_m.max() < 1e-3


def test_bd09_round_trip_is_precise():
    rng = np.random.default_rng(5)
    x, y = rng.uniform(100, 120, 10_000), rng.uniform(20, 40, 10_000)
    bx, by = crs.to_wgs84(*crs.from_wgs84(x, y, "bd09"), "BD-09")
    assert np.abs(bx - x).max() < 1e-8 and np.abs(by - y).max() < 1e-8


def test_gcj02_to_wgs84_matches_gcoord():
    # hujiulong/gcoord's unit test: GCJ02 (123, 45) -> WGS84 (122.99395597, 44.99804071), 5 decimals
    lon, lat = crs.gcj02_to_wgs84(123.0, 45.0)
    assert float(lon) == pytest.approx(122.99395597, abs=0.05 * METRE)
    assert float(lat) == pytest.approx(44.99804071, abs=0.05 * METRE)


def test_gcj02_to_bd09_matches_gcoord():
    # hujiulong/gcoord's unit test: GCJ02 (123, 45) -> BD09 (123.00636499, 45.00636899)
    lon, lat = crs.gcj02_to_bd09(123.0, 45.0)
    assert float(lon) == pytest.approx(123.00636499, abs=1e-7)
    assert float(lat) == pytest.approx(45.00636899, abs=1e-7)


def test_outside_china_unchanged_and_aliases():
    lon, lat = crs.wgs84_to_gcj02(2.35, 48.85)
    assert (float(lon), float(lat)) == (2.35, 48.85)
    assert crs.normalize_crs("EPSG:4490") == "cgcs2000"
    assert crs.normalize_crs(4326) == "wgs84"
    assert crs.normalize_crs("EPSG:4544").to_epsg() == 4544


def test_unknown_crs_is_named():
    with pytest.raises(UnknownCRSError, match="nonsense"):
        crs.normalize_crs("nonsense")


def test_swapped_coordinates_are_detected_with_a_hint():
    with pytest.raises(CoordinateRangeError, match="swapped"):
        crs.check_lonlat([30.65], [104.08])
    with pytest.raises(CoordinateRangeError, match="missing"):
        crs.check_lonlat([np.nan], [30.0])


def test_metric_crs_zones():
    assert crs.metric_crs(104.08, 30.65).to_epsg() == 4544
    assert crs.metric_crs(121.49, 31.2).to_epsg() == 4549  # CM 120E
    assert crs.metric_crs(121.5, 31.2).to_epsg() == 4550  # on the edge: the zone east of it, CM 123E
    assert crs.metric_crs(24.94, 60.17).to_epsg() == 32635


def _boundary_road_distance(districts, roads):
    minx, miny, maxx, maxy = shapely.total_bounds(roads)
    coords = shapely.get_coordinates(shapely.boundary(districts))
    inside = (coords[:, 0] >= minx) & (coords[:, 0] <= maxx) & (coords[:, 1] >= miny) & (coords[:, 1] <= maxy)
    pts = shapely.points(coords[inside])
    metric = crs.metric_crs((minx + maxx) / 2, (miny + maxy) / 2)
    pts_m = crs.geometries_from_wgs84(pts, metric)
    roads_m = shapely.STRtree(crs.geometries_from_wgs84(roads, metric))
    _, dist = roads_m.query_nearest(pts_m, return_distance=True, all_matches=False)
    return float(np.median(dist)), int(inside.sum())


def test_gcj02_districts_line_up_with_wgs84_roads_after_conversion():
    districts = json.loads(shared_file("chengdu/districts_gcj02.geojson").read_text("utf-8"))
    roads = json.loads(shared_file("chengdu/yulin_roads_wgs84.geojson").read_text("utf-8"))
    d = np.array([shapely.geometry.shape(f["geometry"]) for f in districts["features"]], dtype=object)
    r = np.array([shapely.geometry.shape(f["geometry"]) for f in roads["features"]], dtype=object)
    before, n = _boundary_road_distance(d, r)
    after, _ = _boundary_road_distance(crs.geometries_to_wgs84(d, "gcj02"), r)
    assert n > 20
    assert 60 < before < 120  # about 89 m in the raw GCJ-02 data
    assert after <= before / 2


def _gauss_kruger_central_meridians() -> dict[int, float]:
    """EPSG code → central meridian, read from pyproj's definitions of CGCS2000 3-degree GK CM zones."""
    out = {}
    for code in range(4534, 4555):
        definition = pyproj.CRS.from_epsg(code)
        assert "3-degree Gauss-Kruger CM" in definition.name
        (central,) = [p.value for p in definition.coordinate_operation.params if "longitude" in p.name.lower()]
        out[code] = central
    return out


@pytest.mark.parametrize(
    "lon", [73.5, 73.51, 75.0, 76.49, 76.5, 103.46, 103.49, 103.5, 104.08, 104.49, 104.5, 106.5, 134.99, 136.49]
)
def test_metric_crs_picks_the_gauss_kruger_zone_containing_the_longitude(lon):
    # a 3-degree zone with central meridian C spans [C - 1.5, C + 1.5): a longitude on an edge belongs east
    central = _gauss_kruger_central_meridians()
    expected = [code for code, c in central.items() if c - 1.5 <= lon < c + 1.5]
    assert len(expected) == 1
    got = crs.metric_crs(lon, 39.5)
    assert got.to_epsg() == expected[0]
    assert abs(lon - central[got.to_epsg()]) <= 1.5


def test_lonlat_data_declared_projected_is_refused_with_a_hint():
    """Outside test, item 11: lon/lat values declared as EPSG:4544 or 3857 land at lat 0.0003 or near (0, 0)."""
    lon, lat = np.array([104.06, 104.07]), np.array([30.65, 30.66])
    for code in ("EPSG:4544", "EPSG:3857", "EPSG:32648"):
        with pytest.raises(CoordinateRangeError, match="look like longitude/latitude"):
            crs.check_area_of_use(lon, lat, code, "区域 area")
        assert crs.outside_area_of_use(lon, lat, code).all()


def test_coordinates_far_outside_the_crs_area_of_use_are_refused():
    x, y = crs.from_wgs84(np.array([104.06]), np.array([30.65]), "EPSG:4544")  # Chengdu in its own zone
    crs.check_area_of_use(x, y, "EPSG:4544")  # fine
    assert not crs.outside_area_of_use(x, y, "EPSG:4544").any()
    far_x, far_y = crs.from_wgs84(np.array([104.06]), np.array([5.0]), "EPSG:4544")  # 17° south of the zone
    with pytest.raises(CoordinateRangeError, match="area of use"):
        crs.check_area_of_use(far_x, far_y, "EPSG:4544")
    near_x, near_y = crs.from_wgs84(np.array([107.5]), np.array([30.65]), "EPSG:4544")  # 1° east of the zone
    crs.check_area_of_use(near_x, near_y, "EPSG:4544")  # still plausible
    # the named systems are only range-checked (check_lonlat)
    assert not crs.outside_area_of_use(lon := np.array([104.0]), np.array([30.0]), "gcj02").any() and lon.size
