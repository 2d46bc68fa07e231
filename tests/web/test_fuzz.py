"""Schema-driven fuzzing of the JSON API with schemathesis: no generated request may get a 5xx.

Every operation in ``/api/v1/openapi.json`` is called with generated parameters and bodies (valid and
invalid), as an administrator so that every route is reached past the access check. The number of examples
per operation is bounded (``WEIGE_FUZZ_EXAMPLES``, default 20) so CI stays quick.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

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


@pytest.fixture(scope="module")
def fuzz_schema(fuzz_app):
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", fuzz_app)


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
