"""Schema-driven fuzzing of the JSON API with schemathesis: no generated request may get a 5xx.

Every operation in ``/api/v1/openapi.json`` is called with generated parameters and bodies (valid and
invalid), as an administrator so that every route is reached past the access check. The number of examples
per operation is bounded (``WEIGE_FUZZ_EXAMPLES``, default 20) so CI stays quick.

Beyond what the schema allows, the generated requests are mixed with the shapes outside testing found to
give 500s: JSON strings with lone UTF-16 surrogates or NUL, nesting past the limit, numbers of hundreds of
digits (schema hooks on the loaded schema), and odd Unicode in query strings and paths. Shapes the client's
JSON encoder will not produce — bytes that are not UTF-8, 5,000-digit numbers, 1,000-deep nesting,
``NaN``/``Infinity`` — are sent raw to every JSON operation by :func:`test_raw_hostile_json_is_refused`.
"""

from __future__ import annotations

import json
import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.tokens import create_token
from accounts.users import find_user, update_user
from boundaries.registry import Registry
from boundaries.storage import open_store
from tests.conftest import TEST_CONFIG, copy_demo

EXAMPLES = int(os.environ.get("WEIGE_FUZZ_EXAMPLES", "20"))


@pytest.fixture(scope="module")
def fuzz_app(demo_db, demo_tokens, tmp_path_factory):
    from web import create_app

    url = copy_demo(demo_db, tmp_path_factory.mktemp("fuzz"))
    registry = Registry(open_store(url))
    return create_app({**TEST_CONFIG, "DATABASE_URL": url, "REGISTRY": registry})


#: JSON values Python encodes but the app must refuse (400 malformed_json), each built from generated parts.
HOSTILE_VALUES = st.one_of(
    st.builds(str.__add__, st.text(max_size=5), st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)),
    st.text(max_size=5).map(lambda text: text + "\x00"),
    st.integers(65, 300).map(lambda depth: json.loads("[" * depth + "]" * depth)),
    st.integers(101, 4000).map(lambda digits: int("9" * digits)),
)
#: Odd but valid Unicode for query strings and path parameters.
ODD_TEXT = st.one_of(
    st.sampled_from(["\x00", "\u202e", "a\u0301" * 50, "\uffff", "１０４", "\U0010ffff", "\ufeff", "%ED%A0%80"]),
    st.text(st.characters(codec="utf-8", categories=["Cc", "Cf", "Mn", "Co", "Cn", "Nd"]), max_size=12),
)


def flatmap_case(context, case):
    """Put a hostile value into a JSON body's field, half of the time."""
    if "json" not in (case.media_type or "") or not isinstance(case.body, dict):
        return st.just(case)
    fields = sorted(k for k, v in case.body.items() if isinstance(v, str)) or sorted(case.body) or ["name"]

    def spoil(pair):
        # Set without schemathesis's change tracking: the spoiled body is not meant to match the schema, and
        # re-validating it would encode the lone surrogate in the test process.
        object.__setattr__(case, "body", {**case.body, pair[0]: pair[1]})
        return case

    return st.one_of(st.just(case), st.tuples(st.sampled_from(fields), HOSTILE_VALUES).map(spoil))


def _odd(values: dict):
    if not values:
        return st.just(values)
    return st.one_of(
        st.just(values), st.tuples(st.sampled_from(sorted(values)), ODD_TEXT).map(lambda kv: {**values, kv[0]: kv[1]})
    )


def flatmap_query(context, query):
    """Odd Unicode in one query parameter, half of the time."""
    return _odd(query)


def flatmap_path_parameters(context, path_parameters):
    """Odd Unicode in one path parameter, half of the time."""
    return _odd(path_parameters)


@pytest.fixture(scope="module")
def fuzz_schema(fuzz_app):
    loaded = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", fuzz_app)
    for hook in (flatmap_case, flatmap_query, flatmap_path_parameters):
        loaded.hook(hook)
    return loaded


schema = schemathesis.pytest.from_fixture("fuzz_schema")


def _admin_token(app) -> str:
    """A fresh admin token (the fuzzer may have disabled the admin or revoked earlier tokens)."""
    registry = app.extensions["weige.registry"]
    admin = find_user(registry, "admin")
    if not admin.active or admin.role != "admin":
        update_user(registry, admin.id, active=True, role="admin")
    return create_token(registry, admin.id, "fuzz", 1)[0]


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_never_answers_5xx(case, fuzz_app):
    response = case.call(headers={"Authorization": f"Bearer {_admin_token(fuzz_app)}"})
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} → {response.status_code}: {response.text[:300]}"
    )


def _raw_hostile_bodies():
    """JSON text no encoder writes: not UTF-8, 5,000-digit numbers, 1,000-deep nesting (built from generated parts)."""
    not_utf8 = st.binary(min_size=1, max_size=16).filter(lambda b: not _is_utf8(b))
    return st.one_of(
        not_utf8.map(lambda b: b'{"name": "' + b + b'"}'),
        st.integers(4301, 6000).map(lambda n: b'{"days": ' + b"9" * n + b"}"),
        st.integers(1000, 3000).map(lambda n: b"[" * n + b"]" * n),
        st.integers(1000, 3000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
        st.sampled_from([b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e999"]).map(lambda c: b'{"lat": ' + c + b"}"),
    )


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@settings(max_examples=max(EXAMPLES * 3, 30), deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_raw_hostile_json_is_refused(data, fuzz_app):
    spec = fuzz_app.test_client().get("/api/v1/openapi.json").get_json()
    operations = sorted(
        (method.upper(), path.replace("{", "").replace("}", "").replace("code", "510104001001001001"))
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict) and "application/json" in operation.get("requestBody", {}).get("content", {})
    )
    method, path = data.draw(st.sampled_from(operations + [("POST", "/api/v1/locate")]))
    path = "/".join("1" if part.endswith("_id") else part for part in path.split("/"))
    body = data.draw(_raw_hostile_bodies())
    client = fuzz_app.test_client()
    headers = {"Authorization": f"Bearer {_admin_token(fuzz_app)}"}
    response = client.open(path, method=method, data=body, content_type="application/json", headers=headers)
    assert response.status_code == 400, (method, path, response.status_code, response.get_data(as_text=True)[:300])
    assert response.get_json()["error"]["code"] == "malformed_json"
