"""The staff queue and the issue detail page in headless Chromium: signed in, offline, steps through the form."""

from __future__ import annotations

import pytest
import shapely

from accounts.tokens import create_token
from accounts.users import find_user
from boundaries.registry import Registry
from boundaries.storage import open_store
from tests.conftest import TEST_CONFIG, copy_demo, demo_password, token_client
from tests.web.browser import chromium_page, served, sign_in


@pytest.fixture(scope="module")
def with_issue(demo_db, demo_tokens, tmp_path_factory):
    from web import create_app

    url = copy_demo(demo_db, tmp_path_factory.mktemp("pages"))
    registry = Registry(open_store(url))
    app = create_app({**TEST_CONFIG, "DATABASE_URL": url, "REGISTRY": registry})
    wechat = token_client(app, create_token(registry, find_user(registry, "wechat").id, "t", 1)[0])
    leaf = registry.areas(parent_code="510104001001001").iloc[0]
    p = shapely.point_on_surface(leaf.geometry)
    issue = wechat.post(
        "/api/v1/issues", json={"category": "gas_hazard", "lon": p.x, "lat": p.y, "description": "闻到燃气味"}
    )
    assert issue.status_code == 201
    return app, issue.get_json()["id"], leaf["code"]


@pytest.mark.browser
def test_staff_works_an_issue_through_the_pages(with_issue):
    app, issue_id, leaf = with_issue
    with served(app) as url, chromium_page(url) as (page, log):
        sign_in(page, url, "staff", demo_password("staff"), target="/issues")
        assert "/issues" in page.url
        row = page.locator("#queue tbody tr", has_text="燃气安全隐患")
        assert row.count() == 1 and leaf in row.inner_text()
        row.locator("a").click()
        page.wait_for_load_state("networkidle")
        frame = next(f for f in page.frames if f != page.main_frame)
        frame.wait_for_selector("path.leaflet-interactive")
        assert frame.locator("path.leaflet-interactive").count() >= 2  # the micro-grid and the point
        for step in ("accept", "file", "dispatch"):
            page.click(f"button[value={step}]")
            page.wait_for_load_state("networkidle")
        assert page.inner_text("#state") == "派遣"
        history = page.inner_text("#history")
        assert history.count("按时 on time") == 3
        page.click("button[value=escalate]")  # no note: refused on the page, nothing changes
        page.wait_for_load_state("networkidle")
        assert "escalation needs a note" in page.inner_text("main")
        page.fill("textarea[name=note]", "需要社区协调")
        page.click("button[value=escalate]")
        page.wait_for_load_state("networkidle")
        assert "micro_grid → grid" in page.inner_text("#history")
        page.fill("textarea[name=note]", "等待燃气公司")
        page.click("button[value=park]")
        page.wait_for_load_state("networkidle")
        assert page.inner_text("#state") == "挂账"
        offered = {b.get_attribute("value") for b in page.locator("button[name=action]").all()}
        assert offered == {"unpark"}  # what allowed_actions says: no escalation of a parked issue
    assert log["console_errors"] == [] and log["page_errors"] == [] and log["blocked"] == []
