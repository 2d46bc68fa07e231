"""Several processes on one PostgreSQL (PostGIS when the server has it) database: races and shared state.

The main paths run on every backend in ``test_contract.py``; these need a server database's real row locks and
several stores or web apps at once.
"""

from __future__ import annotations

import pytest

from accounts.demo import create_demo_users
from boundaries import editing
from boundaries.demo import load_demo
from boundaries.registry import Registry
from boundaries.scope import ScopedRegistry
from boundaries.storage import open_store
from tests.conftest import at_once, demo_password


@pytest.fixture(scope="module")
def pg_registry(pg_server):
    registry = Registry(open_store(pg_server.database("races")))
    assert registry.store.engine.dialect.name == "postgresql"
    load_demo(registry)
    create_demo_users(registry, password=demo_password)
    yield registry
    registry.store.engine.dispose()


def test_change_sets_publish_once_and_conflict_under_races(pg_registry):
    """On PostgreSQL (real row locks, READ COMMITTED): the same change set published by two threads at once is
    published once; two change sets of the same area published at once: one wins, the other conflicts."""
    import threading

    from core.audit import SYSTEM, Actor
    from core.errors import ChangeSetConflictError, ConflictError
    from core.scope import Scope

    leaves = pg_registry.areas(parent_code="510104001001001")["code"].tolist()
    admin = ScopedRegistry(pg_registry, Scope.everything(), SYSTEM)
    change_set = editing.update_area(admin, leaves[1], name="一次")["generation"]
    published_before = [g["id"] for g in pg_registry.generations() if g["state"] == "published"]

    def race(calls):
        outcomes, barrier = [], threading.Barrier(len(calls))

        def run(call):
            barrier.wait()
            try:
                outcomes.append(("ok", call()))
            except ChangeSetConflictError:
                outcomes.append(("conflict", None))
            except ConflictError:
                outcomes.append(("not_open", None))

        threads = [threading.Thread(target=run, args=(c,)) for c in calls]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return sorted(kind for kind, _ in outcomes)

    assert race([lambda: pg_registry.publish(SYSTEM, change_set=change_set)] * 2) == ["not_open", "ok"]
    published_after = [g["id"] for g in pg_registry.generations() if g["state"] == "published"]
    assert len(published_after) == len(published_before) + 1
    views = [ScopedRegistry(pg_registry, Scope.everything(), Actor(900 + i, f"p{i}", "")) for i in range(2)]
    for i, view in enumerate(views):
        editing.update_area(view, leaves[2], name=f"并发{i}")
    assert race([lambda v=v: editing.publish(v) for v in views]) == ["conflict", "ok"]


def test_leases_on_postgresql(pg_registry):
    """Several workers on one PostgreSQL database: the escalation lease is taken by exactly one of them."""

    from boundaries.storage import open_store

    url = pg_registry.store.engine.url.render_as_string(hide_password=False)
    stores = [open_store(url) for _ in range(4)]
    got = at_once([lambda i=i: stores[i].acquire_lease("pg-job", f"worker-{i}", 60) for i in range(len(stores))])
    for store in stores:
        store.engine.dispose()
    assert sorted(got) == [False, False, False, True]


def test_web_workers_on_postgresql_share_the_session_key(pg_registry):
    """Each worker on a server database made its own random key, so a session one worker made was refused by the
    others (and ended with a restart)."""
    from tests.conftest import TEST_CONFIG
    from web import create_app

    url = pg_registry.store.engine.url.render_as_string(hide_password=False)
    config = {k: v for k, v in TEST_CONFIG.items() if k != "SECRET_KEY"}
    apps = [create_app({**config, "DATABASE_URL": url}) for _ in range(2)]
    keys = {app.config["SECRET_KEY"] for app in apps}
    assert len(keys) == 1 and len(next(iter(keys))) == 64
    assert pg_registry.store.shared_secret("session") in keys
    for app in apps:
        app.extensions["weige.registry"].store.engine.dispose()


def test_a_bulk_insert_is_a_few_statements_not_one_per_row(pg_server):
    """psycopg 3 sent one INSERT per row and each fired the statement-level revision trigger: 30,000 buildings in
    one transaction took 5.5 s and 300,000 did not finish in 8 minutes (updates of one row piling up)."""
    import numpy as np
    import shapely

    from boundaries.storage.geometry import encode as wkb_row

    store = open_store(pg_server.database("bulk"))
    try:
        x = np.linspace(104.0, 104.1, 3000)
        rows = [{"name": f"b{i}", "lon": v, "lat": 30.6, **wkb_row(shapely.box(v, 30.6, v + 1e-5, 30.60001))}
                for i, v in enumerate(x)]  # fmt: skip
        before = store.revision("assets")
        with store.transaction() as conn:
            store.insert_rows(conn, "buildings", rows)
        assert len(store.buildings(geometry=False)) == 3000
        assert 0 < store.revision("assets") - before <= 3  # one bump per statement of up to 1,000 rows
    finally:
        store.engine.dispose()
