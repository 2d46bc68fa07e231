"""Open311 GeoReport v2: field names and formats (JSON and XML) as the specification gives them."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET

import pytest
import shapely
from PIL import Image

from accounts.tokens import create_token
from accounts.users import find_user
from boundaries.registry import Registry
from boundaries.storage import open_store
from tests.conftest import TEST_CONFIG, copy_demo

SERVICE_FIELDS = {"service_code", "service_name", "description", "metadata", "type", "keywords", "group"}
REQUEST_FIELDS = {
    "service_request_id", "status", "status_notes", "service_name", "service_code", "description",
    "agency_responsible", "service_notice", "requested_datetime", "updated_datetime", "expected_datetime",
    "address", "address_id", "zipcode", "lat", "long", "media_url",
}  # fmt: skip


@pytest.fixture
def o311(demo_db, demo_tokens, tmp_path):
    from web import create_app

    url = copy_demo(demo_db, tmp_path)
    registry = Registry(open_store(url))
    app = create_app({**TEST_CONFIG, "DATABASE_URL": url, "REGISTRY": registry})
    key = create_token(registry, find_user(registry, "wechat").id, "open311", 1)[0]
    staff = create_token(registry, find_user(registry, "staff").id, "open311", 1)[0]
    leaf = registry.areas(parent_code="510104001001001").iloc[0]
    point = shapely.point_on_surface(leaf.geometry)
    return app.test_client(), key, staff, point, leaf["code"]


def test_services_list_and_definition_in_json_and_xml(o311):
    client, *_ = o311
    services = client.get("/open311/v2/services.json").get_json()
    assert len(services) >= 9 and all(set(s) == SERVICE_FIELDS for s in services)
    gas = next(s for s in services if s["service_code"] == "gas_hazard")
    assert gas["service_name"] == "燃气安全隐患" and gas["metadata"] is False and gas["type"] == "realtime"
    root = ET.fromstring(client.get("/open311/v2/services.xml").data)
    assert root.tag == "services" and len(root.findall("service")) == len(services)
    assert {child.tag for child in root.find("service")} == SERVICE_FIELDS
    definition = client.get("/open311/v2/services/gas_hazard.xml")
    assert ET.fromstring(definition.data).find("service_code").text == "gas_hazard"
    missing = client.get("/open311/v2/services/nothing.json")
    assert missing.status_code == 404 and missing.get_json()[0]["code"] == 404


def test_post_then_read_by_id_token_and_list(o311):
    client, key, staff, point, leaf = o311
    buffer = io.BytesIO()
    Image.new("RGB", (10, 10), "green").save(buffer, "JPEG")
    r = client.post(
        "/open311/v2/requests.json",
        data={
            "api_key": key, "service_code": "exposed_rubbish", "lat": str(point.y), "long": str(point.x),
            "description": "垃圾桶满了", "first_name": "李", "last_name": "四", "phone": "13700001111",
            "address_string": "锦绣苑1栋", "media": (io.BytesIO(buffer.getvalue()), "photo.jpg"),
        },
        content_type="multipart/form-data",
    )  # fmt: skip
    assert r.status_code == 201, r.data
    created = r.get_json()
    assert set(created[0]) >= {"service_request_id", "token"}
    request_id, token = created[0]["service_request_id"], created[0]["token"]

    one = client.get(f"/open311/v2/requests/{request_id}.json?api_key={key}").get_json()
    assert len(one) == 1 and set(one[0]) == REQUEST_FIELDS
    row = one[0]
    assert row["status"] == "open" and row["service_code"] == "exposed_rubbish" and row["service_name"] == "暴露垃圾"
    assert abs(row["lat"] - point.y) < 1e-9 and abs(row["long"] - point.x) < 1e-9
    assert row["requested_datetime"].endswith("+08:00") and row["expected_datetime"]
    assert row["media_url"].startswith("http") and f"/issues/{request_id}/photos/" in row["media_url"]
    assert row["agency_responsible"] == leaf and row["address"] == "锦绣苑1栋"

    xml = ET.fromstring(client.get(f"/open311/v2/requests/{request_id}.xml?api_key={key}").data)
    assert xml.tag == "service_requests" and xml.find("request/service_request_id").text == str(request_id)
    assert {child.tag for child in xml.find("request")} == REQUEST_FIELDS
    by_token = client.get(f"/open311/v2/tokens/{token}.json?api_key={key}").get_json()
    assert by_token == [{"service_request_id": request_id, "token": token}]
    listed = client.get(f"/open311/v2/requests.json?api_key={key}&status=open&service_code=exposed_rubbish")
    assert [x["service_request_id"] for x in listed.get_json()] == [request_id]
    assert client.get(f"/open311/v2/requests.json?api_key={key}&status=closed").get_json() == []


def test_closing_shows_closed_with_the_note(o311):
    client, key, staff, point, _ = o311
    made = client.post(
        "/open311/v2/requests.json",
        data={"api_key": key, "service_code": "road_cleaning", "lat": str(point.y), "long": str(point.x)},
    ).get_json()[0]
    rid = made["service_request_id"]
    headers = {"Authorization": f"Bearer {staff}"}
    for action in ("accept", "file", "dispatch", "start", "check", "close"):
        note = "已清扫完毕" if action == "close" else ""
        r = client.post(f"/api/v1/issues/{rid}/actions", json={"action": action, "note": note}, headers=headers)
        assert r.status_code == 200, r.get_json()
    row = client.get(f"/open311/v2/requests/{rid}.json?api_key={key}").get_json()[0]
    assert row["status"] == "closed" and "结案" in row["status_notes"] and "已清扫完毕" in row["status_notes"]
    listed = client.get(f"/open311/v2/requests.json?api_key={key}&status=closed").get_json()
    assert [r["status_notes"] for r in listed] == [row["status_notes"]]


def test_errors_use_the_open311_format(o311):
    client, key, _, point, _ = o311
    no_key = client.post("/open311/v2/requests.json", data={"service_code": "dispute", "lat": "30.6", "long": "104"})
    assert no_key.status_code == 401 and set(no_key.get_json()[0]) == {"code", "description"}
    bad = client.post(
        "/open311/v2/requests.xml",
        data={"api_key": key, "service_code": "nope", "lat": str(point.y), "long": str(point.x)},
    )
    root = ET.fromstring(bad.data)
    assert bad.status_code == 400 and root.tag == "errors" and root.find("error/code").text == "400"
    assert "unknown category" in root.find("error/description").text
    no_place = client.post("/open311/v2/requests.json", data={"api_key": key, "service_code": "dispute"})
    assert no_place.status_code == 400 and "lat and long" in json.dumps(no_place.get_json())
    bad_key = client.get("/open311/v2/requests.json?api_key=wg_nope")
    assert bad_key.status_code == 401
