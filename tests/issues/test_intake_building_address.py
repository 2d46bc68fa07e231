"""A report placed by choosing a building, with no address given, takes the building's address (or its name)."""

from __future__ import annotations

import shapely

from tests.issues.conftest import COMMUNITY


def _three_buildings(world) -> list[int]:
    community = world.registry.areas(level="community")
    mine = community[community["code"] == COMMUNITY].geometry.iloc[0]
    ids = [
        b["id"] for b in world.registry.store.buildings(geometry=False) if shapely.contains_xy(mine, b["lon"], b["lat"])
    ]
    assert len(ids) >= 3
    return ids[:3]


def test_a_report_by_building_takes_its_address_or_name(world):
    admin, staff = world.clients["admin"], world.clients["staff"]
    with_address, named, bare = _three_buildings(world)
    for bid, values in (
        (with_address, {"address": "玉林北路 3 号", "name": "3 号楼"}),
        (named, {"address": "", "name": "社区服务中心"}),
        (bare, {"address": "", "name": ""}),
    ):
        assert admin.patch(f"/api/v1/buildings/{bid}", json=values).status_code == 200

    def report(bid, key, **extra):
        body = {"category": "dispute", "description": "楼道堆物", "building_id": bid, "external_id": key, **extra}
        return staff.post("/api/v1/issues", json=body)

    made = report(with_address, "b-1")
    assert made.status_code == 201, made.get_json()
    assert made.get_json()["address"] == "玉林北路 3 号"
    assert staff.get(f"/api/v1/issues/{made.get_json()['id']}").get_json()["address"] == "玉林北路 3 号"
    again = report(with_address, "b-1")  # a resend with no address is the same report, not a reused key
    assert again.status_code == 200 and again.get_json()["id"] == made.get_json()["id"]
    assert report(named, "b-2").get_json()["address"] == "社区服务中心"
    assert report(bare, "b-3").get_json()["address"] == ""
    given = report(with_address, "b-4", address="3 号楼 2 单元")
    assert given.status_code == 201 and given.get_json()["address"] == "3 号楼 2 单元"
    blank = report(with_address, "b-5", address="   ")
    assert blank.get_json()["address"] == "玉林北路 3 号"
    # a different address under a used key is still a reused key
    reused = report(with_address, "b-1", address="别处")
    assert reused.status_code == 422 and reused.get_json()["error"]["code"] == "idempotency_key_reused"
