import re

import pytest

from tests.conftest import TEST_CONFIG, demo_password
from tests.web.browser import chromium_page, screenshot, served, sign_in


@pytest.fixture(scope="module")
def secure_app(demo_db, demo_registry):
    """The app with its production cookie settings (Secure cookies work on a loopback address)."""
    from web import create_app

    return create_app(
        {**TEST_CONFIG, "SESSION_COOKIE_SECURE": True, "DATABASE_URL": demo_db, "REGISTRY": demo_registry}
    )


SIZES = [(1440, 900), (390, 844)]


@pytest.mark.browser
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}px")
@pytest.mark.parametrize("role", ["admin", "staff"])
def test_the_coverage_map_draws_offline_with_secure_cookies_and_no_outside_requests(secure_app, role, size):
    """Signed in with production cookies, the coverage page draws its map from the app's JSON and tiles only.

    The page used to be a folium map with every geometry inlined (2.12 MB for the admin); now the choropleth comes
    from the vector tiles and ``/api/v1/coverage/areas``, the reach is one outline, the uncovered buildings of the
    view are points, and nothing is requested from another host.
    """
    width, height = size
    target = "/coverage?kind=clinic&reach=300"
    with served(secure_app) as url, chromium_page(url) as (page, log):
        page.set_viewport_size({"width": width, "height": height})
        sign_in(page, url, role, demo_password(role), target=target)
        page.wait_for_selector("#coverage-map .leaflet-tile-container path")
        page.wait_for_selector("path.reach-outline")
        page.wait_for_function("document.getElementById('map-status').textContent.length > 0")
        page.wait_for_load_state("networkidle")
        drawn = page.locator("#coverage-map .leaflet-tile-container path").count()
        outline = page.locator("path.reach-outline").count()
        legend = page.inner_text("#legend")
        status = page.inner_text("#map-status")
        wide = page.evaluate("document.documentElement.scrollWidth")
        scale = page.inner_text(".leaflet-control-scale")
        points = page.evaluate(
            "(() => { let n = 0; window.coverageMap.eachLayer(l => { if (l instanceof L.CircleMarker) n++; });"
            " return n; })()"
        )
        screenshot(page, f"coverage-{role}-{width}")
    assert log["blocked"] == []
    assert log["console_errors"] == [] and log["page_errors"] == [], (log["console_errors"], log["page_errors"])
    requests = [r.split("?")[0] for r in log["requests"]]
    assert any("/vendor/leaflet/" in r and r.endswith("/leaflet.js") for r in requests)
    assert any(r.endswith(".mvt") for r in requests) and any(r.endswith("/api/v1/coverage/areas") for r in requests)
    assert not any("srcdoc" in r for r in requests)
    assert drawn >= 20 and outline == 1  # areas of the choropleth, and ONE reach outline
    assert "户数覆盖率" in legend and "0%" in legend and "100%" in legend
    assert re.search(r"\d+", status) and points > 0  # uncovered buildings counted, drawn (with service points)
    assert "m" in scale and "ft" not in scale and "mi" not in scale  # metric only
    assert wide <= width, f"{wide} px wide in a {width} px window"
