"""ETag / If-Match on areas, buildings and service points (issue 9, item 5): no lost updates."""

from __future__ import annotations

import threading

import pytest

from tests.conftest import private_app

LEAF = "510104001001001001"


@pytest.fixture
def fresh(demo_db, tmp_path):
    _, registry, client = private_app(demo_db, tmp_path)
    return registry, client("admin"), client("planner")


def _strong(response) -> str:
    etag = response.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"') and len(etag) > 2  # strong, quoted (RFC 9110 §8.8.3)
    return etag


def test_area_reads_carry_an_etag_and_a_stale_if_match_is_refused_with_the_current_state(fresh):
    _, admin, planner = fresh
    read = planner.get(f"/api/v1/areas/{LEAF}")
    first = _strong(read)
    assert planner.get(f"/api/v1/areas/{LEAF}").headers["ETag"] == first  # same state, same tag
    changed = planner.patch(f"/api/v1/areas/{LEAF}", json={"name": "甲"}, headers={"If-Match": first})
    assert changed.status_code == 200 and changed.get_json()["area"]["name"] == "甲"
    second = _strong(changed)
    assert second != first
    # the draft's area, read back, carries the tag the write answered
    draft = planner.get(f"/api/v1/areas/{LEAF}?generation={changed.get_json()['generation']}")
    assert draft.headers["ETag"] == second
    # a second write in the same change set (another tab) with the tag read before the first is stale
    stale = planner.patch(f"/api/v1/areas/{LEAF}", json={"name": "乙"}, headers={"If-Match": first})
    assert stale.status_code == 412
    error = stale.get_json()["error"]
    assert error["code"] == "precondition_failed" and error["current"]["area"]["name"] == "甲"
    assert stale.headers["ETag"] == second
    # weak tags never match If-Match (strong comparison); a list matches when one member does; * matches
    weak = planner.patch(f"/api/v1/areas/{LEAF}", json={"name": "乙"}, headers={"If-Match": f"W/{second}"})
    assert weak.status_code == 412
    listed = planner.patch(f"/api/v1/areas/{LEAF}", json={"name": "乙"}, headers={"If-Match": f'"x", {second}'})
    assert listed.status_code == 200
    assert planner.patch(f"/api/v1/areas/{LEAF}", json={"name": "丙"}, headers={"If-Match": "*"}).status_code == 200
    # without If-Match the write goes ahead (documented: the condition is optional)
    assert planner.patch(f"/api/v1/areas/{LEAF}", json={"name": "丁"}).status_code == 200
    removed = planner.delete(f"/api/v1/areas/{LEAF}", headers={"If-Match": first})
    assert removed.status_code == 412 and removed.get_json()["error"]["current"]["area"]["name"] == "丁"


def test_buildings_and_service_points_honour_if_match(fresh):
    _, admin, planner = fresh
    building = admin.get("/api/v1/buildings/1")
    tag = _strong(building)
    ok = admin.patch("/api/v1/buildings/1", json={"households": 31}, headers={"If-Match": tag})
    assert ok.status_code == 200 and ok.get_json()["households"] == 31
    assert admin.get("/api/v1/buildings/1").headers["ETag"] == ok.headers["ETag"] != tag
    stale = admin.patch("/api/v1/buildings/1", json={"households": 5}, headers={"If-Match": tag})
    assert stale.status_code == 412 and stale.get_json()["error"]["current"]["households"] == 31

    created = admin.post(
        "/api/v1/service-points", json={"name": "站", "kind": "clinic", "lon": 104.0685, "lat": 30.6569}
    )
    point, tag = created.get_json()["id"], _strong(created)
    assert admin.get(f"/api/v1/service-points/{point}").headers["ETag"] == tag
    moved = admin.patch(f"/api/v1/service-points/{point}", json={"capacity": 9}, headers={"If-Match": tag})
    assert moved.status_code == 200
    stale = admin.patch(f"/api/v1/service-points/{point}", json={"capacity": 1}, headers={"If-Match": tag})
    assert stale.status_code == 412 and stale.get_json()["error"]["current"]["capacity"] == 9
    assert admin.delete(f"/api/v1/service-points/{point}", headers={"If-Match": tag}).status_code == 412
    current = moved.headers["ETag"]
    assert admin.delete(f"/api/v1/service-points/{point}", headers={"If-Match": current}).status_code == 200


def test_read_modify_write_from_two_clients_loses_no_update(fresh):
    registry, admin, planner = fresh
    rounds = 8

    def append(client, mark):
        for i in range(rounds):
            while True:
                read = client.get("/api/v1/buildings/2")
                name = read.get_json()["properties"]["name"]
                sent = client.patch(
                    "/api/v1/buildings/2",
                    json={"name": f"{name}{mark}{i};"},
                    headers={"If-Match": read.headers["ETag"]},
                )
                if sent.status_code == 200:
                    break
                assert sent.status_code == 412

    admin.patch("/api/v1/buildings/2", json={"name": ""})
    threads = [threading.Thread(target=append, args=(c, m)) for c, m in ((admin, "a"), (planner, "p"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    name = registry.store.buildings(ids=[2], geometry=False)[0]["name"]
    assert sorted(name.rstrip(";").split(";")) == sorted(f"{m}{i}" for m in "ap" for i in range(rounds))


@pytest.mark.parametrize("header", ["abc", "W/abc", '"abc', 'abc"', '"a", b', '*, "a"', 'W/ "a"'])
def test_an_if_match_that_is_not_entity_tags_is_refused_as_malformed(fresh, header):
    """RFC 9110 §8.8.3: entity-tags are quoted; an unquoted value is a malformed header (400), never a match."""
    registry, admin, _ = fresh
    before = registry.store.buildings(ids=[1], geometry=False)
    answer = admin.patch("/api/v1/buildings/1", json={"households": 77}, headers={"If-Match": header})
    assert answer.status_code == 400, answer.get_json()
    error = answer.get_json()["error"]
    assert error["code"] == "bad_if_match" and "If-Match" in error["message"] and "quoted" in error["message"]
    assert registry.store.buildings(ids=[1], geometry=False) == before
    for path in ("/api/v1/areas/510104001001001001", "/api/v1/service-points/1"):
        assert admin.delete(path, headers={"If-Match": header}).status_code == 400
