"""Rate-limit counters in the database (issue 13 item 4): one count per window for every process of a deployment.

Run on SQLite and on the private PostgreSQL server: increments from many threads (and stores, as processes would
have) are never lost, an expired window starts again from the hit that finds it expired, and old rows are pruned.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from boundaries.storage import open_store
from boundaries.storage.rate_limits import RateCounters


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    """A fresh store on each backend."""
    if request.param == "sqlite":
        store = open_store(f"sqlite:///{tmp_path / 'rates.db'}")
    else:
        server = request.getfixturevalue("pg_server")
        store = open_store(server.database(f"rates_{tmp_path.name}".lower()[:60], postgis=False))
    yield store
    store.engine.dispose()


def test_threads_lose_no_increment(store):
    """8 threads x 50 hits, through two counters over one database (two processes): 400, each count seen once."""
    other = open_store(store.engine.url.render_as_string(hide_password=False))
    counters = [RateCounters(store), RateCounters(other)]

    def hits(i):
        return [counters[i % 2].hit("login:1.2.3.4", 60)[0] for _ in range(50)]

    with ThreadPoolExecutor(8) as pool:
        seen = [count for counts in pool.map(hits, range(8)) for count in counts]
    assert sorted(seen) == list(range(1, 401))  # every increment returned a different count: none lost
    assert counters[0].count("login:1.2.3.4") == 400
    assert counters[1].count("login:1.2.3.4") == 400
    assert counters[0].count("other") == 0
    other.engine.dispose()


def test_a_window_expires_and_starts_again(store):
    now = [1_800_000_000.0]
    counters = RateCounters(store, clock=lambda: now[0])
    assert counters.hit("k", 60) == (1, 1_800_000_060.0)
    assert counters.hit("k", 60, amount=2) == (3, 1_800_000_060.0)  # the window keeps its end
    assert counters.expires_at("k") == 1_800_000_060.0
    now[0] += 59.5
    assert counters.count("k") == 3
    now[0] += 0.5  # the window's end: expired
    assert counters.count("k") == 0
    assert counters.expires_at("k") is None
    assert counters.hit("k", 60) == (1, 1_800_000_120.0)  # a new window from this hit


def test_clear_reset_and_prune(store):
    now = [1_800_000_000.0]
    counters = RateCounters(store, clock=lambda: now[0], prune_every=None)
    counters.hit("a", 10)
    counters.hit("b", 100)
    counters.hit("c", 100)
    counters.clear("b")
    assert [counters.count(k) for k in "abc"] == [1, 0, 1]
    now[0] += 50
    assert counters.prune() == 1  # "a" expired: its row is gone
    assert counters.rows() == 1
    assert counters.clear_all() == 1
    assert counters.rows() == 0
    assert counters.ping()


def test_hits_prune_expired_rows_now_and_then(store):
    now = [1_800_000_000.0]
    counters = RateCounters(store, clock=lambda: now[0], prune_every=30)
    for i in range(20):
        counters.hit(f"ip:{i}", 10)
    assert counters.rows() == 20
    now[0] += 31  # every window ended, and the last prune is 31 s ago: the next hit deletes them
    counters.hit("ip:new", 10)
    assert counters.rows() == 1
