"""The history API: the diff of two generations (JSON and GeoJSON) equals the domain's, lineage and figures over
time follow a merge, scope and bad input are clear 4xx."""

from __future__ import annotations

import pytest
import shapely

from accounts.users import list_users
from boundaries import assets, history
from boundaries.editing import retire_area, update_area
from boundaries.scope import ScopedRegistry
from core.audit import SYSTEM, Actor
from core.scope import Scope
from issues.queries import list_issues
from issues.worktime import local_text, zone_label
from tests.conftest import private_app

INSIDE_GRID, OUTSIDE_GRID = "510104001001001", "510104001002001"


@pytest.fixture(scope="module")
def world(demo_db, tmp_path_factory):
    """The demo street with an issue reported in micro-grid b, then b merged into a (generation 2), and an issue
    reported there again."""
    app, registry, client = private_app(demo_db, tmp_path_factory.mktemp("history"))
    staff = client("staff")
    children = registry.areas(parent_code=INSIDE_GRID).set_index("code")
    a, b = children.index[:2]
    point = shapely.point_on_surface(children.at[b, "geometry"])
    report = {"category": "exposed_rubbish", "description": "垃圾", "lon": point.x, "lat": point.y}
    assert staff.post("/api/v1/issues", json=report).status_code == 201
    first = registry.current_generation()
    planner = next(u for u in list_users(registry) if u.role == "planner")
    actor = Actor(planner.id, planner.name, "tests")  # generation 2's author
    view = ScopedRegistry(registry, Scope.everything(), actor)
    retire_area(view, b)
    update_area(view, a, geometry=shapely.union(children.at[a, "geometry"], children.at[b, "geometry"]))
    second = registry.publish(actor)
    assert staff.post("/api/v1/issues", json=report).status_code == 201
    return registry, client, first, second, a, b


def test_diff_answers_the_domain_diff(world):
    registry, client, first, second, a, b = world
    planner = client("planner")
    answer = planner.get(f"/api/v1/generations/{first}/diff/{second}?parent={INSIDE_GRID}&level=micro_grid")
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    view = ScopedRegistry(registry, Scope.everything(), SYSTEM)
    expected = history.diff(view, first, second, INSIDE_GRID, "micro_grid").as_dict()
    assert body == expected
    assert [e["code"] for e in body["removed"]] == [b] and [e["code"] for e in body["merged"]] == [a]
    assert {p["code"] for p in body["merged"][0]["from"]} == {a, b}
    moved = body["buildings_moved"]
    assert moved and {(m["from_code"], m["to_code"]) for m in moved} == {(b, a)}
    assert body["counts"]["households_moved"] == sum(m["households"] for m in moved)
    geo = planner.get(f"/api/v1/generations/{first}/diff/{second}?parent={INSIDE_GRID}&level=micro_grid&format=geojson")
    features = geo.get_json()["features"]
    change = {(f["properties"]["side"], f["properties"].get("code")): f["properties"]["change"] for f in features}
    assert change[("before", b)] == "removed" and change[("after", a)] == "merged"
    assert sum(f["properties"]["change"] == "moved" for f in features) == len(moved)


def test_bad_input_is_a_clear_4xx(world):
    _registry, client, first, second, _a, _b = world
    planner = client("planner")
    for path, status, code in (
        (f"/api/v1/generations/{first}/diff/{first}", 400, "invalid_input"),
        (f"/api/v1/generations/{first}/diff/999", 404, "not_found"),
        (f"/api/v1/generations/x/diff/{second}", 400, "bad_generation"),
        (f"/api/v1/generations/{first}/diff/draft", 404, "not_found"),
        (f"/api/v1/generations/{first}/diff/{second}?parent={INSIDE_GRID}&level=grid", 400, "invalid_input"),
        (f"/api/v1/generations/{first}/diff/{second}?parent=nowhere", 404, "not_found"),
        (f"/api/v1/generations/{first}/diff/{second}?parent={OUTSIDE_GRID}", 403, "out_of_scope"),
        ("/api/v1/areas/nowhere/lineage", 404, "not_found"),
        (f"/api/v1/areas/{INSIDE_GRID}/lineage?generation=999", 404, "not_found"),
    ):
        answer = planner.get(path)
        assert answer.status_code == status, (path, answer.get_json())
        assert answer.get_json()["error"]["code"] == code, path
    wrong = planner.get(f"/api/v1/generations/{first}/diff/{second}?level=block")
    assert wrong.status_code == 422 and wrong.get_json()["error"]["details"]


def test_lineage_and_figures_over_time_follow_the_merge(world):
    registry, client, first, second, a, b = world
    planner, staff = client("planner"), client("staff")
    found = planner.get(f"/api/v1/areas/{a}/lineage").get_json()
    assert found["generation"] == second and found["descendants"] == []
    (step,) = found["ancestors"]
    assert step["generation"] == first and [x["code"] for x in step["areas"]] == sorted([a, b])
    assert all(x["share"] == pytest.approx(1.0) for x in step["areas"])
    gone = planner.get(f"/api/v1/areas/{b}/lineage").get_json()
    assert gone["generation"] == first and [x["code"] for x in gone["descendants"][0]["areas"]] == [a]
    figures = {f["generation"]: f for f in staff.get(f"/api/v1/areas/{a}/history").get_json()["figures"]}
    assert figures[first]["via"] == "ancestors" and figures[second]["via"] == "self"
    view = ScopedRegistry(registry, Scope.everything(), SYSTEM)
    issues, _ = list_issues(view, per_page=100_000)
    for g, codes in ((first, {a, b}), (second, {a})):
        counts = assets.household_counts(registry, g).loc[sorted(codes)].sum()
        assert figures[g]["households"] == counts["households"] and figures[g]["buildings"] == counts["buildings"]
        located = [i for i in issues if i["generation"] == g and i["micro_grid_code"] in codes]
        assert figures[g]["issues"] == len(located) and figures[g]["issues"] >= 1
    assert figures[first]["households"] == figures[second]["households"]  # a merge keeps every household


def test_page_shows_the_diff_and_refuses_bad_input(world):
    _registry, client, first, second, a, b = world
    planner = client("planner")
    html = {"Accept": "text/html"}
    page = planner.get(f"/history?area={INSIDE_GRID}&old={first}&new={second}", headers=html)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert f'<td title="{b}">' in text and f'<td title="{a}">' in text
    assert f"/api/v1/generations/{first}/diff/{second}?" in text  # the maps' GeoJSON: the same diff
    assert planner.get(f"/history?area={INSIDE_GRID}&old=77", headers=html).status_code == 400
    assert planner.get(f"/history?area={OUTSIDE_GRID}", headers=html).status_code == 403
    assert planner.get(f"/history?area={a}", headers=html).status_code == 400  # a micro-grid: nothing below it


def test_page_picks_generations_by_date_and_author(world):
    registry, client, first, second, _a, _b = world
    page = client("planner").get(
        f"/history?area={INSIDE_GRID}&old={first}&new={second}", headers={"Accept": "text/html"}
    )
    text = page.get_data(as_text=True)
    published = {g["id"]: g for g in registry.generations() if g["state"] == "published"}
    assert set(published) == {first, second} and published[second]["author"] not in ("", "system")
    authors = {first: "系统", second: published[second]["author"]}  # the system by name, in the page's language
    for g, row in published.items():
        when = local_text(row["published_at"], "Asia/Shanghai")  # the deployment's zone (UTC+8, no summer time)
        assert when and when != local_text(row["published_at"], "UTC")
        option = f"{g} · {when} · {authors[g]}</option>"
        assert text.count(option) == 2, option  # in both pickers
    assert f"时间均为 {zone_label('Asia/Shanghai')}" in text
