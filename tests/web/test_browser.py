from pathlib import Path

import pytest

from tests.web.browser import chromium_page, served

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


@pytest.mark.browser
def test_home_map_draws_offline_with_no_outside_requests(app):
    with served(app) as url, chromium_page(url) as (page, log):
        page.goto(url + "/", wait_until="networkidle")
        frame = page.frame_locator("#map-frame")
        frame.locator("path.leaflet-interactive").first.wait_for(timeout=15000)
        drawn = frame.locator("path.leaflet-interactive").count()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "home.png"))
    assert log["blocked"] == []
    assert log["console_errors"] == [] and log["page_errors"] == []
    assert any("/vendor/leaflet/leaflet.js" in r for r in log["requests"])
    assert drawn >= 643 + 120 + 3  # micro-grids, grids and communities
