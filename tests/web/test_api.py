import json
import re

import pytest

from tests.conftest import token_client


def test_locate_one_returns_the_chain_and_workers_phones_by_role(app, client, demo_tokens):
    r = client.get("/api/v1/locate?lon=104.08&lat=30.65")
    assert r.status_code == 200
    body = r.get_json()
    assert body["status"] == "ok"
    assert [c["level"] for c in body["chain"]] == ["micro_grid", "grid", "community", "street", "district"]
    assert {w["role"] for w in body["workers"]} == {"micro_grid_worker", "grid_worker"}
    assert all(re.fullmatch(r"1\d{10}", w["phone"]) for w in body["workers"])  # admin: in full
    # a planner of the community that holds the point sees the same workers with masked phones
    code = body["chain"][2]["code"]
    planner = token_client(app, demo_tokens["planner"])
    if code == "510104001001":
        masked = planner.get("/api/v1/locate?lon=104.08&lat=30.65").get_json()
        assert [w["name"] for w in masked["workers"]] == [w["name"] for w in body["workers"]]
        assert all(re.fullmatch(r"1\d\d\*{4}\d{4}", w["phone"]) for w in masked["workers"])
    else:
        assert planner.get("/api/v1/locate?lon=104.08&lat=30.65").get_json()["status"] == "out_of_scope"


def test_gcj02_point_lands_on_the_same_micro_grid(client):
    from geo.crs import wgs84_to_gcj02

    lon, lat = wgs84_to_gcj02(104.0712, 30.6433)
    wgs = client.get("/api/v1/locate?lon=104.0712&lat=30.6433").get_json()
    gcj = client.get(f"/api/v1/locate?lon={float(lon)}&lat={float(lat)}&crs=gcj02").get_json()
    raw = client.get(f"/api/v1/locate?lon={float(lon)}&lat={float(lat)}").get_json()
    assert gcj["codes"] == wgs["codes"] and wgs["codes"]
    assert raw["codes"] != wgs["codes"]


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("lon=30.65&lat=104.08", "coordinate_out_of_range"),
        ("lon=104.08&lat=30.65&crs=mars", "unknown_crs"),
        ("lon=abc&lat=30", "unprocessable_entity"),
        ("lat=30", "unprocessable_entity"),
        ("lon=104.08&lat=30.65&level=county", "unprocessable_entity"),
        ("lon=104.08&lat=30.65&generation=99", "not_found"),
    ],
)
def test_locate_bad_input(client, query, code):
    r = client.get(f"/api/v1/locate?{query}")
    assert 400 <= r.status_code < 500
    assert r.get_json()["error"]["code"] == code


def test_outside_point(client):
    body = client.get("/api/v1/locate?lon=105.5&lat=31").get_json()
    assert body["status"] == "outside" and body["codes"] == []


def test_bulk_locate_geojson_and_csv(client):
    features = [
        {"type": "Feature", "properties": {"id": i}, "geometry": {"type": "Point", "coordinates": c}}
        for i, c in enumerate([[104.08, 30.65], [110, 30]])
    ]
    r = client.post("/api/v1/locate", json={"type": "FeatureCollection", "features": features})
    assert r.status_code == 200 and r.mimetype == "application/geo+json"
    props = [f["properties"] for f in r.get_json()["features"]]
    assert [p["status"] for p in props] == ["ok", "outside"] and props[0]["code"].startswith("510104001")
    r = client.post("/api/v1/locate", data="名称,lng,lat\n甲,104.08,30.65\n", content_type="text/csv")
    assert r.status_code == 200 and "甲" in r.get_data(as_text=True)


@pytest.mark.parametrize(
    ("data", "content_type", "code"),
    [
        ("{nope", "application/json", "malformed_json"),
        ('{"type": "Feature"}', "application/json", "bad_geojson"),
        ("", "application/json", "empty_body"),
        ("lon,lat\n104,abc\n", "text/csv", "bad_file"),
        (
            json.dumps(
                {
                    "type": "FeatureCollection",
                    "features": [
                        {
                            "type": "Feature",
                            "properties": {},
                            "geometry": {"type": "LineString", "coordinates": [[104, 30], [104.1, 30.1]]},
                        }
                    ],
                }
            ),
            "application/json",
            "bad_geometry",
        ),
    ],
)
def test_bulk_locate_bad_bodies(client, data, content_type, code):
    r = client.post("/api/v1/locate", data=data, content_type=content_type)
    assert r.status_code == 400 and r.get_json()["error"]["code"] == code


def test_bulk_limit_and_upload_size(app, client):
    limit = app.config["LOCATE_MAX_POINTS"]
    app.config["LOCATE_MAX_POINTS"] = 2
    try:
        r = client.post("/api/v1/locate", data="lon,lat\n104,30\n104,30\n104,30\n", content_type="text/csv")
        assert r.status_code == 413 and r.get_json()["error"]["code"] == "too_many_points"
    finally:
        app.config["LOCATE_MAX_POINTS"] = limit
    r = client.post("/api/v1/locate", data=b"x" * (app.config["MAX_CONTENT_LENGTH"] + 1), content_type="text/csv")
    assert r.status_code == 413 and "error" in r.get_json()


def test_areas_tree_generations_and_assets(client):
    fc = client.get("/api/v1/areas?level=community").get_json()
    assert len(fc["features"]) == 3
    assert sum(f["properties"]["households"] for f in fc["features"]) > 40000
    code = fc["features"][0]["properties"]["code"]
    grids = client.get(f"/api/v1/areas?level=grid&parent={code}").get_json()["features"]
    assert len(grids) == 40 and all(g["properties"]["parent_code"] == code for g in grids)
    one = client.get(f"/api/v1/areas/{code}").get_json()
    assert one["properties"]["chain"][0]["code"] == code and one["geometry"]["type"] == "Polygon"
    assert client.get("/api/v1/areas/999").status_code == 404
    tree = client.get("/api/v1/areas/tree").get_json()["tree"]
    assert tree[0]["level"] == "district" and len(tree[0]["children"][0]["children"]) == 3
    gens = client.get("/api/v1/generations").get_json()["generations"]
    assert gens[0]["current"] is True
    grid = grids[0]["properties"]["code"]
    b = client.get(f"/api/v1/buildings?area={grid}").get_json()["features"]
    assert sum(f["properties"]["households"] for f in b) == grids[0]["properties"]["households"]
    sp = client.get("/api/v1/service-points?bbox=104,30,105,31&kind=police").get_json()["features"]
    assert len(sp) == 3
    assert client.get("/api/v1/buildings?bbox=1,2,3").get_json()["error"]["code"] == "bad_bbox"
    assert client.get("/api/v1/buildings").status_code == 422


def test_openapi_document_lists_every_api_route(app, client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    routes = {
        re.sub(r"<(?:\w+(?:\([^)]*\))?:)?(\w+)>", r"{\1}", r.rule)
        for r in app.url_map.iter_rules()
        if r.rule.startswith("/api/v1/")
    }
    routes -= {"/api/v1/openapi.json"}
    assert routes <= set(spec["paths"])
