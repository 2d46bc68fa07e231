"""Hostile request bodies and odd Unicode: always a clear 4xx with the JSON error shape, never a 500.

JSON bodies are checked once, for every route (``web/bodies.py``): lone UTF-16 surrogates, nesting deeper than
:data:`web.bodies.MAX_DEPTH`, numbers longer than :data:`web.bodies.MAX_NUMBER_CHARS`, ``NaN``/``Infinity``,
NUL characters and bytes that are not UTF-8 are refused with ``400 malformed_json``.
"""

from __future__ import annotations

import json
import random

import pytest
import sqlalchemy as sa

from accounts.tokens import create_token
from accounts.users import find_user
from boundaries.registry import Registry
from boundaries.storage import open_store
from core.storage import tables as t
from tests.conftest import TEST_CONFIG, copy_demo, token_client

MICRO_GRID = "510104001001001001"

#: Bodies every JSON route must refuse with 400 ``malformed_json``, and a word the message must contain.
HOSTILE_BODIES = {
    "lone high surrogate": (b'{"name": "a\\ud800b", "description": "a\\ud800b"}', "surrogate"),
    "lone low surrogate": (b'{"name": "\\udfff", "note": "x"}', "surrogate"),
    "two high surrogates": (b'{"name": "\\ud83d\\ud83d"}', "surrogate"),
    "surrogate in a key": (b'{"a\\udc00b": 1}', "surrogate"),
    "nested 1000 deep (arrays)": (b"[" * 1000 + b"]" * 1000, "nested"),
    "nested 1000 deep (objects)": (b'{"a":' * 1000 + b"1" + b"}" * 1000, "nested"),
    "5000-digit integer": (b'{"days": ' + b"9" * 5000 + b"}", "number"),
    "5000-digit float": (b'{"lon": 1' + b"0" * 5000 + b".5}", "number"),
    "float overflowing to infinity": (b'{"lon": 1e999}', "number"),
    "NaN": (b'{"lon": NaN}', "NaN"),
    "NUL character": (b'{"name": "a\\u0000b"}', "NUL"),
    "not UTF-8": (b'{"name": "\xff\xfe\xfd"}', "UTF-8"),
}


@pytest.fixture(scope="module")
def hostile(demo_db, demo_tokens, tmp_path_factory):
    """An app over a private copy of the demo street, an admin client, and its registry."""
    from web import create_app

    url = copy_demo(demo_db, tmp_path_factory.mktemp("hostile"))
    registry = Registry(open_store(url))
    app = create_app({**TEST_CONFIG, "DATABASE_URL": url, "REGISTRY": registry})
    admin = token_client(app, create_token(registry, find_user(registry, "admin").id, "hostile", 1)[0])
    return app, admin, registry


def _json_operations(client) -> list[tuple[str, str]]:
    """Every (method, path) of the OpenAPI document that takes a JSON body, plus the bulk locate."""
    spec = client.get("/api/v1/openapi.json").get_json()
    fill = {"{code}": MICRO_GRID, "{user_id}": "1", "{token_id}": "1", "{issue_id}": "1", "{point_id}": "1"}
    out = [("POST", "/api/v1/locate")]
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete") and "application/json" in operation.get(
                "requestBody", {}
            ).get("content", {}):
                for name, value in fill.items():
                    path = path.replace(name, value)
                out.append((method.upper(), path))
    return out


def _assert_refused(response, word: str, where: str) -> None:
    assert response.status_code == 400, (where, response.status_code, response.get_data(as_text=True)[:300])
    error = response.get_json()["error"]
    assert error["code"] == "malformed_json", (where, error)
    assert word.lower() in error["message"].lower(), (where, error)
    assert any("\u4e00" <= ch <= "\u9fff" for ch in error["message"]), error  # bilingual: Chinese first


@pytest.mark.parametrize("shape", list(HOSTILE_BODIES))
def test_every_json_route_refuses_hostile_json(hostile, shape):
    _, admin, _ = hostile
    body, word = HOSTILE_BODIES[shape]
    operations = _json_operations(admin)
    assert len(operations) >= 10  # the document lists the JSON routes
    for method, path in operations:
        for content_type in ("application/json", "application/geo+json; charset=utf-8"):
            response = admin.open(path, method=method, data=body, content_type=content_type)
            _assert_refused(response, word, f"{method} {path} {content_type}")


def test_surrogates_in_stored_text_are_refused_before_anything_is_written(hostile):
    """Issue text, area names and user names with a lone surrogate used to reach the database (500)."""
    app, admin, registry = hostile
    import shapely

    row = registry.areas(parent_code="510104001001001").iloc[0]
    point = shapely.point_on_surface(row.geometry)
    issue = f'{{"category": "dispute", "description": "a\\ud800b", "lon": {point.x}, "lat": {point.y}}}'
    with registry.store.engine.connect() as conn:
        issues_before = conn.execute(sa.select(sa.func.count()).select_from(t.issues)).scalar()
    _assert_refused(admin.post("/api/v1/issues", data=issue, content_type="application/json"), "surrogate", "issue")
    name_before = registry.areas(codes=[MICRO_GRID]).iloc[0]["name"]
    r = admin.patch(f"/api/v1/areas/{MICRO_GRID}", data='{"name": "\\udbff名"}', content_type="application/json")
    _assert_refused(r, "surrogate", "area")
    user = '{"name": "sur1", "role": "staff", "areas": ["510104001001"], "password": "Long-enough-1", '
    user += '"display_name": "\\ud800"}'
    _assert_refused(admin.post("/api/v1/users", data=user, content_type="application/json"), "surrogate", "user")
    with registry.store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.issues)).scalar() == issues_before
    assert registry.areas(codes=[MICRO_GRID]).iloc[0]["name"] == name_before
    assert find_user(registry, "sur1") is None


def test_valid_escapes_still_work(hostile):
    """Paired surrogates (an escaped emoji), an escaped backslash before ``u`` and ordinary depth are fine."""
    _, admin, registry = hostile
    user_id = find_user(registry, "staff").id
    body = '{"display_name": "笑\\ud83d\\ude00 \\\\ud800", "phone": "13800000000"}'
    r = admin.patch(f"/api/v1/users/{user_id}", data=body, content_type="application/json")
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["display_name"] == "笑\U0001f600 \\ud800"
    deep_but_fine = {"type": "FeatureCollection", "features": [], "x": [[[[[[[[1]]]]]]]]}
    r = admin.post("/api/v1/locate", json=deep_but_fine)
    assert r.status_code == 400 and r.get_json()["error"]["code"] == "empty_body"  # parsed, then judged


PNG_HEAD = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x4e\x20\x00\x00\x4e\x20\x08\x02\x00\x00\x00\xff\x80"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (PNG_HEAD + bytes(random.Random(1).randrange(256) for _ in range(300)), "bad_encoding"),
        (b"\xff\xfe\x00\xd8lon,lat\n", "bad_encoding"),
        (bytes(range(256)), "bad_encoding"),
        (bytes(random.Random(1).randrange(256) for _ in range(300)), "bad_file"),  # happens to decode as GB18030
    ],
    ids=["png", "utf16-bom", "every-byte", "gb18030-noise"],
)
def test_binary_csv_to_locate_is_a_clear_400(hostile, body, code):
    _, admin, _ = hostile
    r = admin.post("/api/v1/locate", data=body, content_type="text/csv")
    assert r.status_code == 400, r.get_data(as_text=True)[:300]
    error = r.get_json()["error"]
    assert error["code"] == code
    if code == "bad_encoding":
        assert "UTF-8" in error["message"] and "GB18030" in error["message"]


ODD = ["%ED%A0%80", "%00", "%C0%AF", "%EF%BF%BF", "%E2%80%AE", "a%CC%81" * 50, "%F4%90%80%80", "%FF", "１０４"]
ODD_URLS = [
    "/api/v1/areas/{o}",
    "/api/v1/areas?level={o}",
    "/api/v1/areas?parent={o}",
    "/api/v1/areas?bbox={o},30,105,31",
    "/api/v1/locate?lon={o}&lat=30",
    "/api/v1/locate?lon=104&lat=30&crs={o}",
    "/api/v1/buildings?area={o}",
    "/api/v1/service-points?kind={o}&area=510104",
    "/api/v1/audit?user={o}&object_type={o}",
    "/api/v1/audit?since={o}",
    "/api/v1/coverage?kind={o}",
    "/api/v1/tokens?user_id={o}",
    "/api/v1/generations?{o}={o}",
    "/api/v1/{o}",
    "/api/v1/issues?area={o}&category={o}&state={o}",
    "/api/v1/issues/stats?area={o}",
    "/audit?user={o}",
    "/issues?area={o}&category={o}",
    "/login?next={o}",
]


@pytest.mark.parametrize("odd", ODD, ids=[f"odd{i}" for i in range(len(ODD))])
def test_odd_unicode_in_paths_and_query_strings(hostile, odd):
    _, admin, _ = hostile
    for template in ODD_URLS:
        url = template.format(o=odd)
        r = admin.get(url)
        assert r.status_code < 500, (url, r.get_data(as_text=True)[:300])
        if r.status_code >= 400 and url.startswith("/api/"):
            assert set(r.get_json()["error"]) >= {"code", "message"}, url


def test_the_error_body_is_plain_json(hostile):
    """The refusal is itself valid UTF-8 JSON: the bad character is named by its code, never echoed."""
    _, admin, _ = hostile
    r = admin.post("/api/v1/issues", data=HOSTILE_BODIES["lone high surrogate"][0], content_type="application/json")
    error = json.loads(r.get_data().decode("utf-8"))["error"]
    assert error["code"] == "malformed_json" and "\\ud800" in error["message"]
    assert not any("\ud800" <= ch <= "\udfff" for ch in json.dumps(error, ensure_ascii=False))
    assert "details" not in error  # nothing of the body is sent back


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ('{"a": "' + "[" * 200 + '"}', 1),  # brackets inside strings do not count
        ('{"a": "\\"' + "{" * 200 + '\\\\"}', 1),  # nor after escaped quotes and backslashes
        ('["\\\\\\"]]]]", [[]]]', 3),
        ("[" * 65 + '"' + "]" * 65 + '"' + "]" * 65, 65),  # closers inside a string cannot hide the depth
    ],
)
def test_depth_skips_strings(text, depth):
    from web.bodies import MAX_DEPTH, _depth, loads

    assert _depth(text.encode()) == depth
    if depth <= MAX_DEPTH:
        json.loads(text)  # the cases are valid JSON
    else:
        with pytest.raises(Exception, match="nested deeper"):
            loads(text.encode())
