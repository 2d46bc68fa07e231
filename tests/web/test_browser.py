from pathlib import Path

import pytest

from tests.conftest import TEST_CONFIG, demo_password
from tests.web.browser import chromium_page, served, sign_in

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


@pytest.fixture(scope="module")
def secure_app(demo_db, demo_registry):
    """The app with its production cookie settings (Secure cookies work on a loopback address)."""
    from web import create_app

    return create_app(
        {**TEST_CONFIG, "SESSION_COOKIE_SECURE": True, "DATABASE_URL": demo_db, "REGISTRY": demo_registry}
    )


@pytest.mark.browser
def test_a_folium_map_draws_offline_with_secure_cookies_and_no_outside_requests(secure_app):
    """Signed in with production cookies, the coverage page's folium map loads Leaflet from the app only."""
    with served(secure_app) as url, chromium_page(url) as (page, log):
        sign_in(page, url, "admin", demo_password("admin"), target="/coverage?kind=grid_station")
        frame = page.frame_locator("#coverage-map")
        frame.locator("path.leaflet-interactive").first.wait_for(timeout=15000)
        drawn = frame.locator("path.leaflet-interactive").count()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "coverage-admin.png"))
    assert log["blocked"] == []
    assert log["console_errors"] == [] and log["page_errors"] == []
    assert any("/vendor/leaflet/" in r and r.endswith("/leaflet.js") for r in log["requests"])
    assert drawn >= 643  # at least one shape per micro-grid (choropleth) besides the buildings
