"""Edits racing publish and discard from several threads and processes on one SQLite file (issue 9, item 3).

Every worker uses the domain functions of :mod:`boundaries.editing` on its own registry (one per process, shared
by that process's threads). The test checks, at the end:

- every published generation's areas are exactly what they were right after it was published;
- nothing written into a discarded draft survives the discard (no row is valid from or retired at it);
- every edit that answered "done in generation G" was committed before G was published or discarded
  (its audit entry comes before the publish/discard entry of G; the write lock orders the audit ids).
"""

from __future__ import annotations

import hashlib
import multiprocessing
import random
import threading
import time
import traceback

import shapely

from boundaries import editing
from boundaries.registry import Registry
from boundaries.scope import ScopedRegistry
from boundaries.storage import open_store
from core.audit import Actor, entries
from core.errors import ConflictError, NotFoundError
from core.scope import Scope
from tests.conftest import copy_demo

RACE_S = 4.0
#: Roles of the threads of each spawned process, and of the test process itself.
PROCESS_ROLES = (("edit", "edit", "publish"), ("edit", "discard", "edit"))
THREAD_ROLES = ("edit", "edit", "publish", "discard")


def _snapshot(store, generation: int) -> list[list]:
    """The areas valid in a generation, as comparable rows (geometry by its hash)."""
    return sorted(
        [
            r["id"],
            r["code"],
            r["name"],
            r["kind"],
            r["parent_code"],
            r["generation_low"],
            hashlib.sha256(shapely.to_wkb(r["geometry"])).hexdigest(),
        ]
        for r in store.areas(generation)
    )


def _run_role(registry, role: str, tag: str, leaves: list[str], seed: int, until: float, out: dict) -> None:
    view = ScopedRegistry(registry, Scope.everything(), Actor(None, f"race-{tag}", "race"))
    rng = random.Random(seed)
    i = 0
    try:
        while time.monotonic() < until:
            i += 1
            if role == "edit":
                code, name = rng.choice(leaves), f"{tag}-{i}"
                try:
                    result = editing.update_area(view, code, name=name)
                except ConflictError:
                    continue
                out["edits"].append([code, name, result["generation"]])
            elif role == "publish":
                time.sleep(rng.uniform(0, 0.01))
                try:
                    generation = editing.publish(view)
                except NotFoundError:  # no draft at the moment
                    continue
                out["published"].append([generation, _snapshot(registry.store, generation)])
            else:
                time.sleep(rng.uniform(0, 0.01))
                try:
                    out["discarded"].append(editing.discard(view))
                except NotFoundError:
                    continue
    except Exception:  # noqa: BLE001 - reported to the test, which fails on any
        out["errors"].append(traceback.format_exc())


def _run_threads(registry, roles, tag, leaves, seed, until) -> dict:
    out = {"edits": [], "published": [], "discarded": [], "errors": []}
    threads = [
        threading.Thread(target=_run_role, args=(registry, role, f"{tag}{k}", leaves, seed + k, until, out))
        for k, role in enumerate(roles)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return out


def _process_main(url, roles, tag, leaves, seed, ready, queue) -> None:
    registry = Registry(open_store(url))
    registry.store.areas(registry.current_generation(), geometry=False)  # warm up before the start line
    ready.wait(timeout=120)
    queue.put(_run_threads(registry, roles, tag, leaves, seed, time.monotonic() + RACE_S))


def test_edits_racing_publish_and_discard_never_change_history(demo_db, tmp_path):
    url = copy_demo(demo_db, tmp_path)
    registry = Registry(open_store(url))
    current = registry.current_generation()
    leaves = sorted(r["code"] for r in registry.store.areas(current, level="micro_grid", geometry=False))[:8]
    initial = _snapshot(registry.store, current)

    ctx = multiprocessing.get_context("spawn")
    ready, queue = ctx.Barrier(len(PROCESS_ROLES) + 1), ctx.Queue()
    processes = [
        ctx.Process(target=_process_main, args=(url, roles, f"p{n}-", leaves, 100 * n, ready, queue))
        for n, roles in enumerate(PROCESS_ROLES)
    ]
    for process in processes:
        process.start()
    ready.wait(timeout=120)
    results = [_run_threads(registry, THREAD_ROLES, "t-", leaves, 7, time.monotonic() + RACE_S)]
    results += [queue.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0

    errors = [e for r in results for e in r["errors"]]
    assert errors == []
    edits = [e for r in results for e in r["edits"]]
    published = [p for r in results for p in r["published"]]
    discarded = [d for r in results for d in r["discarded"]]
    assert len(edits) >= 10 and published and discarded  # the race really ran

    # 1. published generations never change
    assert _snapshot(registry.store, current) == initial
    for generation, snapshot in published:
        assert _snapshot(registry.store, generation) == snapshot, f"published generation {generation} changed"

    # 2. a discard leaves nothing of its draft behind
    with registry.store.transaction() as conn:
        left = {d: registry.store.draft_changes(conn, d) for d in discarded}
    assert {d: [r["code"] for r in rows] for d, rows in left.items() if rows} == {}

    # 3. an edit reported as made in generation G was committed while G was still the draft
    area_log, _ = entries(registry.store.engine, object_type="area", per_page=100_000)
    edit_id = {(e["object_id"], e["after"]["name"]): e["id"] for e in area_log if e["action"] == "update"}
    generation_log, _ = entries(registry.store.engine, object_type="generation", per_page=100_000)
    closed_id = {int(e["object_id"]): e["id"] for e in generation_log if e["action"] in ("publish", "discard")}
    late = [
        (code, name, generation)
        for code, name, generation in edits
        if generation in closed_id and edit_id[(code, name)] > closed_id[generation]
    ]
    assert late == [], f"{len(late)} of {len(edits)} edits were written after their draft was closed"
