"""Area writes over HTTP: refused writes leave no draft, codes are addressable, rings closed, crs values checked
(issue 9, items 4 and 6)."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from accounts.tokens import create_token
from accounts.users import find_user
from boundaries.codes import check_code
from boundaries.registry import Registry
from boundaries.storage import open_store
from tests.conftest import TEST_CONFIG, copy_demo, token_client

GRID, OTHER_COMMUNITY = "510104001001001", "510104001002"


@pytest.fixture
def fresh(demo_db, tmp_path):
    from web import create_app

    url = copy_demo(demo_db, tmp_path)
    registry = Registry(open_store(url))
    app = create_app({**TEST_CONFIG, "DATABASE_URL": url, "REGISTRY": registry})
    planner = token_client(app, create_token(registry, find_user(registry, "planner").id, "t", 1)[0])
    return registry, planner


def _square(registry, code):
    return shapely.geometry.mapping(shapely.buffer(registry.area(code).geometry, -0.00002))


def test_refused_area_writes_leave_no_empty_draft(fresh):
    registry, planner = fresh
    leaf = registry.areas(parent_code=GRID).iloc[0]["code"]
    body = {"code": leaf, "name": "x", "level": "micro_grid", "parent_code": GRID, "geometry": _square(registry, leaf)}
    generations = planner.get("/api/v1/generations").get_json()["generations"]
    for change, status in (
        ({}, 409),  # duplicate code
        ({"code": f"{GRID}951", "parent_code": f"{GRID}999"}, 403),  # unknown parent: not in the planner's areas
        ({"code": f"{GRID}951", "level": "grid"}, 400),  # wrong level under a grid
        ({"code": "a/b"}, 400),
    ):
        answer = planner.post("/api/v1/areas", json={**body, **change})
        assert answer.status_code == status, answer.get_json()
        assert planner.get("/api/v1/generations").get_json()["generations"] == generations


def test_codes_must_be_addressable_and_rings_closed(fresh):
    registry, planner = fresh
    leaf = registry.areas(parent_code=GRID).iloc[0]["code"]
    body = {"name": "x", "level": "micro_grid", "parent_code": GRID, "geometry": _square(registry, leaf)}
    for code in ("a/b", "a b", "a?b", "a#b", "50%", "a\tb", "a\x7fb", "tree"):
        answer = planner.post("/api/v1/areas", json={**body, "code": code})
        assert answer.status_code == 400 and "编码格式错误" in answer.get_json()["error"]["message"], code
    ring = [list(p) for p in shapely.buffer(registry.area(leaf).geometry, -0.00002).exterior.coords]
    unclosed = {"type": "Polygon", "coordinates": [ring[:-1]]}
    answer = planner.patch(f"/api/v1/areas/{leaf}", json={"geometry": unclosed})
    assert answer.status_code == 400 and "not closed" in answer.get_json()["error"]["message"]
    assert check_code("A01.b-2_c") == "A01.b-2_c"  # addressable (under a parent outside the layout: see below)
    made = planner.post("/api/v1/areas", json={**body, "code": f"{GRID}951"})
    assert made.status_code == 201 and planner.get(f"/api/v1/areas/{GRID}951?generation=2").status_code == 200


def test_a_code_must_extend_its_parents_code_under_the_layout(fresh):
    """Outside test, item 10: a planner of 510104001001 drew a grid coded into the next community."""
    registry, planner = fresh
    community = "510104001001"
    body = {"name": "x", "level": "grid", "parent_code": community, "geometry": _square(registry, GRID)}
    for code in ("510104001002777", "5101040010", "5101040010019999", "A01", "510104001001x01"):
        answer = planner.post("/api/v1/areas", json={**body, "code": code})
        assert answer.status_code == 400, (code, answer.get_json())
        message = answer.get_json()["error"]["message"]
        assert f"code {code!r} must extend its parent's code {community!r}" in message, message
        assert registry.store.draft_generation_id() is None


def test_codes_outside_the_layout_keep_working_over_the_api(fresh, tmp_path):
    """Imported codes like Hong Kong's A01 stay usable: areas below them take any addressable code."""
    registry, _ = fresh
    from web import create_app

    admin_app = create_app({**TEST_CONFIG, "DATABASE_URL": registry.store.engine.url.render_as_string(False),
                            "REGISTRY": registry})  # fmt: skip
    admin = token_client(admin_app, create_token(registry, find_user(registry, "admin").id, "t", 1)[0])
    square = shapely.geometry.mapping(shapely.box(114.15, 22.28, 114.16, 22.29))
    made = admin.post("/api/v1/areas", json={"code": "A", "name": "中西区", "level": "district", "geometry": square})
    assert made.status_code == 201, made.get_json()
    inner = shapely.geometry.mapping(shapely.box(114.151, 22.281, 114.159, 22.289))
    child = {"code": "A01.b-2_c", "name": "中环", "level": "street", "parent_code": "A", "geometry": inner}
    assert admin.post("/api/v1/areas", json=child).status_code == 201


def test_a_drawing_outside_the_parent_is_refused_naming_the_parent(fresh):
    registry, planner = fresh
    spilled = shapely.union_all(
        [registry.area(GRID).geometry, registry.areas(parent_code=OTHER_COMMUNITY).geometry.iloc[0]]
    )
    answer = planner.patch(f"/api/v1/areas/{GRID}", json={"geometry": shapely.geometry.mapping(spilled.convex_hull)})
    assert answer.status_code == 400
    assert "outside its parent area '510104001001'" in answer.get_json()["error"]["message"]
    assert registry.store.draft_generation_id() is None


@pytest.mark.parametrize(
    "crs",
    [
        "+proj=longlat +datum=WGS84 +no_defs",
        "ESRI:102100",
        "urn:ogc:def:crs:EPSG::4544",
        "IGNF:LAMB93",
        "EPSG:4326+5773",
    ],
)
def test_crs_accepts_only_the_documented_names_and_epsg_codes(fresh, crs):
    _, planner = fresh
    answer = planner.get("/api/v1/locate", query_string={"lon": 104.0685, "lat": 30.6569, "crs": crs})
    assert answer.status_code == 400 and "unknown CRS" in answer.get_json()["error"]["message"]


@pytest.mark.parametrize("crs", ["wgs84", "cgcs2000", "gcj02", "bd09", "EPSG:4326", "4490"])
def test_documented_crs_values_work(fresh, crs):
    _, planner = fresh
    answer = planner.get("/api/v1/locate", query_string={"lon": 104.0685, "lat": 30.6569, "crs": crs})
    assert answer.status_code == 200 and answer.get_json()["status"] in ("ok", "outside", "out_of_scope")


def _inner(registry, leaf) -> shapely.Geometry:
    return shapely.buffer(registry.area(leaf).geometry, -0.00002)


def test_area_writes_honour_the_crs_parameter(fresh):
    """Outside test, item 11: ?crs=gcj02 was ignored and the geometry stored as WGS84."""
    from geo.crs import geometries_from_wgs84

    registry, planner = fresh
    leaf = registry.areas(parent_code=GRID).iloc[0]["code"]
    wgs = _inner(registry, leaf)
    gcj = geometries_from_wgs84([wgs], "gcj02")[0]
    body = {"code": f"{GRID}951", "name": "x", "level": "micro_grid", "parent_code": GRID}
    made = planner.patch(f"/api/v1/areas/{leaf}?crs=gcj02", json={"geometry": shapely.geometry.mapping(gcj)})
    assert made.status_code == 200, made.get_json()
    stored = registry.area(leaf, generation=made.get_json()["generation"]).geometry
    assert shapely.hausdorff_distance(stored, wgs) < 1e-8  # converted back to where it was, not shifted ~500 m
    x, y = shapely.get_coordinates(wgs).T
    from geo.crs import from_wgs84

    gk = shapely.polygons(np.column_stack(from_wgs84(x, y, "EPSG:4544")))
    posted = planner.delete(f"/api/v1/areas/{leaf}")
    assert posted.status_code == 200
    made = planner.post("/api/v1/areas?crs=EPSG:4544", json={**body, "geometry": shapely.geometry.mapping(gk)})
    assert made.status_code == 201, made.get_json()
    stored = registry.area(f"{GRID}951", generation=made.get_json()["generation"]).geometry
    assert shapely.hausdorff_distance(stored, wgs) < 1e-7


@pytest.mark.parametrize(
    ("crs", "phrase"),
    [
        ("foo", "unknown CRS"),
        ("EPSG:99999", "unknown CRS"),
        ("+proj=longlat", "unknown CRS"),
        ("EPSG:4544", "look like longitude/latitude"),  # lon/lat data declared as Gauss–Krüger metres
        ("EPSG:3857", "look like longitude/latitude"),
    ],
)
def test_area_writes_refuse_unknown_or_implausible_crs(fresh, crs, phrase):
    registry, planner = fresh
    leaf = registry.areas(parent_code=GRID).iloc[0]["code"]
    geometry = shapely.geometry.mapping(_inner(registry, leaf))
    body = {"code": f"{GRID}951", "name": "x", "level": "micro_grid", "parent_code": GRID, "geometry": geometry}
    for answer in (
        planner.post("/api/v1/areas", query_string={"crs": crs}, json=body),
        planner.patch(f"/api/v1/areas/{leaf}", query_string={"crs": crs}, json={"geometry": geometry}),
    ):
        assert answer.status_code == 400, answer.get_json()
        assert phrase in answer.get_json()["error"]["message"]
    assert registry.store.draft_generation_id() is None


@pytest.mark.parametrize("path", ["/api/v1/areas", "/api/v1/buildings", "/api/v1/service-points"])
def test_a_bbox_with_latitude_out_of_range_is_a_400_with_the_swap_hint(fresh, path):
    _, planner = fresh
    answer = planner.get(f"{path}?bbox=30,104,31,105")
    assert answer.status_code == 400, answer.get_json()
    error = answer.get_json()["error"]
    assert error["code"] == "bad_bbox" and "swapped" in error["message"]
    assert planner.get(f"{path}?bbox=-181,30,104,31").status_code == 400
    assert planner.get(f"{path}?bbox=104,30,105,31").status_code == 200


def test_locate_refuses_lonlat_declared_projected(fresh):
    _, planner = fresh
    answer = planner.get("/api/v1/locate", query_string={"lon": 104.0685, "lat": 30.6569, "crs": "EPSG:3857"})
    assert answer.status_code == 400 and "look like longitude/latitude" in answer.get_json()["error"]["message"]
