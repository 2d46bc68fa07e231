"""Per-area issue figures and their classes (the issue map's choropleth)."""

from __future__ import annotations

import pytest
import shapely

from accounts.tokens import create_token
from accounts.users import find_user
from issues.area_figures import classify
from tests.conftest import private_app, token_client


def test_classes_cover_every_value_in_ascending_bounds():
    values = [0, 0, 1, 2, 2, 3, 8, 9, 10, 30, None]
    for scheme in ("natural_breaks", "quantiles"):
        classes, index = classify(values, scheme, k=4)
        assert [c["upper"] for c in classes] == sorted(c["upper"] for c in classes)
        assert classes[-1]["upper"] == 30 and classes[0]["lower"] == 0
        assert sum(c["count"] for c in classes) == 10 and index[-1] is None
        for v, i in zip(values, index, strict=True):
            if v is not None:
                assert classes[i]["lower"] <= v <= classes[i]["upper"]


def test_fewer_distinct_values_than_classes_give_one_class_each():
    classes, index = classify([0.5, 0.5, 1.0], "natural_breaks", k=5)
    assert [(c["lower"], c["upper"], c["count"]) for c in classes] == [(0.5, 0.5, 2), (1.0, 1.0, 1)]
    assert index == [0, 0, 1]
    assert classify([None, None])[0] == []


@pytest.fixture
def figures_app(demo_db, tmp_path):
    app, registry, client = private_app(demo_db, tmp_path)
    wechat = token_client(app, create_token(registry, find_user(registry, "wechat").id, "t", 1)[0])
    grids = registry.areas(parent_code="510104001001")["code"].tolist()[:3]
    for n, grid in enumerate(grids):  # 1, 2 and 3 issues in three grids
        leaf = registry.areas(parent_code=grid).iloc[0]
        p = shapely.point_on_surface(leaf.geometry)
        for _ in range(n + 1):
            r = wechat.post("/api/v1/issues", json={"category": "dispute", "lon": p.x, "lat": p.y})
            assert r.status_code == 201
    return client, grids


def test_area_figures_count_the_filtered_issues_per_area(figures_app):
    client, grids = figures_app
    staff = client("staff")
    body = staff.get("/api/v1/issues/areas?level=grid&measure=count").get_json()
    by_code = {a["code"]: a for a in body["areas"]}
    assert [by_code[g]["count"] for g in grids] == [1, 2, 3]
    assert body["issues"] == 6 and sum(a["count"] for a in body["areas"]) == 6
    for a in body["areas"]:
        cls = body["classes"][a["class"]]
        assert cls["lower"] <= a["value"] <= cls["upper"]
    only = staff.get(f"/api/v1/issues/areas?level=grid&area={grids[1]}").get_json()
    assert {a["code"]: a["count"] for a in only["areas"] if a["count"]} == {grids[1]: 2}
    rates = staff.get("/api/v1/issues/areas?level=grid&measure=overdue_rate").get_json()
    assert {a["code"]: a["value"] for a in rates["areas"] if a["count"]} == {g: 0.0 for g in grids}
    assert all(a["value"] is None for a in rates["areas"] if not a["count"])  # no issues: no rate


def test_points_are_the_filtered_list_and_bad_parameters_are_400(figures_app):
    client, grids = figures_app
    staff = client("staff")
    points = staff.get(f"/api/v1/issues/points?area={grids[2]}").get_json()
    listed = staff.get(f"/api/v1/issues?area={grids[2]}").get_json()
    assert [p[0] for p in points["points"]] == [i["id"] for i in listed["issues"]]
    assert points["total"] == 3 and not points["truncated"]
    assert staff.get("/api/v1/issues/points?limit=2").get_json()["truncated"] is True
    for bad in ("points?limit=0", "points?limit=20001", "areas?level=street", "areas?measure=x", "areas?k=1"):
        r = staff.get(f"/api/v1/issues/{bad}")
        assert r.status_code == 400 and r.get_json()["error"]["code"] == "bad_filter", bad
