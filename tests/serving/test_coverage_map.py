"""The coverage map page as a small shell and its JSON routes: size, figures equal the API's, scope, bad input."""

from __future__ import annotations

import gzip
import json
import re
from html import unescape

import geopandas as gpd
import numpy as np
import pytest
import shapely

from boundaries import assets
from geo.crs import geometries_from_wgs84, metric_crs
from serving.analysis import analyse
from serving.coverage_map import MAX_BUILDINGS, MAX_OUTLINE_VERTICES
from tests.conftest import private_app, token_client

COMMUNITY = "510104001001"
OTHER_COMMUNITY = "510104001002"


def _squares(bounds, n: int, seed: int = 7) -> gpd.GeoDataFrame:
    """``n`` small square footprints (about 8 m) at random inside ``bounds``."""
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = bounds
    x = rng.uniform(minx + 0.0005, maxx - 0.0005, n)
    y = rng.uniform(miny + 0.0005, maxy - 0.0005, n)
    d = 0.00004
    boxes = shapely.box(x - d, y - d, x + d, y + d)
    return gpd.GeoDataFrame({"households": rng.integers(1, 40, n)}, geometry=boxes, crs=4326)


def _config(html: str) -> dict:
    found = re.search(r'id="coverage-map"[^>]*data-config="([^"]+)"', html)
    assert found, html[:3000]
    return json.loads(unescape(found.group(1)))


def test_the_page_is_a_small_shell_that_does_not_grow_with_the_buildings(demo_db, tmp_path):
    """Outside test: the page inlined every geometry (2.12 MB, 276 KB gzip) and grew with the data."""
    app, registry, client = private_app(demo_db, tmp_path)
    admin = client("admin")
    before = admin.get("/coverage?kind=clinic&reach=300")
    assert before.status_code == 200
    size_before = len(before.data)
    assert len(gzip.compress(before.data)) < 100_000 and size_before < 100_000
    assets.import_buildings(registry, _squares(registry.areas(level="street").total_bounds, 10_000))
    after = admin.get("/coverage?kind=clinic&reach=300")
    assert after.status_code == 200
    summary_before = re.search(r'<p id="summary">.*?</p>', before.get_data(as_text=True), re.S).group(0)
    summary_after = re.search(r'<p id="summary">.*?</p>', after.get_data(as_text=True), re.S).group(0)
    assert summary_before != summary_after  # the figures did change (10,000 more buildings) ...
    assert abs(len(after.data) - size_before) < 200  # ... the page did not grow (a few digits of the summary)
    assert "leaflet-interactive" not in after.get_data(as_text=True) and "srcdoc" not in after.get_data(as_text=True)
    # the view's uncovered buildings are capped and say so; the cache saw the new buildings
    config = _config(after.get_data(as_text=True))
    extent = ",".join(str(v) for v in config["extent"])
    found = admin.get(f"{config['buildingsApi']}&bbox={extent}&zoom=14").get_json()
    summary = admin.get("/api/v1/coverage?kind=clinic&reach=300").get_json()["summary"]
    assert found["uncovered"] == summary["buildings_uncovered"] > MAX_BUILDINGS
    assert len(found["buildings"]) == MAX_BUILDINGS and found["truncated"] is True and found["covered"] is None
    shown = np.array([row[4] for row in found["buildings"]])
    assert not any(row[3] for row in found["buildings"]) and (np.diff(shown) <= 0).all()  # most households first


def test_the_page_config_names_the_routes_and_no_other_host(app, demo_tokens):
    staff = token_client(app, demo_tokens["staff"])
    page = staff.get(f"/coverage?kind=clinic&area={COMMUNITY}&suggest=2")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    config = _config(html)
    for key in ("areasApi", "reachApi", "buildingsApi"):
        assert config[key].startswith("/api/v1/coverage/") and f"area={COMMUNITY}" in config[key]
        assert staff.get(config[key] + "&zoom=15&bbox=104.0,30.6,104.2,30.7").status_code == 200
    assert config["tiles"].startswith("/tiles/{layer}/") and config["pointsApi"] == "/api/v1/layers/service_points"
    sites = config["sites"]  # [lon, lat, households added]: at most 50, whatever the data
    assert len(sites) == 2 and all(104 < s[0] < 104.2 and 30.5 < s[1] < 30.8 and s[2] >= 0 for s in sites)
    suggested = staff.post(
        "/api/v1/coverage/suggest", json={"kind": "clinic", "area": COMMUNITY, "model": "mclp", "k": 2}
    ).get_json()
    assert sorted(s[2] for s in sites) == sorted(
        f["properties"]["households_added"] for f in suggested["new_sites"]["features"]
    )
    assert config["levels"] == ["community", "grid", "micro_grid"]
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", html)
    assert re.search(r'<script src="/static/js/coverage\.js\?v=\w+"', html)
    assert "<script>" not in html  # no inline code: the strings are JSON data
    linked = re.findall(r'<(?:script src|link rel="stylesheet" href)="([^"]+)"', html)
    assert len(linked) == 5  # leaflet.css, leaflet.js, Leaflet.VectorGrid, coverage.js, signout.js
    for url in linked:
        served = staff.get(unescape(url))
        assert served.status_code == 200 and len(served.data) > 1000, url
        served.close()
    strings = json.loads(re.search(r'id="page-strings">(.*?)</script>', html, re.S).group(1))
    assert strings["beyond"] == "超出服务半径" and "建议" in strings["sites"]


@pytest.mark.parametrize("level", ["community", "grid", "micro_grid"])
def test_area_figures_equal_the_coverage_api(app, demo_tokens, level):
    staff = token_client(app, demo_tokens["staff"])
    query = f"kind=grid_station&reach=300&area={COMMUNITY}"
    full = staff.get(f"/api/v1/coverage?{query}").get_json()["areas"]
    lean = staff.get(f"/api/v1/coverage/areas?{query}&level={level}").get_json()
    assert lean["levels"] == ["community", "grid", "micro_grid"] and lean["level"] == level
    expected = sorted(
        [a["code"], a["name"], a["covered_share"], a["households"], a["covered_households"], a["uncovered_buildings"]]
        for a in full
        if a["level"] == level
    )
    assert lean["columns"] == ["code", "name", "covered_share", "households", "covered_households",
                               "uncovered_buildings"]  # fmt: skip
    assert lean["areas"] == expected and len(expected) > 0
    assert (
        sum(r[4] for r in lean["areas"])
        == staff.get(f"/api/v1/coverage?{query}").get_json()["summary"]["households_covered"]
    )


def test_area_figures_default_to_the_lowest_level(app, demo_tokens):
    admin = token_client(app, demo_tokens["admin"])
    lean = admin.get("/api/v1/coverage/areas?kind=clinic").get_json()
    assert lean["level"] == "micro_grid" and len(lean["areas"]) == 643
    assert lean["levels"] == ["district", "street", "community", "grid", "micro_grid"]


def test_the_reach_is_one_outline_equal_to_the_union_of_the_circles(app, demo_tokens, demo_registry):
    admin = token_client(app, demo_tokens["admin"])
    answer = admin.get("/api/v1/coverage/reach?kind=clinic&reach=300&zoom=18")
    assert answer.status_code == 200 and answer.mimetype == "application/geo+json"
    features = answer.get_json()["features"]
    assert len(features) == 1
    outline = shapely.geometry.shape(features[0]["geometry"])
    # brute force: a 300 m circle around every clinic, unioned, in metres
    sites = assets.service_points(demo_registry, kind="clinic")
    crs = metric_crs(104.08, 30.65)
    pts = geometries_from_wgs84(shapely.points(sites["lon"], sites["lat"]), crs)
    circles = shapely.union_all(shapely.buffer(pts, 300, quad_segs=16))
    ours = geometries_from_wgs84(np.array([outline], dtype=object), crs)[0]
    assert abs(ours.area - circles.area) / circles.area < 0.002
    assert ours.symmetric_difference(circles).area / circles.area < 0.005
    coarse = admin.get("/api/v1/coverage/reach?kind=clinic&reach=300&zoom=11").get_json()["features"][0]
    assert shapely.get_num_coordinates(shapely.geometry.shape(coarse["geometry"])) < shapely.get_num_coordinates(
        outline
    )
    assert shapely.get_num_coordinates(outline) <= MAX_OUTLINE_VERTICES
    none = admin.get("/api/v1/coverage/reach?kind=hospital&zoom=15").get_json()  # no hospital in the demo
    assert none["features"] == []


def test_buildings_in_view_are_the_uncovered_ones_as_the_analysis_finds_them(app, demo_tokens, demo_registry):
    admin = token_client(app, demo_tokens["admin"])
    from boundaries.scope import ScopedRegistry
    from core.scope import Scope

    result = analyse(ScopedRegistry(demo_registry, Scope(None)), "clinic", reach_m=250)
    b = result.buildings
    box = (104.05, 30.6, 104.1, 30.7)
    bbox = ",".join(map(str, box))
    inside = b["lon"].between(box[0], box[2]) & b["lat"].between(box[1], box[3])
    far = admin.get(f"/api/v1/coverage/buildings?kind=clinic&reach=250&bbox={bbox}&zoom=15").get_json()
    assert {r[0] for r in far["buildings"]} == set(b.loc[inside & ~b["covered"], "id"])
    assert far["uncovered"] == int((inside & ~b["covered"]).sum()) > 0 and far["covered"] is None
    row = far["buildings"][0]
    expected = b.set_index("id").loc[row[0]]
    assert row[4] == expected["households"] and row[6] == expected["name"]
    assert row[5] == (None if np.isnan(expected["nearest_m"]) else expected["nearest_m"])
    near = admin.get(f"/api/v1/coverage/buildings?kind=clinic&reach=250&bbox={bbox}&zoom=17&limit=10").get_json()
    assert near["covered"] == int((inside & b["covered"]).sum()) and len(near["buildings"]) == 10
    assert near["truncated"] is True


def test_beyond_reach_is_null_never_nan(app, demo_tokens):
    admin = token_client(app, demo_tokens["admin"])
    text = admin.get("/api/v1/coverage/buildings?kind=hospital&bbox=103,30,105,31&zoom=15&limit=50").get_data(
        as_text=True
    )
    rows = json.loads(text)["buildings"]
    assert len(rows) == 50 and all(r[5] is None for r in rows) and "NaN" not in text


def test_the_map_routes_keep_to_the_caller_s_areas(app, demo_tokens):
    staff = token_client(app, demo_tokens["staff"])
    worker = token_client(app, demo_tokens["grid_worker"])
    own = staff.get("/api/v1/coverage/areas?kind=clinic&level=grid").get_json()
    assert own["areas"] and all(r[0].startswith(COMMUNITY) for r in own["areas"])
    for route in ("areas?", "reach?zoom=15&", "buildings?bbox=103,30,105,31&zoom=15&"):
        assert staff.get(f"/api/v1/coverage/{route}kind=clinic&area={OTHER_COMMUNITY}").status_code == 403
        assert worker.get(f"/api/v1/coverage/{route}kind=clinic&area={COMMUNITY}").status_code == 403
    everything = "/api/v1/coverage/buildings?kind=hospital&bbox=103,30,105,31&zoom=15"
    admin_rows = token_client(app, demo_tokens["admin"]).get(everything).get_json()
    staff_rows = staff.get(everything).get_json()
    assert 0 < staff_rows["uncovered"] < admin_rows["uncovered"]
    assert staff.get(f"/coverage?kind=clinic&area={OTHER_COMMUNITY}").status_code == 403


@pytest.mark.parametrize(
    "query",
    [
        "areas?kind=clinic&reach=abc",
        "areas?kind=clinic&level=province",
        "areas?kind=spaceship",
        "areas?kind=clinic&network=true",  # no roads in the demo
        "areas?kind=clinic&area=" + "9" * 40,
        "areas?kind=clinic&area=999999",
        "areas?reach=300",
        "reach?kind=clinic",
        "reach?kind=clinic&zoom=99",
        "reach?kind=clinic&zoom=x",
        "buildings?kind=clinic&zoom=15",
        "buildings?kind=clinic&zoom=15&bbox=1,2,3",
        "buildings?kind=clinic&zoom=15&bbox=200,0,201,1",
        "buildings?kind=clinic&zoom=15&bbox=104.1,30.7,104.0,30.6",
        "buildings?kind=clinic&zoom=15&bbox=104,30,105,31&limit=0",
        f"buildings?kind=clinic&zoom=15&bbox=104,30,105,31&limit={MAX_BUILDINGS + 1}",
        "buildings?kind=clinic&zoom=15&bbox=nan,30,105,31",
    ],
)
def test_bad_input_is_a_clear_4xx(app, demo_tokens, query):
    r = token_client(app, demo_tokens["admin"]).get(f"/api/v1/coverage/{query}")
    assert 400 <= r.status_code < 500, (query, r.status_code)
    error = r.get_json()["error"]
    assert error["code"] and error["message"]


def test_the_routes_are_in_the_openapi_document(app, client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for name in ("areas", "reach", "buildings"):
        assert "get" in paths[f"/api/v1/coverage/{name}"], name
