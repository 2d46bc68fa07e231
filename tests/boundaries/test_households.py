"""The household estimate of OSM buildings (boundaries.households): dwellings only, by floor area, stated once."""

from __future__ import annotations

import doctest
import warnings

import geopandas as gpd
import numpy as np
import shapely

from boundaries import households
from boundaries.households import DEFAULT_FLOORS, dwellings, estimate_households, osm_buildings
from geo.crs import metric_crs
from tests.conftest import shared_file

X0, Y0 = 121.5, 31.24


def _square(k: int, side_m: float = 30.0):
    """A square of about ``side_m`` metres, the ``k``-th along a row (100 m apart)."""
    crs = metric_crs(X0, Y0)
    x, y = gpd.GeoSeries([shapely.Point(X0, Y0)], crs=4326).to_crs(crs).iloc[0].coords[0]
    box = shapely.box(x + 100 * k, y, x + 100 * k + side_m, y + side_m)
    return gpd.GeoSeries([box], crs=crs).to_crs(4326).iloc[0]


def test_docstring_examples():
    assert doctest.testmod(households).failed == 0


def test_non_dwellings_hold_no_households_and_the_others_follow_the_floor_area_rule():
    rows = [  # id, kind, root_id, height, kind_detail, landuse_kind
        (1, "building", None, 30.0, "apartments", None),  # 900 m² × 10 floors / 90 = 100
        (2, "building", None, None, None, None),  # no height: 6 floors → 60
        (3, "building", None, 30.0, "office", None),  # not a dwelling
        (4, "building", None, 30.0, None, "retail"),  # on retail land (the building's own tag)
        (5, "building", None, 30.0, None, None),  # in a park polygon (landuse file)
        (6, "building", None, 30.0, None, None),  # in a commercial and a residential polygon: a home
        (7, "building_part", 1, 60.0, None, None),  # a part of building 1: counted there
        (8, "building_part", 99, 3.0, None, None),  # a part whose building is not in the data: counted (10)
    ]
    frame = gpd.GeoDataFrame(
        {
            "id": [r[0] for r in rows],
            "kind": [r[1] for r in rows],
            "root_id": [r[2] for r in rows],
            "height": [r[3] for r in rows],
            "kind_detail": [r[4] for r in rows],
            "landuse_kind": [r[5] for r in rows],
        },
        geometry=[_square(k) for k in range(len(rows))],
        crs=4326,
    )
    frame.loc[6, "geometry"] = _square(0, 20)  # the part lies inside building 1
    around = [_square(k, 60).buffer(0.0003) for k in (4, 5, 5)]
    landuse = gpd.GeoDataFrame({"kind": ["park", "commercial", "residential"]}, geometry=around, crs=4326)
    out = osm_buildings(frame, landuse).set_index("id")
    assert out["dwelling"].to_dict() == {1: True, 2: True, 3: False, 4: False, 5: False, 6: True, 7: True, 8: True}
    assert out["part"].to_dict() == {1: False, 2: False, 3: False, 4: False, 5: False, 6: False, 7: True, 8: False}
    footprint = out["footprint_m2"].to_numpy()
    assert np.allclose(footprint[:6], 900, rtol=1e-3)
    expected = np.round(footprint * np.array([10, DEFAULT_FLOORS, 10, 10, 10, 10, 20, 1]) / 90).astype(int)
    expected[[2, 3, 4, 6]] = 0
    assert out["households"].tolist() == expected.tolist()
    assert out["households"].tolist()[:2] == [100, 60]


def test_pieces_sharing_an_id_are_one_building_with_the_highest_height_and_the_first_tag():
    left, right = _square(0), _square(0)
    minx, miny, maxx, maxy = left.bounds
    half = (minx + maxx) / 2
    pieces = gpd.GeoDataFrame(
        {"id": [5, 5], "height": [12.0, 30.0], "kind_detail": [None, "residential"]},
        geometry=[shapely.box(minx, miny, half, maxy), shapely.box(half, miny, maxx, maxy)],
        crs=4326,
    )
    out = osm_buildings(pieces)
    assert len(out) == 1 and out["kind_detail"].iloc[0] == "residential" and out["height"].iloc[0] == 30
    assert out["households"].iloc[0] == round(out["footprint_m2"].iloc[0] * 10 / 90)
    assert shapely.Point(out["lon"].iloc[0], out["lat"].iloc[0]).within(right)


def test_unknown_heights_and_tags():
    assert estimate_households([90.0, 90.0, 90.0], [0, -3, "n/a"]).tolist() == [DEFAULT_FLOORS] * 3
    assert estimate_households([90.0], [1.0]).tolist() == [1]  # at least one floor
    assert dwellings([" Hotel ", "house", float("nan")], None).tolist() == [False, True, True]


def test_lujiazui_estimate():
    """The rule on the real extract: offices, shops … and building parts hold none."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # pyogrio: pieces share an id
        pieces = gpd.read_file(shared_file("lujiazui/buildings.geojson"))
        landuse = gpd.read_file(shared_file("lujiazui/landuse.geojson"))
    out = osm_buildings(pieces, landuse)
    assert len(out) == 1450 and out["id"].is_unique
    tagged = out["kind_detail"].isin(households.NON_DWELLING_KINDS)
    on_land = out["landuse_kind"].isin(households.NON_RESIDENTIAL_LANDUSE)
    assert (out.loc[tagged | on_land | out["part"], "households"] == 0).all()
    homes = out["kind_detail"].isin(["residential", "apartments", "house"])
    assert (out.loc[homes & ~out["part"], "households"] > 0).all()
    assert out.loc[out["kind"] == "building_part", "part"].all()  # every part's building is in the extract
    print(f"Lujiazui: {len(out)} buildings, {int((out['households'] > 0).sum())} with households, "
          f"{int(out['households'].sum())} households, {int((out['households'] > 100).sum())} above 100")  # fmt: skip
