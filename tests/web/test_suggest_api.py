"""POST /api/v1/areas/{code}/suggest: a proposal, applied into the planner's change set, scope and bad input."""

from __future__ import annotations

import pytest

from tests.conftest import private_app

INSIDE_GRID, OUTSIDE_GRID = "510104001001001", "510104001002001"


@pytest.fixture
def world(demo_db, tmp_path):
    return private_app(demo_db, tmp_path)


def test_preview_then_apply_then_the_draft_rules_are_clean(world):
    app, registry, client = world
    planner = client("planner")
    url = f"/api/v1/areas/{INSIDE_GRID}/suggest"
    preview = planner.post(url, json={})
    assert preview.status_code == 200, preview.get_json()
    body = preview.get_json()
    assert body["type"] == "FeatureCollection" and body["features"]
    counts = [f["properties"]["households"] for f in body["features"]]
    assert all(30 <= n <= 100 for n in counts) and body["summary"]["min_households"] == min(counts)
    assert sum(f["properties"]["buildings"] for f in body["features"]) == body["summary"]["buildings"]
    applied = planner.post(url, json={"apply": True})
    assert applied.status_code == 200, applied.get_json()
    answer = applied.get_json()
    codes = sorted(f["properties"]["code"] for f in answer["features"])
    assert sorted(r["code"] for r in registry.store.areas(answer["generation"], parent_code=INSIDE_GRID)) == codes
    rules = planner.get(f"/api/v1/areas/{INSIDE_GRID}/rules?generation=draft").get_json()
    assert rules["errors"] == 0, rules["features"]
    narrow = planner.post(url, json={"low": 40, "high": 60}).get_json()
    assert all(40 <= f["properties"]["households"] <= 60 or f["properties"]["problem"] for f in narrow["features"])


def test_scope_and_bad_input(world):
    app, registry, client = world
    planner, worker = client("planner"), client("worker")
    url = f"/api/v1/areas/{INSIDE_GRID}/suggest"
    assert planner.post(f"/api/v1/areas/{OUTSIDE_GRID}/suggest", json={}).status_code == 403
    assert worker.post(url, json={}).status_code == 403
    before = registry.store.open_change_sets()
    bad = (
        {"low": 60, "high": 20},
        {"low": 0},
        {"high": "many"},
        {"apply": "perhaps"},
        {"other": 1},
        {"apply": "true"},
        {"apply": 1},
    )  # a string or number is not JSON true (outside test: "true" applied)
    for body in bad:  # fmt: skip
        answer = planner.post(url, json=body)
        assert 400 <= answer.status_code < 500 and "error" in answer.get_json(), (body, answer.get_json())
    assert registry.store.open_change_sets() == before  # nothing written
    community = planner.post("/api/v1/areas/510104001001/suggest", json={})
    assert community.status_code == 400 and community.get_json()["error"]["code"]
    assert planner.post("/api/v1/areas/nope/suggest", json={}).status_code in (403, 404)
