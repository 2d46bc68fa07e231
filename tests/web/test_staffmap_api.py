"""The staff map's search, panel and label endpoints, its generation parameter and the base-map settings."""

from __future__ import annotations

import pyproj
import pytest
import shapely

from accounts.users import find_user
from boundaries.map_search import MAX_LABELS
from boundaries.scope import ScopedRegistry
from geo.crs import wgs84_to_gcj02
from issues.queries import issue_stats
from tests.conftest import private_app, token_client
from web.settings import SettingsError, check_settings

LEAF = "510104001001001001"


def _leaf_point(registry):
    point = registry.area(LEAF).geometry.representative_point()
    return point.x, point.y


def test_search_finds_areas_by_code_and_name_and_buildings_by_address(client, demo_registry):
    by_code = client.get(f"/api/v1/map/search?q={LEAF}").get_json()["results"]
    assert by_code[0]["code"] == LEAF and by_code[0]["kind"] == "area"
    name = demo_registry.area(LEAF)["name"]
    by_name = client.get(f"/api/v1/map/search?q={name}").get_json()["results"]
    assert by_name[0]["code"] == LEAF
    building = demo_registry.store.buildings(geometry=False)[5]
    found = client.get("/api/v1/map/search", query_string={"q": building["address"]}).get_json()["results"]
    assert any(r["kind"] == "building" and r["id"] == building["id"] for r in found)
    assert client.get("/api/v1/map/search?q=no-such-place-xyz").get_json()["results"] == []


@pytest.mark.parametrize("crs", ["wgs84", "EPSG:4490", "gcj02", "EPSG:4544"])
def test_search_by_coordinates_in_a_crs_answers_the_wgs84_point_and_its_area(client, demo_registry, crs):
    lon, lat = _leaf_point(demo_registry)
    if crs == "gcj02":
        x, y = (float(v) for v in wgs84_to_gcj02(lon, lat))
    elif crs == "EPSG:4544":
        x, y = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:4544", always_xy=True).transform(lon, lat)
    else:
        x, y = lon, lat
    answer = client.get("/api/v1/map/search", query_string={"q": f"{x:.9f},{y:.9f}", "crs": crs}).get_json()
    place = answer["results"][0]
    assert place["kind"] == "place" and place["code"] == LEAF
    assert abs(place["lon"] - lon) < 1e-7 and abs(place["lat"] - lat) < 1e-7


def test_search_says_why_what_was_typed_cannot_be_searched(client):
    """A search box answers every query (an outside test saw each failed search log a 400 in the console)."""
    for query, words in [
        ("q=30.65,104.06", "颠倒"),  # latitude first
        ("q=", "enter something"),
        ("q=104.06,30.65&crs=nonsense", "nonsense"),
        ("q=104.06,30.65&crs=EPSG:4544", "EPSG:4544"),  # degrees as metres
        ("q=200,30", "out of range"),
    ]:
        answer = client.get(f"/api/v1/map/search?{query}")
        assert answer.status_code == 200 and answer.get_json()["results"] == [], query
        assert words in answer.get_json()["problem"], (query, answer.get_json()["problem"])
    assert client.get("/api/v1/map/search?q=x&generation=abc").status_code == 400  # a bad parameter is still one


def test_the_panel_gives_chain_counts_workers_and_issue_figures(app, client, demo_registry, demo_tokens):
    panel = client.get(f"/api/v1/map/panel?code={LEAF}").get_json()
    area = client.get(f"/api/v1/areas/{LEAF}").get_json()["properties"]
    assert [c["code"] for c in panel["chain"]] == [c["code"] for c in area["chain"][1:][::-1]]
    assert (panel["buildings"], panel["households"]) == (area["buildings"], area["households"])
    assert panel["workers"] == area["workers"]
    grid = LEAF[:12]  # the community
    admin = find_user(demo_registry, "admin")
    stats = issue_stats(ScopedRegistry(demo_registry, admin.scope()), area=grid)
    figures = client.get(f"/api/v1/map/panel?code={grid}").get_json()["issues"]
    assert figures["open"] == sum(stats["open_by_state"].values()) and figures["overdue"] == stats["overdue"]
    assert figures["total"] == stats["total"]
    assert figures["issues_url"] == f"/issues?area={grid}" and figures["stats_url"] == f"/stats?area={grid}"
    planner = token_client(app, demo_tokens["planner"]).get(f"/api/v1/map/panel?code={LEAF}").get_json()
    staff = token_client(app, demo_tokens["staff"]).get(f"/api/v1/map/panel?code={LEAF}").get_json()
    assert planner["workers"][0]["phone"] != staff["workers"][0]["phone"] and "*" in planner["workers"][0]["phone"]
    assert planner["issues"]["issues_url"] is None and planner["issues"]["stats_url"]


def test_the_panel_of_a_clicked_point_is_its_area_of_the_level(client, demo_registry):
    lon, lat = _leaf_point(demo_registry)
    panel = client.get(f"/api/v1/map/panel?lon={lon}&lat={lat}&level=micro_grid").get_json()
    assert panel["code"] == LEAF and panel["at"] == {"lon": lon, "lat": lat}
    assert client.get(f"/api/v1/map/panel?lon={lon}&lat={lat}&level=grid").get_json()["code"] == LEAF[:15]
    assert client.get("/api/v1/map/panel?lon=0&lat=0&level=grid").get_json()["code"] is None
    assert client.get("/api/v1/map/panel?lon=x&lat=1").status_code == 400


def test_a_worker_gets_no_panel_outside_their_areas(app, demo_tokens):
    worker = token_client(app, demo_tokens["grid_worker"])
    assert worker.get("/api/v1/map/panel?code=510104001002001").status_code == 403


def test_labels_lie_inside_their_areas_and_only_the_callers(app, client, demo_registry, demo_tokens):
    bbox = ",".join(str(v) for v in demo_registry.areas(level="street").total_bounds)
    labels = client.get(f"/api/v1/map/labels?level=micro_grid&bbox={bbox}").get_json()["labels"]
    areas = demo_registry.areas(level="micro_grid").set_index("code")
    answer = client.get(f"/api/v1/map/labels?level=micro_grid&bbox={bbox}").get_json()
    assert len(labels) == min(len(areas), MAX_LABELS) and answer["truncated"] == (len(areas) > MAX_LABELS)
    for label in labels:
        assert areas.loc[label["code"]].geometry.contains(shapely.Point(label["lon"], label["lat"]))
        assert label["name"] == areas.loc[label["code"], "name"]
    mine = token_client(app, demo_tokens["grid_worker"]).get(f"/api/v1/map/labels?level=micro_grid&bbox={bbox}")
    codes = {label["code"] for label in mine.get_json()["labels"]}
    assert codes and all(c.startswith("510104001001001") for c in codes)
    assert client.get(f"/api/v1/map/labels?level=nope&bbox={bbox}").status_code == 404
    assert client.get("/api/v1/map/labels?level=grid").status_code == 400


def test_the_map_shows_a_published_generation_and_a_404_page_for_any_other(client):
    assert client.get("/map?generation=1").status_code == 200
    for bad in ("999", "abc", "0"):
        answer = client.get(f"/map?generation={bad}")
        assert answer.status_code == 404 and bad in answer.get_json()["error"]["message"]


def test_basemap_settings_are_checked():
    check_settings({"BASEMAPS": ["none", "amap"], "BASEMAP_DEFAULT": "amap"})
    check_settings({"BASEMAPS": ["tianditu_vec"], "BASEMAP_DEFAULT": "tianditu_vec", "TIANDITU_KEY": "k"})
    bad = [
        {"BASEMAPS": ["google"]},
        {"BASEMAPS": ["none"], "BASEMAP_DEFAULT": "amap"},
        {"BASEMAPS": ["tianditu_img"], "BASEMAP_DEFAULT": "tianditu_img"},  # no key
        {"BASEMAP_URLS": {"amap": "ftp://x/{z}/{x}/{y}"}},
        {"BASEMAP_URLS": {"amap": "https://x/tiles.png"}},
        {"BASEMAPS": "amap"},
    ]
    for values in bad:
        with pytest.raises(SettingsError):
            check_settings(values)


def test_an_offered_base_map_is_allowed_by_the_page_policy_and_an_intranet_url_replaces_it(demo_db, tmp_path):
    app, _, client = private_app(
        demo_db,
        tmp_path,
        BASEMAPS=["none", "amap", "tianditu_vec"],
        TIANDITU_KEY="secret-tk",
        BASEMAP_URLS={"tianditu_vec": "https://tiles.intranet.example/tdt/{z}/{x}/{y}.png"},
    )
    page = client("staff").get("/map")
    policy = page.headers["Content-Security-Policy"]
    img = next(p for p in policy.split("; ") if p.startswith("img-src"))
    assert "https://*.is.autonavi.com" in img and "https://tiles.intranet.example" in img
    assert "tianditu.gov.cn" not in img
    html = page.get_data(as_text=True)
    assert "tiles.intranet.example/tdt" in html and "webrd0{s}.is.autonavi.com" in html
