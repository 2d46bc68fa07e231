"""The staff map in headless Chromium: every role at desk and phone size, GCJ-02 in JS equal to geo/crs.py, and
AMap as the base map drawing WGS84 data where AMap shows it and sending clicks back in WGS84."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest

from geo.crs import gcj02_to_wgs84, wgs84_to_gcj02
from tests.conftest import demo_password, private_app
from tests.web.browser import chromium_page, screenshot, served

AMAP = re.compile(r"^https://webrd0\d\.is\.autonavi\.com/")


def _metres(lon1, lat1, lon2, lat2) -> np.ndarray:
    """Distance on a sphere, good to a fraction of a millimetre at these distances."""
    lat = np.radians((np.asarray(lat1) + np.asarray(lat2)) / 2)
    dx = np.radians(np.asarray(lon2) - np.asarray(lon1)) * np.cos(lat) * 6371008.8
    dy = np.radians(np.asarray(lat2) - np.asarray(lat1)) * 6371008.8
    return np.hypot(dx, dy)


def sign_in(page, base_url: str, name: str, password: str, target: str = "/map") -> None:
    """Sign in through the form on the sign-in page (the one with the password field) and come back."""
    page.goto(base_url + target, wait_until="domcontentloaded")
    assert "/login" in page.url, page.url
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", password)
    page.click("form:has(input[name=password]) button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "/login" not in page.url, f"sign-in failed: still on {page.url}"


def _open_map(page, url, name, size):
    page.set_viewport_size({"width": size[0], "height": size[1]})
    sign_in(page, url, name, demo_password(name), target="/map")
    page.wait_for_selector(".leaflet-tile-loaded", state="attached", timeout=15_000)
    page.wait_for_selector(".area-label", timeout=10_000)
    page.wait_for_load_state("networkidle")


@pytest.mark.browser
@pytest.mark.parametrize("size", [(1440, 900), (390, 844)])
@pytest.mark.parametrize("name", ["admin", "planner", "staff", "worker"])
def test_every_role_sees_layers_names_legend_and_tree(app, name, size):
    with served(app) as url, chromium_page(url) as (page, log):
        _open_map(page, url, name, size)
        labels = page.locator(".area-label")
        assert labels.count() > 0 and labels.first.is_visible() and labels.first.inner_text().strip()
        tiles = {urlparse(u).path.split("/")[2] for u in log["requests"] if "/tiles/" in u}
        assert {"street", "community"} & tiles, tiles
        assert page.locator(".leaflet-control-scale").count() == 1
        assert page.locator("#tree input[name=layer]").count() >= 5 and page.locator("#basemaps input").count() == 1
        assert page.locator("#kind-legend [data-kind]").count() >= 4 and page.locator(".legend").is_visible()
        page.locator(".leaflet-container").click(position={"x": size[0] // 4, "y": 200})
        page.wait_for_load_state("networkidle")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= size[0], f"{width} px wide in a {size[0]} px window"
        screenshot(page, f"staffmap-{name}-{size[0]}")
    assert log["blocked"] == [] and log["console_errors"] == [] and log["page_errors"] == []


@pytest.mark.browser
def test_gcj02_in_javascript_equals_geo_crs(app):
    rng = np.random.default_rng(7)
    lon = np.concatenate([rng.uniform(73.5, 135.0, 400), rng.uniform(103.9, 104.2, 100)])
    lat = np.concatenate([rng.uniform(18.0, 53.5, 400), rng.uniform(30.5, 30.8, 100)])
    with served(app) as url, chromium_page(url) as (page, log):
        sign_in(page, url, "staff", demo_password("staff"), target="/map")
        page.wait_for_function("window.Gcj02 !== undefined")
        js = page.evaluate(
            "([lon, lat]) => lon.map((x, i) => [Gcj02.toGcj(x, lat[i]), Gcj02.toWgs(x, lat[i])])",
            [lon.tolist(), lat.tolist()],
        )
    to_gcj = np.array([p[0] for p in js])
    to_wgs = np.array([p[1] for p in js])
    glon, glat = wgs84_to_gcj02(lon, lat)
    wlon, wlat = gcj02_to_wgs84(lon, lat)
    assert _metres(to_gcj[:, 0], to_gcj[:, 1], glon, glat).max() < 0.5
    assert _metres(to_wgs[:, 0], to_wgs[:, 1], wlon, wlat).max() < 0.5
    assert _metres(lon, lat, glon, glat).min() > 50  # the shift is real everywhere in China
    assert log["console_errors"] == [] and log["page_errors"] == []


@pytest.mark.browser
def test_on_amap_a_wgs84_point_is_drawn_at_its_gcj02_place_and_a_click_there_reaches_the_server_in_wgs84(
    demo_db, tmp_path
):
    app, registry, _ = private_app(demo_db, tmp_path, BASEMAPS=["none", "amap"], BASEMAP_DEFAULT="amap")
    micro = registry.areas(level="micro_grid")
    point = micro.geometry.iloc[3].representative_point()
    lon, lat = point.x, point.y
    glon, glat = (float(v) for v in wgs84_to_gcj02(lon, lat))
    with served(app) as url, chromium_page(url) as (page, log):
        _open_map(page, url, "admin", (1440, 900))
        assert any(AMAP.match(u) for u in log["blocked"])  # AMap's tiles were asked for (and blocked offline)
        assert all(AMAP.match(u) for u in log["blocked"])
        tile_urls = [u for u in log["requests"] if "/tiles/" in u]
        assert tile_urls and all("crs=gcj02" in u for u in tile_urls)
        page.fill("#search input[name=q]", f"{lon:.9f},{lat:.9f}")
        page.click("#search button")
        page.wait_for_selector("img.leaflet-marker-icon", timeout=10_000)
        page.wait_for_timeout(600)  # the search's own zoom animation has ended
        page.evaluate(f"void staffMap.setView([{lat}, {lon}], 20, {{animate: false}})")
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(500)  # zoom animations of the search have ended
        where = page.evaluate(
            """([glat, glon, lat, lon]) => {
                const m = staffMap, box = m.getContainer().getBoundingClientRect();
                const icon = document.querySelector('img.leaflet-marker-icon').getBoundingClientRect();
                const px = (ll) => m.layerPointToContainerPoint(
                    L.CRS.EPSG3857.latLngToPoint(L.latLng(ll[0], ll[1]), m.getZoom()).subtract(m.getPixelOrigin()));
                return {marker: [icon.left - box.left + 12, icon.top - box.top + 41],
                        gcj: px([glat, glon]), wgs: px([lat, lon]), box: [box.left, box.top]};
            }""",
            [glat, glon, lat, lon],
        )
        marker, gcj, wgs = where["marker"], where["gcj"], where["wgs"]
        assert abs(marker[0] - gcj["x"]) <= 1 and abs(marker[1] - gcj["y"]) <= 1, (marker, gcj)
        assert page.evaluate("staffMap.getZoom()") == 20, page.evaluate("staffMap.getZoom()")
        assert np.hypot(wgs["x"] - gcj["x"], wgs["y"] - gcj["y"]) > 1000  # unshifted it would be far away
        with page.expect_request(lambda r: "/api/v1/map/panel?" in r.url) as sent:
            page.mouse.click(where["box"][0] + gcj["x"], where["box"][1] + gcj["y"])
        asked = parse_qs(urlparse(sent.value.url).query)
        got_lon, got_lat = float(asked["lon"][0]), float(asked["lat"][0])
        assert _metres(got_lon, got_lat, lon, lat) < 0.5, (got_lon, got_lat, lon, lat)
        page.wait_for_selector("#panel h3", timeout=10_000)
        assert micro["name"].iloc[3] in page.inner_text("#panel")
        screenshot(page, "staffmap-amap-1440")
    assert log["page_errors"] == []
    # the only console lines are Chromium's own note of each blocked AMap tile; no script error
    assert all(m.startswith("Failed to load resource") for m in log["console_errors"])
    assert len(log["console_errors"]) <= len(log["blocked"])
