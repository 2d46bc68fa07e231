"""Tiles for the staff map: cut on AMap's GCJ-02 grid on request, buildings named by the area holding them."""

from __future__ import annotations

import mercantile
import numpy as np
import shapely

from boundaries.layers import TILE_BUFFER, TILE_EXTENT
from geo.crs import geometries_from_wgs84, wgs84_to_gcj02
from tests.web.test_layers import _decode, _tile_geometry


def test_a_gcj02_tile_holds_the_areas_shifted_to_gcj02(client, demo_registry):
    """``crs=gcj02``: each feature equals the clip of its area shifted to GCJ-02, on AMap's tile grid."""
    micro = demo_registry.areas(level="micro_grid")
    shifted = geometries_from_wgs84(micro.geometry.values, "gcj02")
    merc = dict(zip(micro["code"], geometries_from_wgs84(shifted, "EPSG:3857"), strict=True))
    minx, miny, maxx, maxy = shapely.union_all(shifted).bounds
    tiles = list(mercantile.tiles(minx, miny, maxx, maxy, 17))[:10]
    checked = 0
    for tile in tiles:
        answer = client.get(f"/tiles/micro_grid/{tile.z}/{tile.x}/{tile.y}.mvt?crs=gcj02")
        plain = client.get(f"/tiles/micro_grid/{tile.z}/{tile.x}/{tile.y}.mvt")
        assert answer.status_code == 200 and answer.headers["ETag"] != plain.headers["ETag"]
        b = mercantile.xy_bounds(tile)
        pad = (b.right - b.left) * TILE_BUFFER / TILE_EXTENT
        window = shapely.box(b.left - pad, b.bottom - pad, b.right + pad, b.top + pad)
        expected = {code for code, g in merc.items() if g.intersection(window).area > 1.0}
        features = _decode(answer.data, "micro_grid")
        assert {f["properties"]["code"] for f in features} == expected
        unit = (b.right - b.left) / TILE_EXTENT
        for f in features:
            clip = merc[f["properties"]["code"]].intersection(window)
            assert _tile_geometry(f, tile).symmetric_difference(clip).area <= clip.length * unit + 1e-6
            checked += 1
    assert checked > 10


def test_a_tile_crs_other_than_wgs84_or_gcj02_is_a_400(client):
    answer = client.get("/tiles/micro_grid/17/0/0.mvt?crs=bd09")
    assert answer.status_code == 400 and answer.get_json()["error"]["code"] == "bad_crs"


def test_buildings_in_tiles_carry_the_code_of_their_micro_grid(client, demo_registry):
    buildings = demo_registry.store.buildings(geometry=False)
    lon = np.array([b["lon"] for b in buildings])
    lat = np.array([b["lat"] for b in buildings])
    located = demo_registry.locate(lon, lat, level="micro_grid")
    truth = {
        b["id"]: code
        for b, code, status in zip(buildings, located["code"], located["status"], strict=True)
        if status == "ok"
    }
    tile = mercantile.tile(float(np.median(lon)), float(np.median(lat)), 16)
    seen = 0
    for t in [tile, *mercantile.neighbors(tile)]:
        for f in _decode(client.get(f"/tiles/buildings/{t.z}/{t.x}/{t.y}.mvt").data, "buildings"):
            assert f["properties"].get("area") == truth.get(f["properties"]["id"])
            seen += 1
    assert seen > 20 and len(set(truth.values())) > 1
    wx, wy = wgs84_to_gcj02(lon, lat)  # the shifted grid carries the same codes
    assert np.all(np.abs(wx - lon) > 1e-4)
