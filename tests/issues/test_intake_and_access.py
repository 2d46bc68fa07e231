"""Intake and access: Open311 keeps every report, overlapping areas stay ambiguous, pages offer exactly the
allowed actions, ids outside one's areas answer like missing ones, decompression bombs are refused."""

from __future__ import annotations

import base64
import io
import json
import struct
import zlib

import pytest
import shapely
import sqlalchemy as sa
from PIL import Image

from boundaries import editing
from core.storage import tables as t
from issues.photos import check_photos
from tests.issues.conftest import COMMUNITY, WORKER_GRID

OTHER_COMMUNITY = "510104001002"


# -- item 9: Open311 idempotency is not keyed on the submitter -----------------------------------------------------
def test_two_reports_from_one_phone_are_both_stored(world):
    _, lon, lat = world.point()
    client = world.app.test_client()
    form = {"api_key": world.keys["wechat"], "lat": str(lat), "long": str(lon)}
    form |= {"device_id": "phone-1", "account_id": "resident-9"}
    first = client.post("/open311/v2/requests.json", data={**form, "service_code": "dispute", "description": "一"})
    second = client.post(
        "/open311/v2/requests.json", data={**form, "service_code": "road_cleaning", "description": "二"}
    )
    assert (first.status_code, second.status_code) == (201, 201)
    ids = [r.get_json()[0]["service_request_id"] for r in (first, second)]
    assert ids[0] != ids[1]
    with world.registry.store.engine.connect() as conn:
        stored = conn.execute(sa.select(t.issues.c.id, t.issues.c.description).order_by(t.issues.c.id)).all()
    assert [tuple(r) for r in stored] == [(ids[0], "一"), (ids[1], "二")]


def test_an_idempotency_key_repeats_the_first_answer(world):
    _, lon, lat = world.point()
    client = world.app.test_client()
    form = {"api_key": world.keys["wechat"], "lat": str(lat), "long": str(lon), "service_code": "dispute"}
    headers = {"Idempotency-Key": "3f2c-retry-1"}
    first = client.post("/open311/v2/requests.json", data=form, headers=headers)
    again = client.post("/open311/v2/requests.json", data=form, headers=headers)
    other = client.post("/open311/v2/requests.json", data=form, headers={"Idempotency-Key": "3f2c-retry-2"})
    assert (first.status_code, again.status_code, other.status_code) == (201, 200, 201)
    assert first.get_json()[0]["service_request_id"] == again.get_json()[0]["service_request_id"]
    assert other.get_json()[0]["service_request_id"] != first.get_json()[0]["service_request_id"]
    too_long = client.post("/open311/v2/requests.json", data=form, headers={"Idempotency-Key": "k" * 65})
    assert too_long.status_code == 400 and "Idempotency-Key" in too_long.get_json()[0]["description"]


# -- item 15: overlapping areas are ambiguous, not outside ----------------------------------------------------------
def _geojson(geometry) -> dict:
    return json.loads(shapely.to_geojson(geometry))


def _overlap_communities(world):
    """Remove a micro-grid of the worker's grid (a gap) and redraw the other community over it (an overlap)."""
    code, lon, lat = world.point(index=1)
    hole = world.registry.area(code).geometry
    editing.retire_area(world.view, code)
    other = world.registry.area(OTHER_COMMUNITY).geometry
    editing.update_area(world.view, OTHER_COMMUNITY, geometry=_geojson(shapely.union(other, hole)))
    editing.publish(world.view)
    return lon, lat


def test_a_point_in_overlapping_areas_is_queued_as_ambiguous_with_its_candidates(world):
    lon, lat = _overlap_communities(world)
    r = world.clients["admin"].post("/api/v1/issues", json={"category": "dispute", "lon": lon, "lat": lat})
    assert r.status_code == 201, r.get_json()
    issue = r.get_json()  # queued at the street: which community is the street office's call
    assert issue["location_status"] == "ambiguous" and issue["unlocated"]
    assert issue["location_candidates"] == sorted([COMMUNITY, OTHER_COMMUNITY])
    assert issue["candidates_level"] == "community" and issue["level"] == "street"
    assert "overlap" in issue["location_note"] and "重叠" in issue["location_note"]
    queue = world.clients["admin"].get("/api/v1/issues?unlocated=true").get_json()["issues"]
    assert [(q["id"], q["location_status"], q["location_candidates"]) for q in queue] == [
        (issue["id"], "ambiguous", sorted([COMMUNITY, OTHER_COMMUNITY]))
    ]


def test_a_gap_is_outside_with_its_own_message(world):
    code, lon, lat = world.point(index=1)
    editing.retire_area(world.view, code)
    editing.publish(world.view)
    issue = world.clients["staff"].post("/api/v1/issues", json={"category": "dispute", "lon": lon, "lat": lat})
    issue = issue.get_json()
    assert issue["location_status"] == "outside" and issue["location_candidates"] == []
    assert "no micro-grid" in issue["location_note"] and "overlap" not in issue["location_note"]
    assert issue["level"] == "community" and issue["handler_code"] == COMMUNITY


def test_overlapping_streets_are_queued_not_refused(world):
    lon, lat = _overlap_communities(world)
    street = world.registry.area(COMMUNITY[:9]).geometry
    district = world.registry.area(COMMUNITY[:6]).geometry
    editing.create_area(
        world.view,
        "510104999",
        "street",
        "重叠街道",
        COMMUNITY[:6],
        _geojson(shapely.intersection(shapely.buffer(shapely.Point(lon, lat), 0.0005), district)),
    )
    editing.publish(world.view)
    assert street.contains(shapely.Point(lon, lat))
    r = world.clients["admin"].post("/api/v1/issues", json={"category": "dispute", "lon": lon, "lat": lat})
    assert r.status_code == 201, r.get_json()
    issue = r.get_json()
    assert issue["location_status"] == "ambiguous" and issue["level"] == "street"
    assert issue["handler_code"] == COMMUNITY[:9] and issue["candidates_level"] == "community"


# -- item 16: the page offers exactly what the domain allows --------------------------------------------------------
def _buttons(html: str) -> set[str]:
    import re

    return set(re.findall(r'<button type="submit" name="action" value="([a-z_]+)"', html))


@pytest.mark.parametrize("who", ["staff", "worker"])
def test_pages_offer_exactly_the_allowed_actions(world, who):
    from issues.workflow import allowed_actions  # the one rule (new with this test)

    _, lon, lat = world.point()
    issue = world.clients["staff"].post("/api/v1/issues", json={"category": "dispute", "lon": lon, "lat": lat})
    iid = issue.get_json()["id"]
    staff, client = world.clients["staff"], world.clients[who]
    for step, note in (
        (None, ""),
        ("accept", ""),
        ("file", ""),
        ("park", "等待材料"),
        ("unpark", ""),
        ("dispatch", ""),
        ("escalate", "需要网格"),
        ("escalate", "需要社区"),
        ("escalate", "需要街道"),
        ("escalate", "最高"),
    ):
        if step:
            r = staff.post(f"/api/v1/issues/{iid}/actions", json={"action": step, "note": note})
            assert r.status_code == (409 if note == "最高" else 200), r.get_json()
        page = client.get(f"/issues/{iid}")
        assert page.status_code == 200
        state = world.clients["admin"].get(f"/api/v1/issues/{iid}").get_json()
        expected = set(allowed_actions(state, _role_can(world, who)))
        assert _buttons(page.get_data(as_text=True)) == expected, (step, state["state"], state["level"])
        for action in {"escalate", "start", "accept", "park"} - expected:
            refused = client.post(f"/api/v1/issues/{iid}/actions", json={"action": action, "note": "试"})
            assert refused.status_code in (403, 409), (action, refused.get_json())


def _role_can(world, who):
    from accounts.roles import ROLE_PERMISSIONS
    from accounts.users import find_user

    role = find_user(world.registry, who).role
    return lambda permission: permission in ROLE_PERMISSIONS[role]


def test_a_parked_issue_offers_no_escalation_and_the_api_refuses_it(world):
    _, lon, lat = world.point()
    staff = world.clients["staff"]
    iid = staff.post("/api/v1/issues", json={"category": "dispute", "lon": lon, "lat": lat}).get_json()["id"]
    for step, note in (("accept", ""), ("file", ""), ("park", "等待材料")):
        assert staff.post(f"/api/v1/issues/{iid}/actions", json={"action": step, "note": note}).status_code == 200
    html = staff.get(f"/issues/{iid}").get_data(as_text=True)
    assert _buttons(html) == {"unpark"} and 'value="escalate"' not in html
    refused = staff.post(f"/api/v1/issues/{iid}/actions", json={"action": "escalate", "note": "试试"})
    assert refused.status_code == 409 and "unpark" in refused.get_json()["error"]["message"]


# -- item 17: outside one's areas answers like a missing id --------------------------------------------------------
def test_an_issue_outside_ones_areas_answers_like_a_missing_one(world):
    _, lon, lat = world.point(grid=f"{OTHER_COMMUNITY}001")
    elsewhere = world.clients["admin"].post("/api/v1/issues", json={"category": "dispute", "lon": lon, "lat": lat})
    other = elsewhere.get_json()
    missing_id = other["id"] + 1000
    worker = world.clients["worker"]
    for template in (
        "/api/v1/issues/{id}",
        "/api/v1/issues/{id}/photos/" + "0" * 64,
        "/open311/v2/requests/{id}.json?api_key=" + world.keys["worker"],
    ):
        outside, missing = (worker.get(template.format(id=i)) for i in (other["id"], missing_id))
        assert outside.status_code == missing.status_code == 404, template
        assert outside.get_data() == missing.get_data(), template
    acts = [worker.post(f"/api/v1/issues/{i}/actions", json={"action": "start"}) for i in (other["id"], missing_id)]
    assert acts[0].status_code == acts[1].status_code == 404 and acts[0].get_data() == acts[1].get_data()
    pages = [worker.get(f"/issues/{i}") for i in (other["id"], missing_id)]
    assert pages[0].status_code == pages[1].status_code == 404
    tokens = [
        worker.get(f"/open311/v2/tokens/{tok}.json?api_key={world.keys['worker']}")
        for tok in (other["token"], "no-such-token")
    ]
    assert tokens[0].status_code == tokens[1].status_code == 404 and tokens[0].get_data() == tokens[1].get_data()


# -- item 20: decompression bombs ----------------------------------------------------------------------------------
def _png(width: int, height: int) -> bytes:
    """A valid 1-bit PNG of blank pixels, compressed row by row (small file, huge image)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    packer = zlib.compressobj(9)
    row = b"\0" * (1 + (width + 7) // 8)
    body = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


@pytest.mark.parametrize("side", [20_000, 11_000])
def test_decompression_bombs_are_refused_with_a_clear_400(world, side):
    bomb = _png(side, side)
    assert len(bomb) < 2_000_000
    _, lon, lat = world.point()
    body = {
        "category": "dispute",
        "lon": lon,
        "lat": lat,
        "photos": [{"filename": "bomb.png", "content_base64": base64.b64encode(bomb).decode()}],
    }
    r = world.clients["wechat"].post("/api/v1/issues", json=body)
    assert r.status_code == 400, r.get_json()
    assert "pixels" in r.get_json()["error"]["message"] and "bomb.png" in r.get_json()["error"]["message"]
    form = {"api_key": world.keys["wechat"], "service_code": "dispute", "lat": str(lat), "long": str(lon)}
    o311 = world.app.test_client().post(
        "/open311/v2/requests.json", data={**form, "media": (io.BytesIO(bomb), "bomb.png")}
    )
    assert o311.status_code == 400 and "pixels" in o311.get_json()[0]["description"]


def test_the_pixel_limit_is_explicit():
    small = io.BytesIO()
    Image.new("RGB", (40, 30), "red").save(small, "PNG")
    assert check_photos([("ok.png", small.getvalue())], max_pixels=1200)[0].width == 40
    with pytest.raises(Exception, match="40×30 pixels"):
        check_photos([("ok.png", small.getvalue())], max_pixels=1199)
    assert WORKER_GRID.startswith(COMMUNITY)
