"""The fix tool on the API (POST /api/v1/areas/{code}/fix): preview, apply into the planner's draft, the rules
after; stale previews refused (412), scope and bad input (4xx, JSON error shape)."""

from __future__ import annotations

import pytest
import shapely

from tests.conftest import private_app

INSIDE_GRID, OUTSIDE_GRID = "510104001001001", "510104001002001"


@pytest.fixture
def world(demo_db, tmp_path):
    return private_app(demo_db, tmp_path)


def _overlap_by(registry, planner, metres: float) -> tuple[str, str]:
    """Widen the first micro-grid of the inside grid over its neighbour by about ``metres`` (within the grid)."""
    codes = registry.areas(parent_code=INSIDE_GRID)["code"].tolist()
    first = registry.area(codes[0]).geometry
    grown = shapely.intersection(
        first.buffer(metres / 111_000, join_style="mitre"), registry.area(INSIDE_GRID).geometry
    )
    changed = planner.patch(f"/api/v1/areas/{codes[0]}", json={"geometry": shapely.geometry.mapping(grown)})
    assert changed.status_code == 200, changed.get_json()
    return codes[0], codes


def _overlaps(planner) -> list:
    answer = planner.get(f"/api/v1/areas/{INSIDE_GRID}/rules?generation=draft").get_json()
    return [f for f in answer["features"] if f["properties"].get("kind") == "overlap"]


def test_preview_then_apply_then_the_rules_show_no_overlap(world):
    app, registry, client = world
    planner = client("planner")
    _overlap_by(registry, planner, 0.5)
    assert _overlaps(planner), "the drawing overlaps its neighbours before the fix"
    url = f"/api/v1/areas/{INSIDE_GRID}/fix"
    preview = planner.post(url, json={"tolerance_m": 1, "generation": "draft"})
    assert preview.status_code == 200, preview.get_json()
    body = preview.get_json()
    assert body["fixed"] and body["not_fixed"] == [] and 0 < body["max_move_m"] <= 1
    points = body["moves"]["features"]
    assert points and {p["geometry"]["type"] for p in points} == {"Point"}
    assert all(0 < p["properties"]["distance_m"] <= 1 and len(p["properties"]["old"]) == 2 for p in points)
    assert {p["properties"]["code"] for p in points} <= set(body["fixed"])
    assert "rules" not in body and _overlaps(planner)  # a preview writes nothing
    tags = ", ".join(f'"{v}"' for v in body["versions"].values())
    applied = planner.post(url, json={"tolerance_m": 1, "apply": True}, headers={"If-Match": tags})
    assert applied.status_code == 200, applied.get_json()
    after = applied.get_json()
    assert after["fixed"] == body["fixed"] and after["max_move_m"] == body["max_move_m"]
    assert not [f for f in after["rules"]["features"] if f["properties"].get("kind") == "overlap"]
    assert _overlaps(planner) == []
    again = planner.post(url, json={"tolerance_m": 1, "generation": "draft"}).get_json()
    assert again["moves"]["features"] == [] and again["max_move_m"] == 0  # nothing left to move


def test_a_stale_preview_is_refused(world):
    app, registry, client = world
    planner = client("planner")
    _overlap_by(registry, planner, 0.5)
    url = f"/api/v1/areas/{INSIDE_GRID}/fix"
    body = planner.post(url, json={"generation": "draft"}).get_json()
    tags = ", ".join(f'"{v}"' for v in body["versions"].values())
    _overlap_by(registry, planner, 0.6)  # the draft changes after the preview
    stale = planner.post(url, json={"apply": True}, headers={"If-Match": tags})
    assert stale.status_code == 412 and stale.get_json()["error"]["code"] == "precondition_failed"
    assert _overlaps(planner)  # nothing written


def test_scope_and_bad_input(world):
    app, registry, client = world
    planner, worker = client("planner"), client("worker")
    url = f"/api/v1/areas/{INSIDE_GRID}/fix"
    assert planner.post(f"/api/v1/areas/{OUTSIDE_GRID}/fix", json={}).status_code == 403
    assert worker.post(url, json={}).status_code == 403
    assert planner.post("/api/v1/areas/nope/fix", json={}).status_code == 404
    for bad in ({"tolerance_m": 0}, {"tolerance_m": 51}, {"tolerance_m": "x"}, {"apply": "maybe"}, {"generation": "x"}):
        answer = planner.post(url, json=bad)
        assert answer.status_code in (400, 422) and "error" in answer.get_json(), bad
    refused = planner.post(url, json={"apply": True, "generation": 1})
    assert refused.status_code == 400 and "draft" in refused.get_json()["error"]["message"]
    assert planner.post(url, json={"generation": "draft"}).status_code == 404  # no draft yet
    fine = planner.post(url, json={})
    assert fine.status_code == 200 and fine.get_json()["not_fixed"] == []


CLEAN_GRID = "510104001001002"  # a demo grid whose micro-grids pass every rule


def _errors(client, generation="") -> int:
    suffix = f"?generation={generation}" if generation else ""
    return client.get(f"/api/v1/areas/{CLEAN_GRID}/rules{suffix}").get_json()["errors"]


@pytest.mark.parametrize("tolerance", [1, 10, 20, 30, 50])
def test_a_clean_coverage_is_left_exactly_as_it_is_at_any_tolerance(world, tolerance):
    app, registry, client = world
    planner = client("planner")
    assert _errors(planner) == 0
    before = registry.areas(parent_code=CLEAN_GRID)
    url = f"/api/v1/areas/{CLEAN_GRID}/fix"
    preview = planner.post(url, json={"tolerance_m": tolerance}).get_json()
    assert preview["fixed"] == [] and preview["not_fixed"] == [] and preview["moves"]["features"] == []
    assert preview["max_move_m"] == 0
    applied = planner.post(url, json={"tolerance_m": tolerance, "apply": True})
    assert applied.status_code == 200, applied.get_json()
    assert applied.get_json()["fixed"] == [] and applied.get_json()["rules"]["errors"] == 0
    after = registry.areas(parent_code=CLEAN_GRID, generation=applied.get_json()["generation"])
    assert after["code"].tolist() == before["code"].tolist()
    assert all(a.equals_exact(b, 0) for a, b in zip(after.geometry, before.geometry, strict=True))


@pytest.mark.parametrize("tolerance", [1, 10, 50])
def test_a_small_overlap_fixed_at_a_large_tolerance_leaves_the_rest_alone(world, tolerance):
    app, registry, client = world
    planner = client("planner")
    codes = registry.areas(parent_code=CLEAN_GRID)["code"].tolist()
    first = registry.area(codes[0]).geometry
    grown = shapely.intersection(first.buffer(0.5 / 111_000, join_style="mitre"), registry.area(CLEAN_GRID).geometry)
    drawn = planner.patch(f"/api/v1/areas/{codes[0]}", json={"geometry": shapely.geometry.mapping(grown)})
    assert drawn.status_code == 200, drawn.get_json()
    assert _errors(planner, "draft") > 0
    answer = planner.post(f"/api/v1/areas/{CLEAN_GRID}/fix", json={"tolerance_m": tolerance, "apply": True}).get_json()
    assert answer["rules"]["errors"] == 0, [f["properties"]["message"] for f in answer["rules"]["features"]]
    # the drawing moved the corners by 0.5 m (0.66 m across the mitred corner): nothing moves farther
    assert answer["not_fixed"] == [] and 0 < answer["max_move_m"] <= 0.7
    assert all(m["properties"]["distance_m"] <= 0.7 for m in answer["moves"]["features"])
    assert set(answer["fixed"]) <= {codes[0], *_neighbours(registry, codes)}


def _neighbours(registry, codes) -> set:
    """The micro-grids touching the first one (the only ones a fix of its overlap may change)."""
    first = registry.area(codes[0]).geometry
    return {c for c in codes[1:] if registry.area(c).geometry.intersects(first.buffer(1e-5))}


def test_the_fix_schema_is_strict(world):
    app, registry, client = world
    planner = client("planner")
    url = f"/api/v1/areas/{INSIDE_GRID}/fix"
    for bad in ({"apply": "yes"}, {"apply": 1}, {"apply": "true"}, {"generation": 1.5}, {"generation": True}):
        answer = planner.post(url, json=bad)
        assert answer.status_code in (400, 422) and "error" in answer.get_json(), bad
