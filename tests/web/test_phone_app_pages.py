"""The phone app's shells (no browser): what they may embed, what each role is offered, names in the page language."""

from __future__ import annotations

import json
import re

import pytest

from accounts.users import find_user, set_locale
from tests.conftest import private_app


@pytest.fixture(scope="module")
def phone(demo_db, tmp_path_factory):
    """``(app, registry, client)`` over a private copy of the demo street."""
    return private_app(demo_db, tmp_path_factory.mktemp("phone_pages"))


def _config(html: str) -> dict:
    raw = re.search(r'<body data-config="([^"]*)"', html).group(1)
    return json.loads(raw.replace("&#34;", '"').replace("&quot;", '"').replace("&amp;", "&"))


def _strings(html: str) -> dict:
    return json.loads(re.search(r'<script type="application/json" id="page-strings">(.*?)</script>', html).group(1))


@pytest.mark.parametrize("page", ["/app/", "/app/outbox", "/app/report", "/app/patrol"])
def test_shells_name_nobody_the_session_does(phone, page):
    """Shells are cached on the phone for whoever signs in next: the worker comes from /app/session."""
    _, _, client = phone
    html = client("worker").get(page).get_data(as_text=True)
    assert "user" not in _config(html)
    assert "桂花社区第一网格网格员" not in html and '"worker"' not in html
    session = client("worker").get("/app/session").get_json()
    assert session["user"] == "worker" and session["display_name"] == "桂花社区第一网格网格员"
    assert session["role_name"] == "网格员"


def test_staff_are_not_offered_what_only_patrolling_workers_may_do(phone):
    _, _, client = phone
    staff, worker = client("staff"), client("worker")
    assert "patrols:record" not in _config(staff.get("/app/").get_data(as_text=True))["permissions"]
    assert "patrols:record" in _config(worker.get("/app/").get_data(as_text=True))["permissions"]
    for path, marks in {"/app/building": ['id="checkin"'], "/app/patrol": ['id="start"', 'id="gpx"']}.items():
        for mark in marks:
            assert mark not in staff.get(path).get_data(as_text=True), (path, mark)
            assert mark in worker.get(path).get_data(as_text=True), (path, mark)
    assert '<a href="/app/patrol"' not in staff.get("/app/work").get_data(as_text=True)


def test_english_pages_give_the_scripts_english_names_of_states_categories_and_uses(phone, app):
    _, registry, client = phone
    user = find_user(registry, "worker")
    set_locale(registry, user.id, "en")
    try:
        html = client("worker").get("/app/work").get_data(as_text=True)
    finally:
        set_locale(registry, user.id, None)
    strings = _strings(html)
    assert _config(html)["locale"] == "en"
    catalog = app.extensions["weige.issues"].catalog
    assert strings["states"]["in_progress"] == "In progress"
    assert {code: strings["categories"][code] for code in (c.code for c in catalog)} == {
        c.code: c.name_en for c in catalog
    }
    assert strings["uses"]["residential"] == "Residential"


def test_the_service_workers_offline_answer_is_in_one_language(phone):
    app, _, _ = phone
    source = app.test_client().get("/app/sw.js").get_data(as_text=True)
    message = re.search(r'code: "offline", message: ("[^"]*")', source).group(1)
    assert json.loads(message) in {"离线", "Offline"}
