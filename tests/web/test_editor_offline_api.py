"""The editor's service worker and session endpoint (web/editor_offline.py): who may fetch them, what they hold."""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import private_app


@pytest.fixture
def world(demo_db, tmp_path):
    return private_app(demo_db, tmp_path)


def test_the_worker_is_public_never_cached_and_precaches_only_files_the_app_serves(world):
    app, registry, client = world
    anonymous = app.test_client()
    answer = anonymous.get("/editor-sw.js")
    assert answer.status_code == 200 and answer.mimetype == "text/javascript"
    assert answer.headers["Cache-Control"] == "no-cache"
    source = answer.get_data(as_text=True)
    assert re.search(r'var CACHE = "weige-editor-[0-9a-f]{12}";', source)
    precache = json.loads(re.search(r"var PRECACHE = (\[.*?\]);", source)[1])
    assert any("editor.js" in u for u in precache) and any("leaflet-geoman" in u for u in precache)
    for url in precache:
        assert url.startswith("/") and anonymous.get(url).status_code == 200, url
    assert "/editor" in re.search(r"var SCOPE = (.*?);", source)[1]


def test_the_session_gives_a_planner_a_fresh_token_and_nobody_else_anything(world):
    app, registry, client = world
    body = client("planner").get("/editor/session")
    assert body.status_code == 200 and body.headers["Cache-Control"] == "no-store"
    assert body.get_json()["user"] == "planner" and len(body.get_json()["csrf_token"]) > 20
    assert client("worker").get("/editor/session").status_code == 403
    assert app.test_client().get("/editor/session").status_code in (302, 401)


def test_the_editor_page_names_its_worker_outbox_and_user(world):
    app, registry, client = world
    page = client("planner").get("/editor?area=510104001001001").get_data(as_text=True)
    assert "js/editor_outbox.js" in page
    config = json.loads(re.search(r'data-config="([^"]*)"', page)[1].replace("&#34;", '"').replace("&quot;", '"'))
    assert config["sw"] == "/editor-sw.js" and config["swScope"] == "/editor" and config["user"] == "planner"
