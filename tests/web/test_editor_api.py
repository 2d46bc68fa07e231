"""The editor's API: one parent's data in the caller's change set, multi-area saves, split, merge, reshape."""

from __future__ import annotations

import pytest
import shapely

from tests.conftest import private_app

GRID, OTHER_GRID = "510104001001001", "510104001002001"


@pytest.fixture
def world(demo_db, tmp_path):
    return private_app(demo_db, tmp_path)


def _households_brute_force(registry, grid):
    """Households per micro-grid: every building's point in the first (lowest-code) micro-grid covering it."""
    children = registry.areas(parent_code=grid).sort_values("code")
    parent = registry.area(grid).geometry
    totals = dict.fromkeys(children["code"], 0)
    for b in registry.store.buildings(bbox=shapely.bounds(parent).tolist()):
        point = shapely.Point(b["lon"], b["lat"])
        if not parent.intersects(point):
            continue
        for code, geom in zip(children["code"], children.geometry, strict=True):
            if geom.intersects(point):
                totals[code] += b["households"]
                break
    return totals


def test_editor_data_is_the_parents_children_with_versions_and_households(world):
    _, registry, client = world
    planner = client("planner")
    data = planner.get(f"/api/v1/editor/{GRID}").get_json()
    assert data["level"] == "micro_grid" and data["household_range"] == [30, 100] and data["change_set"] is None
    got = {f["properties"]["code"]: f["properties"]["households"] for f in data["children"]["features"]}
    assert got == _households_brute_force(registry, GRID) and sum(got.values()) > 0
    first = data["children"]["features"][0]["properties"]
    assert planner.get(f"/api/v1/areas/{first['code']}").headers["ETag"] == f'"{first["version"]}"'
    assert data["footprints"] and all(f["geometry"]["type"] in ("Polygon", "MultiPolygon")
                                      for f in data["buildings"]["features"])  # fmt: skip
    assert planner.get(f"/api/v1/editor/{first['code']}").status_code == 400  # a micro-grid has nothing below
    assert planner.get(f"/api/v1/editor/{OTHER_GRID}").status_code == 403
    assert planner.get("/api/v1/editor/nope").status_code == 404


def test_save_is_all_or_nothing_and_split_merge_reshape_answer_versions(world):
    _, registry, client = world
    planner = client("planner")
    features = planner.get(f"/api/v1/editor/{GRID}").get_json()["children"]["features"]
    a, b = features[0]["properties"], features[1]["properties"]
    body = {"changes": [{"code": a["code"], "geometry": features[0]["geometry"], "version": a["version"]},
                        {"code": b["code"], "geometry": features[1]["geometry"], "version": "stale"}]}  # fmt: skip
    refused = planner.post("/api/v1/editor/save", json=body)
    assert refused.status_code == 412 and refused.get_json()["error"]["current"]["area"]["code"] == b["code"]
    assert registry.store.open_change_sets() == []
    body["changes"][1]["version"] = b["version"]
    saved = planner.post("/api/v1/editor/save", json=body)
    assert saved.status_code == 200 and len(saved.get_json()["areas"]) == 2
    again = planner.get(f"/api/v1/editor/{GRID}").get_json()
    assert again["change_set"] == saved.get_json()["generation"]
    shape = shapely.geometry.shape(features[2]["geometry"])
    minx, miny, maxx, maxy = shape.bounds
    mid = (minx + maxx) / 2
    line = {"type": "LineString", "coordinates": [[mid, miny - 0.001], [mid, maxy + 0.001]]}
    code = features[2]["properties"]["code"]
    split = planner.post(f"/api/v1/areas/{code}/split", json={"line": line})
    assert split.status_code == 200, split.get_json()
    new_code = next(x["code"] for x in split.get_json()["areas"] if x.get("created"))
    assert new_code.startswith(GRID) and len(new_code) == len(code)  # the next code of the layout
    merged = planner.post("/api/v1/areas/merge", json={"codes": [code, new_code]})
    assert merged.status_code == 200 and [x["code"] for x in merged.get_json()["areas"] if x.get("removed")] == [
        new_code
    ]
    assert planner.post(f"/api/v1/areas/{code}/reshape", json={"line": {"type": "Point", "coordinates": [104, 30]}}
                        ).status_code == 400  # fmt: skip
    assert planner.post(f"/api/v1/areas/{code}/split", json={"line": "x"}).status_code == 422
    assert planner.post("/api/v1/areas/merge", json={"codes": [code]}).status_code == 422
    assert client("staff").post("/api/v1/editor/save", json=body).status_code == 403
