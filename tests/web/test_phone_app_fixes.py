"""The phone app's defects from the outside test of issue 12, in Chromium at 390×844 (mark ``browser``).

A patrol started online delivers its positions and its end; a GPX file uploaded twice is one patrol; a patrol
keeps recording on every app page; a phone shared by two workers never sends one's items under the other.
"""

from __future__ import annotations

import pytest

from accounts.users import find_user
from tests.conftest import demo_password
from tests.web.browser import served, sign_in
from tests.web.test_phone_app import (
    WORKER_GRID,
    _chinese_app,
    _patrols_api,
    _viewport_shot,
    _wait_controlled,
    phone_page,
    worker_point,
)

pytestmark = pytest.mark.browser


def _walk(context, page, lon: float, lat: float, start: int, count: int) -> None:
    """Move the emulated position ``count`` times about 0.5 m east, each fix seen by the page."""
    for i in range(start, start + count):
        page.wait_for_timeout(60)
        context.set_geolocation({"longitude": lon + i * 0.000005, "latitude": lat, "accuracy": 6})
        page.wait_for_function(f"() => document.getElementById('p-fixes').textContent === '{i + 1}'", timeout=10000)


def test_a_patrol_started_online_delivers_all_positions_and_its_end_and_shows_the_summary(
    demo_db, tmp_path, monkeypatch
):
    app, registry, client = _chinese_app(demo_db, tmp_path, monkeypatch)
    if not _patrols_api(app):
        pytest.skip("the patrol API is not in this tree")
    lon, lat = worker_point(registry)
    with served(app) as url, phone_page(url, lon, lat) as (context, page, log):
        sign_in(page, url, "worker", demo_password("worker"), "/app/patrol")
        page.click("#start")
        page.wait_for_function("() => document.getElementById('p-fixes').textContent === '1'", timeout=10000)
        _walk(context, page, lon, lat, 1, 59)
        page.click("#stop")
        page.wait_for_function("() => document.getElementById('badge').hidden", timeout=30000)
        page.wait_for_selector("#summary-facts dd:nth-of-type(2)", timeout=15000)
        stored = page.evaluate("WeigeApp.data.all('patrols')")
        assert len(stored) == 1 and stored[0]["server_id"] is not None
        _viewport_shot(page, "app-patrol-online-summary")
        assert log["page_errors"] == [] and log["blocked"] == []
    patrols = client("worker").get("/api/v1/patrols").get_json()["patrols"]
    assert len(patrols) == 1 and patrols[0]["ended_at"] is not None
    assert patrols[0]["summary"]["fixes"] == 60


GPX = """<?xml version="1.0" encoding="UTF-8"?>
<gpx version="1.1" creator="test" xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>{points}</trkseg></trk></gpx>
"""


def test_a_gpx_file_uploaded_twice_from_the_app_is_one_patrol(demo_db, tmp_path, monkeypatch):
    app, registry, client = _chinese_app(demo_db, tmp_path, monkeypatch)
    if not _patrols_api(app):
        pytest.skip("the patrol API is not in this tree")
    lon, lat = worker_point(registry)
    points = "".join(
        f'<trkpt lat="{lat:.7f}" lon="{lon + i * 0.00002:.7f}"><time>2026-11-20T02:{i:02d}:00Z</time></trkpt>'
        for i in range(20)
    )
    body = GPX.format(points=points).encode()
    with served(app) as url, phone_page(url, lon, lat) as (context, page, log):
        sign_in(page, url, "worker", demo_password("worker"), "/app/patrol")
        for _ in range(2):
            page.set_input_files(
                "#gpx-file", files=[{"name": "t.gpx", "mimeType": "application/gpx+xml", "buffer": body}]
            )
            page.evaluate("document.getElementById('gpx-status').textContent = ''")
            page.click("#gpx button[type=submit]")
            page.wait_for_function(
                "() => /[0-9]/.test(document.getElementById('gpx-status').textContent)", timeout=15000
            )
            assert page.get_attribute("#gpx-status", "class") == "ok", page.inner_text("#gpx-status")
    patrols = client("worker").get("/api/v1/patrols").get_json()["patrols"]
    assert len(patrols) == 1


def test_a_patrol_keeps_recording_across_a_navigation_to_report_and_back(demo_db, tmp_path, monkeypatch):
    app, registry, client = _chinese_app(demo_db, tmp_path, monkeypatch)
    if not _patrols_api(app):
        pytest.skip("the patrol API is not in this tree")
    lon, lat = worker_point(registry)
    with served(app) as url, phone_page(url, lon, lat) as (context, page, log):
        sign_in(page, url, "worker", demo_password("worker"), "/app/patrol")
        page.click("#start")
        page.wait_for_function("() => document.getElementById('p-fixes').textContent === '1'", timeout=10000)
        _walk(context, page, lon, lat, 1, 4)
        page.click("nav.tabs a[href='/app/report']")
        page.wait_for_url("**/app/report")
        banner = page.locator("#patrol-banner")
        banner.wait_for(state="visible", timeout=10000)
        assert banner.inner_text() == "巡查进行中"
        for i in range(5, 10):  # recorded on the report page
            page.wait_for_timeout(60)
            context.set_geolocation({"longitude": lon + i * 0.000005, "latitude": lat, "accuracy": 6})
            page.wait_for_function(f"() => WeigeApp.patrolFixes() >= {i + 1}", timeout=10000)
        _viewport_shot(page, "app-report-patrol-running")
        page.click("#patrol-banner")
        page.wait_for_url("**/app/patrol")
        # each page's watch also gives the fix where the worker stands when it opens
        page.wait_for_function("() => +document.getElementById('p-fixes').textContent >= 10", timeout=10000)
        assert page.locator("#stop").is_visible()
        page.click("#stop")
        page.wait_for_selector("#summary-facts dd:nth-of-type(2)", timeout=30000)
        recorded = page.evaluate("WeigeApp.patrolFixes()")
        assert log["page_errors"] == []
    patrols = client("worker").get("/api/v1/patrols").get_json()["patrols"]
    assert len(patrols) == 1 and patrols[0]["summary"]["fixes"] == recorded >= 10


def _second_worker(registry) -> str:
    from accounts.users import create_user

    create_user(registry, "worker3", "grid_worker", (WORKER_GRID,), password=demo_password("worker3"))
    return "worker3"


def test_a_shared_phone_never_sends_one_workers_items_under_another(demo_db, tmp_path, monkeypatch):
    """worker signs in, caches the app, starts a patrol, signs out; worker3 signs in on the same phone, goes offline
    and reports: the report is worker3's, worker's patrol ended at sign-out and recorded nothing for worker3."""
    app, registry, client = _chinese_app(demo_db, tmp_path, monkeypatch)
    if not _patrols_api(app):
        pytest.skip("the patrol API is not in this tree")
    other = _second_worker(registry)
    lon, lat = worker_point(registry)
    text = "共用手机上报 shared phone report"
    with served(app) as url, phone_page(url, lon, lat) as (context, page, log):
        sign_in(page, url, "worker", demo_password("worker"), "/app/")
        _wait_controlled(page)
        for path in ("/app/report", "/app/patrol"):
            page.goto(url + path, wait_until="networkidle")
        page.click("#start")
        page.wait_for_function("() => document.getElementById('p-fixes').textContent === '1'", timeout=10000)
        page.goto(url + "/app/outbox", wait_until="networkidle")
        page.click("form[data-sign-out] button")
        page.wait_for_url("**/login**")

        sign_in(page, url, other, demo_password(other), "/app/")
        page.wait_for_load_state("networkidle")
        _wait_controlled(page)
        page.goto(url + "/app/report", wait_until="networkidle")
        assert page.locator("#patrol-banner").is_hidden()
        context.set_offline(True)
        page.goto(url + "/app/report", wait_until="domcontentloaded")
        page.select_option("#category", "damaged_facility")
        page.fill("#description", text)
        page.click("#gps")
        page.wait_for_function("() => document.getElementById('place').textContent.includes(',')")
        page.click("#report button[type=submit]")
        page.wait_for_function("() => document.getElementById('badge').textContent === '1'")
        context.set_offline(False)
        page.wait_for_function("() => document.getElementById('badge').hidden", timeout=30000)
        assert log["page_errors"] == [] and log["blocked"] == []
    admin = client("admin")
    found = [i for i in admin.get("/api/v1/issues?per_page=500").get_json()["issues"] if i["description"] == text]
    assert len(found) == 1
    issue = admin.get(f"/api/v1/issues/{found[0]['id']}").get_json()
    assert issue["created_by"] == find_user(registry, other).id != find_user(registry, "worker").id
    patrols = client("worker").get("/api/v1/patrols").get_json()["patrols"]
    assert len(patrols) == 1 and patrols[0]["ended_at"] is not None  # ended at sign-out, sent before it
