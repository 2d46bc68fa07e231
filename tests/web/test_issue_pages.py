"""The staff queue and the issue detail page in headless Chromium: signed in, offline, steps through the form.

The demo users read the pages in English here (one language per page), whatever the Chinese catalog holds.
"""

from __future__ import annotations

import pytest
import shapely

from accounts.tokens import create_token
from accounts.users import find_user, set_locale
from boundaries.registry import Registry
from boundaries.storage import open_store
from tests.conftest import TEST_CONFIG, copy_demo, demo_password, token_client
from tests.web.browser import chromium_page, screenshot, served, sign_in


@pytest.fixture(scope="module")
def with_issue(demo_db, demo_tokens, tmp_path_factory):
    from web import create_app

    url = copy_demo(demo_db, tmp_path_factory.mktemp("pages"))
    registry = Registry(open_store(url))
    app = create_app({**TEST_CONFIG, "DATABASE_URL": url, "REGISTRY": registry})
    wechat = token_client(app, create_token(registry, find_user(registry, "wechat").id, "t", 1)[0])
    for name in ("admin", "staff", "worker"):
        set_locale(registry, find_user(registry, name).id, "en")
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
        row = page.locator("#queue tbody tr", has_text="Gas safety hazard")
        # the micro-grid by its name, its code on hover
        where = row.locator('td[data-col="where"]')
        assert row.count() == 1 and where.get_attribute("title") == leaf
        assert where.inner_text().strip().endswith("微网格")
        row.locator("a").click()
        page.wait_for_load_state("networkidle")
        frame = next(f for f in page.frames if f != page.main_frame)
        frame.wait_for_selector("path.leaflet-interactive")
        assert frame.locator("path.leaflet-interactive").count() >= 2  # the micro-grid and the point
        for step in ("accept", "file", "dispatch"):
            page.click(f"button[value={step}]")
            page.wait_for_load_state("networkidle")
        assert page.inner_text("#state") == "Dispatched"
        history = page.inner_text("#history tbody")
        assert history.count(": on time") == 3 and "按时" not in history  # one language
        page.click("button[value=escalate]")  # no note: refused on the page, nothing changes
        page.wait_for_load_state("networkidle")
        assert "escalation needs a note" in page.inner_text("main")
        page.fill("textarea[name=note]", "需要社区协调")
        page.click("button[value=escalate]")
        page.wait_for_load_state("networkidle")
        assert "Micro-grid → Grid" in page.inner_text("#history")  # the escalation, by the levels' names
        page.fill("textarea[name=note]", "等待燃气公司")
        page.click("button[value=park]")
        page.wait_for_load_state("networkidle")
        assert page.inner_text("#state") == "Parked"
        offered = {b.get_attribute("value") for b in page.locator("button[name=action]").all()}
        assert offered == {"unpark"}  # what allowed_actions says: no escalation of a parked issue
    assert log["console_errors"] == [] and log["page_errors"] == [] and log["blocked"] == []


def _export_links(page) -> dict:
    return {
        fmt: page.get_attribute(f"#export-{fmt}", "href")
        for fmt in ("xlsx", "csv")
        if page.locator(f"#export-{fmt}").count()
    }


@pytest.mark.browser
def test_export_links_carry_only_set_filters_and_only_for_those_allowed(with_issue):
    from urllib.parse import parse_qs, urlparse

    app, issue_id, leaf = with_issue
    with served(app) as url, chromium_page(url) as (page, log):
        sign_in(page, url, "staff", demo_password("staff"), target="/issues")
        links = _export_links(page)
        assert set(links) == {"xlsx", "csv"}
        for fmt, href in links.items():
            assert parse_qs(urlparse(href).query, keep_blank_values=True) == {"format": [fmt]}
            answer = page.request.get(url + href if href.startswith("/") else href)
            assert answer.status == 200, answer.text()
        page.select_option("select[name=category]", "gas_hazard")
        page.check("input[name=unlocated]")
        page.click("#filters button[type=submit]")
        page.wait_for_load_state("networkidle")
        href = _export_links(page)["csv"]
        assert parse_qs(urlparse(href).query, keep_blank_values=True) == {
            "format": ["csv"],
            "category": ["gas_hazard"],
            "unlocated": ["true"],
        }
        answer = page.request.get(url + href)
        assert answer.status == 200 and answer.body().decode("utf-8-sig").count("\n") == 1  # headers only: located
        page.uncheck("input[name=unlocated]")
        page.click("#filters button[type=submit]")
        page.wait_for_load_state("networkidle")
        csv_text = page.request.get(url + _export_links(page)["csv"]).body().decode("utf-8-sig")
        assert str(issue_id) in csv_text and "闻到燃气味" in csv_text
    with served(app) as url, chromium_page(url) as (page, log):
        sign_in(page, url, "worker", demo_password("worker"), target="/issues")
        assert page.locator("#queue").count() == 1 and _export_links(page) == {}
        assert "Export" not in page.inner_text("main")
    assert log["console_errors"] == [] and log["page_errors"] == []


@pytest.mark.browser
def test_issue_pages_fit_a_phone(with_issue):
    app, issue_id, _ = with_issue
    with served(app) as url, chromium_page(url) as (page, log):
        sign_in(page, url, "admin", demo_password("admin"), target="/issues")
        page.set_viewport_size({"width": 390, "height": 844})
        for name, target in (("issues", "/issues"), ("issue", f"/issues/{issue_id}"), ("audit", "/audit")):
            page.goto(url + target, wait_until="networkidle")
            screenshot(page, f"{name}-phone")
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"{target} is {width} px wide on a 390 px phone"
            header = page.locator("body > header").bounding_box()
            assert header["x"] == 0 and header["width"] == 390, (target, header)
        page.goto(url + "/issues", wait_until="networkidle")
        card = page.locator("#queue tbody tr", has_text="Gas safety hazard").first
        assert card.bounding_box()["width"] <= 390
        labels = card.locator("td").evaluate_all("tds => tds.map(td => getComputedStyle(td, '::before').content)")
        assert any("Category" in label for label in labels)  # a card, each line with its label
        page.set_viewport_size({"width": 1280, "height": 800})
        for name, target in (("issue", f"/issues/{issue_id}"), ("audit", "/audit"), ("issues", "/issues")):
            page.goto(url + target, wait_until="networkidle")
            screenshot(page, f"{name}-desktop")
        assert page.locator("#queue thead").is_visible()  # a table again on a desk
    assert log["console_errors"] == [] and log["page_errors"] == []


@pytest.mark.browser
def test_enter_in_the_assign_box_assigns_and_takes_no_workflow_step(with_issue):
    app, _, leaf = with_issue
    registry = app.extensions["weige.registry"]
    wechat = token_client(app, create_token(registry, find_user(registry, "wechat").id, "t", 1)[0])
    p = shapely.point_on_surface(registry.areas(codes=[leaf]).iloc[0].geometry)
    made = wechat.post("/api/v1/issues", json={"category": "dispute", "lon": p.x, "lat": p.y, "description": "吵"})
    issue_id = made.get_json()["id"]
    grid = leaf[:15]  # the micro-grid's grid: a real assignment up one level
    with served(app) as url, chromium_page(url) as (page, log):
        sign_in(page, url, "staff", demo_password("staff"), target=f"/issues/{issue_id}")
        assert page.inner_text("#state") == "Reported"
        page.fill("input[name=area]", grid)
        page.press("input[name=area]", "Enter")  # a browser submits the input's own form with its first button
        page.wait_for_load_state("networkidle")
        assert page.inner_text("#state") == "Reported"  # not accepted: no workflow step was taken
        steps = [row.locator("td").nth(2).get_attribute("title") for row in page.locator("#history tbody tr").all()]
        assert steps == ["report", "assign"]
        assert "Grid" in page.inner_text("#history") and page.locator("button[value=accept]").count() == 1
        page.fill("textarea[name=note]", "先核实")  # Enter in the note is a new line, nothing is sent
        page.press("textarea[name=note]", "Enter")
        assert page.inner_text("#state") == "Reported"
        screenshot(page, "issue-assign-enter")
    assert log["console_errors"] == [] and log["page_errors"] == [] and log["blocked"] == []
