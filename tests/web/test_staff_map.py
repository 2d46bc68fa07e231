"""The staff map in headless Chromium: layers from the tile and layer API, search, side panel, phone and desk."""

from __future__ import annotations

import pytest

from tests.conftest import demo_password
from tests.web.browser import chromium_page, screenshot, served, sign_in

LEAF = "510104001001001001"


@pytest.mark.browser
@pytest.mark.parametrize(("role", "size"), [("staff", (1440, 900)), ("grid_worker", (390, 844)), ("admin", (390, 844))])
def test_staff_map_draws_tiles_offline_and_finds_an_area(app, role, size):
    name = {"grid_worker": "worker"}.get(role, role)
    with served(app) as url, chromium_page(url) as (page, log):
        page.set_viewport_size({"width": size[0], "height": size[1]})
        sign_in(page, url, name, demo_password(name), target="/map")
        served_html = page.request.get(url + "/map").body()
        assert len(served_html) < 100_000  # the page does not carry the data
        page.wait_for_selector(".leaflet-tile-loaded", state="attached", timeout=15_000)
        page.wait_for_load_state("networkidle")
        tiles = [u for u in log["requests"] if "/tiles/" in u and u.endswith(".mvt") or "/tiles/" in u and ".mvt?" in u]
        assert tiles, log["requests"][:20]
        assert page.locator("#tree input[name=layer]").count() >= 5
        assert page.locator(".leaflet-control-scale").count() == 1
        page.fill("#search input[name=q]", LEAF)
        page.click("#search button")
        page.wait_for_selector("#panel h3", timeout=10_000)
        panel = page.inner_text("#panel")
        strings = page.evaluate("JSON.parse(document.getElementById('page-strings').textContent)")
        assert strings["levels_names"]["micro_grid"] in panel and LEAF in panel and "桂花社区" in panel  # the chain
        page.wait_for_load_state("networkidle")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= size[0], f"{width} px wide in a {size[0]} px window"
        screenshot(page, f"staffmap-{role}-{size[0]}")
        page.fill("#search input[name=q]", "30.65,104.06")
        page.click("#search button")
        assert page.inner_text("#search-status") == strings["swapped"]
    assert log["blocked"] == [] and log["console_errors"] == [] and log["page_errors"] == []
