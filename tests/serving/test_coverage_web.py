"""Coverage over the API and on its map page, on the demo street: per-area figures, scope, reports."""

from __future__ import annotations

import io
import re

import numpy as np
import pandas as pd
import pytest

from boundaries import assets
from geo.crs import from_wgs84, metric_crs
from tests.conftest import demo_password, token_client
from tests.web.browser import chromium_page, screenshot, served, sign_in

COMMUNITY = "510104001001"


def test_area_figures_roll_up_and_match_brute_force(app, demo_tokens, demo_registry):
    staff = token_client(app, demo_tokens["staff"])
    body = staff.get(f"/api/v1/coverage?kind=grid_station&reach=300&area={COMMUNITY}").get_json()
    areas = pd.DataFrame(body["areas"]).set_index("code")
    assert areas.loc[COMMUNITY, "level"] == "community" and set(areas["level"]) == {"community", "grid", "micro_grid"}
    assert all(c.startswith(COMMUNITY) for c in areas.index)  # nothing outside the asked area
    grids = areas[areas["level"] == "grid"]
    assert grids["households"].sum() == areas.loc[COMMUNITY, "households"]
    assert grids["covered_households"].sum() == areas.loc[COMMUNITY, "covered_households"]
    counts = assets.household_counts(demo_registry)
    assert (grids["households"] == counts.loc[grids.index, "households"]).all()
    # brute force over the community's buildings and every grid station near them
    b = assets.buildings(demo_registry, area_code=COMMUNITY)
    s = assets.service_points(demo_registry, bbox=(103.9, 30.5, 104.3, 30.8), kind="grid_station")
    crs = metric_crs(104.08, 30.65)
    bx, by = from_wgs84(b["lon"].to_numpy(), b["lat"].to_numpy(), crs)
    sx, sy = from_wgs84(s["lon"].to_numpy(), s["lat"].to_numpy(), crs)
    covered = (np.hypot(bx[:, None] - sx, by[:, None] - sy) <= 300).any(axis=1)
    assert body["summary"]["households_covered"] == int(b["households"].to_numpy()[covered].sum())
    assert areas.loc[COMMUNITY, "covered_households"] == body["summary"]["households_covered"]
    assert body["summary"]["buildings_uncovered"] == int((~covered).sum())


def test_scope_roles_and_reports(app, demo_tokens):
    planner = token_client(app, demo_tokens["planner"])
    assert planner.get("/api/v1/coverage?kind=clinic&area=510104001002").status_code == 403
    own = planner.get("/api/v1/coverage?kind=clinic").get_json()
    assert {a["code"][:12] for a in own["areas"]} == {COMMUNITY}
    assert token_client(app, demo_tokens["grid_worker"]).get("/api/v1/coverage?kind=clinic").status_code == 403
    xlsx = planner.get(f"/api/v1/coverage?kind=clinic&area={COMMUNITY}&format=xlsx")
    sheets = pd.read_excel(io.BytesIO(xlsx.data), sheet_name=None)
    assert set(sheets) == {"区域", "服务点", "建筑"} and "覆盖率" in sheets["区域"].columns
    assert planner.get("/api/v1/coverage?kind=clinic&reach=-5").status_code == 422
    missing = planner.get("/api/v1/coverage?kind=clinic&network=true").get_json()
    assert "road" in missing["error"]["message"]  # the demo street has no roads loaded
    r = planner.post("/api/v1/coverage/suggest", json={"kind": "clinic", "area": COMMUNITY, "model": "mclp", "k": 2})
    assert r.status_code == 200 and len(r.get_json()["new_sites"]["features"]) == 2
    assert r.get_json()["households_added"] > 0
    drawn = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"name": "空地"},
                "geometry": {"type": "Point", "coordinates": [104.07, 30.65]},
            }
        ],
    }
    r = planner.post(
        "/api/v1/coverage/suggest", json={"kind": "clinic", "area": COMMUNITY, "k": 1, "candidates": drawn}
    )
    assert r.status_code == 200 and r.get_json()["new_sites"]["features"][0]["properties"]["candidate"] == "空地"
    bad = planner.post("/api/v1/coverage/suggest", json={"kind": "clinic", "candidates": {"type": "Point"}})
    assert bad.status_code == 400


@pytest.mark.browser
def test_coverage_page_draws_offline_with_a_legend(app):
    """Staff, one community, one suggested site: choropleth, outline, uncovered buildings and the site are drawn."""
    with served(app) as url, chromium_page(url) as (page, log):
        sign_in(page, url, "staff", demo_password("staff"), target=f"/coverage?kind=clinic&area={COMMUNITY}&suggest=1")
        assert "覆盖" in page.inner_text("#summary") and "建议新增 1 处" in page.inner_text("#suggestion")
        page.wait_for_selector("#coverage-map .leaflet-tile-container path")  # the choropleth (vector tiles)
        page.wait_for_selector("path.reach-outline")
        page.wait_for_selector(".site-icon")
        page.wait_for_function("document.getElementById('map-status').textContent.length > 0")
        assert page.locator(".leaflet-tile-container path").count() > 20
        assert page.locator("path.reach-outline").count() == 1
        assert "户数覆盖率" in page.inner_text("#legend")
        assert re.search(r"\d+", page.inner_text("#map-status"))  # how many uncovered buildings are in view
        screenshot(page, "coverage-staff-suggest")
    assert log["console_errors"] == [] and log["page_errors"] == [] and log["blocked"] == []


def _error_text(page) -> str:
    found = re.search(r'<p class="error" role="alert">(.*?)</p>', page.get_data(as_text=True), re.S)
    assert found, page.get_data(as_text=True)[:2000]
    return found.group(1)


def _readable(text: str) -> None:
    assert not re.search(r"[{}\[\]]|&#39;|'\w+':", text), text  # no Python dict or list shown
    assert re.search(r"[\u4e00-\u9fff]", text) and not re.search(r"[A-Za-z]{3}", text), text  # the page's zh-CN only


def test_coverage_page_does_not_offer_along_roads_without_roads(app, demo_tokens):
    """Outside test (lesser): the page offered "along roads" with no roads loaded; ticking it named --network."""
    staff = token_client(app, demo_tokens["staff"])
    page = staff.get(f"/coverage?kind=clinic&area={COMMUNITY}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    box = html[html.index('name="network"') - 40 : html.index('name="network"') + 200]
    assert "disabled" in box and "未导入道路" in html and "no roads" not in html  # one language per page
    ticked = staff.get(f"/coverage?kind=clinic&area={COMMUNITY}&network=true")
    assert ticked.status_code == 400
    text = _error_text(ticked)
    _readable(text)
    assert "--network" not in text and "沿路网" in text


@pytest.mark.parametrize("query", ["reach=abc", "reach=-5", "reach=1e9", "network=maybe", "suggest=abc", "suggest=0"])
def test_coverage_page_errors_are_readable_text_in_the_page_language(app, demo_tokens, query):
    staff = token_client(app, demo_tokens["staff"])
    page = staff.get(f"/coverage?kind=clinic&area={COMMUNITY}&{query}")
    assert page.status_code == 400
    _readable(_error_text(page))


def test_coverage_page_report_links_work(app, demo_tokens):
    staff = token_client(app, demo_tokens["staff"])
    html = staff.get(f"/coverage?kind=clinic&area={COMMUNITY}&suggest=1").get_data(as_text=True)
    links = re.findall(r'href="(/api/v1/coverage\?[^"]+)"', html)
    assert len(links) == 2 and all("suggest" not in link for link in links)
    for link in links:
        assert staff.get(link.replace("&amp;", "&")).status_code == 200
