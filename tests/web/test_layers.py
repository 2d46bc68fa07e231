"""Map data served by the API: GeoJSON by bbox and zoom, vector tiles; simplified per zoom; scoped; cached."""

from __future__ import annotations

import mapbox_vector_tile
import mercantile
import numpy as np
import pytest
import shapely

from boundaries.layers import TILE_BUFFER, TILE_EXTENT, tolerance_deg
from geo.crs import geometries_from_wgs84
from tests.conftest import token_client

MVT = "application/vnd.mapbox-vector-tile"


def _street_tiles(registry, zoom):
    minx, miny, maxx, maxy = registry.areas(level="street").total_bounds
    return list(mercantile.tiles(minx, miny, maxx, maxy, zoom))


def _decode(data: bytes, layer: str) -> list[dict]:
    return mapbox_vector_tile.decode(data).get(layer, {}).get("features", [])


def _tile_geometry(feature, tile) -> shapely.Geometry:
    """A decoded feature back in web-mercator metres."""
    b = mercantile.xy_bounds(tile)
    sx, sy = (b.right - b.left) / TILE_EXTENT, (b.top - b.bottom) / TILE_EXTENT
    shape = shapely.geometry.shape(feature["geometry"])
    return shapely.transform(shape, lambda xy: np.column_stack([b.left + xy[:, 0] * sx, b.bottom + xy[:, 1] * sy]))


def test_a_tile_holds_the_layer_clipped_to_the_tile(client, demo_registry):
    """Zoom 17 keeps outlines whole: each feature equals the shapely clip of its area, to the tile's 1-unit grid."""
    micro = demo_registry.areas(level="micro_grid")
    merc = dict(zip(micro["code"], geometries_from_wgs84(micro.geometry.values, "EPSG:3857"), strict=True))
    checked = 0
    for tile in _street_tiles(demo_registry, 17)[:12]:
        answer = client.get(f"/tiles/micro_grid/{tile.z}/{tile.x}/{tile.y}.mvt")
        assert answer.status_code == 200 and answer.mimetype == MVT
        b = mercantile.xy_bounds(tile)
        pad = (b.right - b.left) * TILE_BUFFER / TILE_EXTENT
        window = shapely.box(b.left - pad, b.bottom - pad, b.right + pad, b.top + pad)
        expected = {code for code, g in merc.items() if g.intersection(window).area > 1.0}
        features = _decode(answer.data, "micro_grid")
        assert {f["properties"]["code"] for f in features} >= expected
        unit = (b.right - b.left) / TILE_EXTENT
        for f in features:
            clip = merc[f["properties"]["code"]].intersection(window)
            got = _tile_geometry(f, tile)
            assert got.symmetric_difference(clip).area <= clip.length * unit + 1e-6, f["properties"]["code"]
            checked += 1
    assert checked > 20


def test_low_zoom_layers_keep_shared_edges_shared(client, demo_registry):
    """coverage_simplify: simplified micro-grids neither overlap nor open gaps between neighbours."""
    minx, miny, maxx, maxy = demo_registry.areas(level="street").total_bounds
    for zoom in (12, 14):
        body = client.get(f"/api/v1/layers/micro_grid?bbox={minx},{miny},{maxx},{maxy}&zoom={zoom}").get_json()
        geoms = np.array([shapely.geometry.shape(f["geometry"]) for f in body["features"]])
        originals = demo_registry.areas(level="micro_grid", codes=[f["properties"]["code"] for f in body["features"]])
        assert len(geoms) == len(originals) > 100
        assert shapely.get_num_coordinates(geoms).sum() < shapely.get_num_coordinates(originals.geometry.values).sum()
        union = shapely.union_all(geoms)
        assert abs(union.area - shapely.area(geoms).sum()) < 1e-6 * union.area  # no overlaps
        gap = shapely.union_all(originals.geometry.values).difference(union).area
        assert gap < 1e-3 * union.area  # no gaps opened (only the outer edge moves, within the tolerance)
        assert tolerance_deg(zoom) > 0


@pytest.mark.parametrize("layer", ["micro_grid", "grid", "buildings", "service_points"])
def test_callers_see_nothing_outside_their_areas(app, demo_tokens, demo_registry, layer):
    planner = token_client(app, demo_tokens["planner"])
    scope = set(planner.get("/api/v1/me").get_json()["areas"])
    inside = {code for code, chain in demo_registry.ancestors().items() if scope & set(chain.values())}
    scope_shape = shapely.union_all(demo_registry.areas(codes=sorted(scope)).geometry.values)
    minx, miny, maxx, maxy = demo_registry.areas(level="street").total_bounds
    body = planner.get(f"/api/v1/layers/{layer}?bbox={minx},{miny},{maxx},{maxy}&zoom=16").get_json()
    everyone = (
        token_client(app, demo_tokens["admin"])
        .get(f"/api/v1/layers/{layer}?bbox={minx},{miny},{maxx},{maxy}&zoom=16")
        .get_json()
    )
    assert 0 < len(body["features"]) < len(everyone["features"])
    seen = 0
    for tile in _street_tiles(demo_registry, 15):
        features = _decode(planner.get(f"/tiles/{layer}/{tile.z}/{tile.x}/{tile.y}.mvt").data, layer)
        seen += len(features)
        for f in features:
            if "code" in f["properties"]:
                assert f["properties"]["code"] in inside
    for f in body["features"]:
        if "code" in f["properties"]:
            assert f["properties"]["code"] in inside
        else:  # buildings and service points: by their representative point
            geom = shapely.geometry.shape(f["geometry"])
            assert scope_shape.buffer(1e-7).intersects(shapely.point_on_surface(geom))
    assert seen > 0


def test_tiles_revalidate_and_change_with_a_publish(app, demo_tokens, demo_registry):
    admin = token_client(app, demo_tokens["admin"])
    tile = _street_tiles(demo_registry, 16)[0]
    path = f"/tiles/micro_grid/{tile.z}/{tile.x}/{tile.y}.mvt"
    first = admin.get(path)
    assert first.status_code == 200 and first.headers["ETag"] and "max-age" in first.headers["Cache-Control"]
    again = admin.get(path, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and not again.data
    named = admin.get(path + f"?generation={demo_registry.current_generation()}")
    assert named.status_code == 200 and named.headers["ETag"] == first.headers["ETag"]
    planner = token_client(app, demo_tokens["planner"]).get(path)
    assert planner.headers["ETag"] != first.headers["ETag"]  # the scope is part of the tile


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/tiles/nonsense/16/0/0.mvt", 404),
        ("/tiles/micro_grid/3/9/0.mvt", 404),
        ("/tiles/micro_grid/23/0/0.mvt", 404),
        ("/tiles/micro_grid/16/0/0.mvt?generation=abc", 400),
        ("/api/v1/layers/micro_grid?bbox=104,30,105,31", 422),
        ("/api/v1/layers/micro_grid?bbox=30,104,31,105&zoom=10", 400),
        ("/api/v1/layers/micro_grid?bbox=104,30,105,31&zoom=30", 422),
        ("/api/v1/layers/nonsense?bbox=104,30,105,31&zoom=10", 404),
    ],
)
def test_bad_layer_requests_are_clear_4xx(client, path, status):
    answer = client.get(path)
    assert answer.status_code == status, answer.get_data(as_text=True)[:300]


def test_a_layer_answer_is_a_screen_not_a_city(client, demo_registry, monkeypatch):
    """An outside test got every building of the registry from one bbox of the whole world at zoom 16."""
    world = client.get("/api/v1/layers/buildings?bbox=-180,-85,180,85&zoom=16")
    assert world.status_code == 400 and "million pixels" in world.get_json()["error"]["message"]
    grid = demo_registry.areas(level="grid").iloc[0].geometry.bounds  # about a screen at zoom 17
    window = ",".join(f"{v:.6f}" for v in grid)
    screen = client.get(f"/api/v1/layers/buildings?bbox={window}&zoom=17")
    assert screen.status_code == 200 and screen.get_json()["features"]
    import boundaries.layers

    monkeypatch.setattr(boundaries.layers, "MAX_FEATURES", len(screen.get_json()["features"]) - 1)
    crowded = client.get(f"/api/v1/layers/buildings?bbox={window}&zoom=17")
    assert crowded.status_code == 400 and "zoom in" in crowded.get_json()["error"]["message"]


def test_a_weak_if_none_match_revalidates_a_tile(client):
    url = "/tiles/micro_grid/16/53702/26744.mvt"
    tag = client.get(url).headers["ETag"]
    assert client.get(url, headers={"If-None-Match": f"W/{tag}"}).status_code == 304


def test_map_layers_are_simplified_ahead_so_no_tile_waits_for_it(demo_db, tmp_path, monkeypatch):
    """The first tile of a zoom simplified the whole level (8 s at 126,000 micro-grids); publish and start do it."""
    import boundaries.layers
    from boundaries.registry import Registry
    from boundaries.scope import ScopedRegistry
    from boundaries.storage import open_store
    from core.audit import SYSTEM
    from core.scope import Scope
    from tests.conftest import copy_demo

    registry = Registry(open_store(copy_demo(demo_db, tmp_path)))
    g = registry.current_generation()
    registry.warm_map_layers(g)

    def refuse(*args, **kwargs):
        raise AssertionError("a tile request simplified the level again")

    monkeypatch.setattr(boundaries.layers.shapely, "coverage_simplify", refuse)
    view = ScopedRegistry(registry, Scope.everything(), SYSTEM)
    level = registry.lowest_level(g)
    minx, miny, maxx, maxy = registry.areas(level="street").total_bounds
    for zoom in boundaries.layers.WARM_ZOOMS:
        tile = mercantile.tile((minx + maxx) / 2, (miny + maxy) / 2, zoom)
        assert mapbox_vector_tile.decode(boundaries.layers.tile(view, level, tile.z, tile.x, tile.y))[level]["features"]
