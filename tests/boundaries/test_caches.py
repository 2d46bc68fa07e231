"""Caches that stay right across processes: revisions bumped by the database, one build per key, saved indexes."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
import sqlalchemy as sa

from boundaries.caches import Cache
from boundaries.importer import import_areas
from boundaries.registry import Registry
from boundaries.storage import open_store

ROOT = Path(__file__).resolve().parents[2]


def squares(n=3):
    geoms = [shapely.box(104.0 + i * 0.01, 30.6, 104.01 + i * 0.01, 30.61) for i in range(n)]
    return gpd.GeoDataFrame(
        {"code": [f"{i + 1:03d}" for i in range(n)], "name": [f"网格{i + 1}" for i in range(n)]},
        geometry=geoms,
        crs="EPSG:4326",
    )


@pytest.fixture
def published(tmp_path):
    url = f"sqlite:///{tmp_path / 'weige.db'}"
    registry = Registry(open_store(url))
    import_areas(registry, squares(), "grid", code_field="code", name_field="name", publish=True)
    return url, registry


def run_elsewhere(url: str, code: str) -> None:
    """Run Python ``code`` in another process with ``registry`` open on ``url``."""
    script = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "from boundaries.registry import Registry\n"
        "from boundaries.storage import open_store\n"
        "from boundaries.scope import ScopedRegistry\nfrom core.scope import Scope\n"
        "from boundaries import editing\n"
        "registry = Registry(open_store(sys.argv[2]))\n"
        "view = ScopedRegistry(registry, Scope.everything())\n" + code
    )
    done = subprocess.run([sys.executable, "-c", script, str(ROOT), url], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_every_write_bumps_the_revision_whoever_writes(published):
    url, registry = published
    areas, assets = registry.store.revision("areas"), registry.store.revision("assets")
    with registry.store.engine.begin() as conn:  # a write that bypasses the application: a person at a prompt
        conn.execute(sa.text("UPDATE areas SET name = name || '!' WHERE code = '001'"))
    assert registry.store.revision("areas") > areas
    assert registry.store.revision("assets") == assets
    with registry.store.engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO service_points (name, kind, lon, lat) VALUES ('站', 'clinic', 104.005, 30.605)")
        )
    assert registry.store.revision("assets") == assets + 1


def test_a_draft_changed_by_another_process_is_seen_at_once(published):
    url, registry = published
    from boundaries import editing
    from boundaries.scope import ScopedRegistry
    from core.scope import Scope

    view = ScopedRegistry(registry, Scope.everything())
    editing.update_area(view, "002", name="网格二")
    draft = registry.store.draft_generation_id()
    x, y = [104.015], [30.605]  # inside 002
    assert registry.locate(x, y, level="grid", generation=draft)["code"].tolist() == ["002"]
    # another process redraws 002 away from the point and 003 over it
    run_elsewhere(
        url,
        "from shapely import box\n"
        "from shapely.geometry import mapping\n"
        "editing.update_area(view, '002', geometry=mapping(box(104.01, 30.6, 104.012, 30.61)))\n"
        "editing.update_area(view, '003', geometry=mapping(box(104.012, 30.6, 104.03, 30.61)))\n",
    )
    assert registry.locate(x, y, level="grid", generation=draft)["code"].tolist() == ["003"]
    # the other process publishes: this one answers from the new generation on its next request
    run_elsewhere(url, "print(registry.publish())")
    assert registry.current_generation() == draft
    assert registry.locate(x, y, level="grid")["code"].tolist() == ["003"]


def test_the_command_line_sees_a_draft_the_service_made(published, tmp_path):
    url, registry = published
    from boundaries import editing
    from boundaries.scope import ScopedRegistry
    from core.scope import Scope

    registry.locate([104.015], [30.605], level="grid")  # the service has its caches warm
    editing.update_area(
        ScopedRegistry(registry, Scope.everything()),
        "002",
        geometry=shapely.geometry.mapping(shapely.box(104.01, 30.6, 104.012, 30.61)),
    )
    draft = registry.store.draft_generation_id()
    points = tmp_path / "points.csv"
    points.write_text("lon,lat\n104.015,30.605\n104.011,30.605\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    done = subprocess.run(
        [sys.executable, str(ROOT / "server.py"), "locate", str(points), str(out), "--generation", str(draft)]
        + ["--level", "grid", "--db", url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    import csv

    with out.open(encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["status"] for r in rows] == ["outside", "ok"]  # the redrawn 002 left a gap at the first point
    assert rows[1]["code"] == "002"


def test_threads_asking_at_once_after_a_publish_build_the_index_once(published):
    url, registry = published
    fresh = Registry(open_store(url), index_dir=False)  # no saved indexes: every index is built
    barrier = threading.Barrier(8)
    found = []

    def ask():
        barrier.wait()
        found.append(fresh.index("grid")[0])

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(found) == 8 and all(index is found[0] for index in found)
    assert fresh.indexes.builds == 1


def test_a_published_index_is_saved_and_loaded_by_a_new_process(published, tmp_path):
    url, registry = published
    index, _ = registry.index("grid")
    assert isinstance(index.arrays["grid"], np.ndarray)
    saved = list((tmp_path / "indexes").glob("grid-g*"))
    assert len(saved) == 1 and (saved[0] / "grid.json").exists()
    other = Registry(open_store(url))  # as a new process would
    loaded, _ = other.index("grid")
    assert isinstance(loaded.arrays["grid"], np.memmap)  # loaded from the files, not built
    assert other.locate([104.015], [30.605], level="grid")["code"].tolist() == ["002"]


@pytest.mark.parametrize("damage", ["no grid.json", "older layout", "truncated array"])
def test_a_damaged_saved_index_is_rebuilt_from_the_outlines_and_saved_again(published, damage):
    """A new process meeting a damaged folder fetches every outline, builds, answers, and heals the folder."""
    url, registry = published
    registry.index("grid")
    folder = next((Path(registry.index_folder.root)).glob("grid-g*"))
    if damage == "no grid.json":  # e.g. an interrupted removal: a folder that can never load
        (folder / "grid.json").unlink()
    elif damage == "older layout":
        meta = json.loads((folder / "grid.json").read_text())
        (folder / "grid.json").write_text(json.dumps({**meta, "format": meta["format"] - 1}))
    else:
        with open(folder / "uv.npy", "r+b") as f:
            f.truncate(1000)
    other = Registry(open_store(url))  # as a new process would
    assert other.locate([104.015], [30.605], level="grid")["code"].tolist() == ["002"]
    assert isinstance(other.index("grid")[0].arrays["grid"], np.ndarray)  # built, not loaded
    third = Registry(open_store(url))
    assert isinstance(third.index("grid")[0].arrays["grid"], np.memmap)  # the folder was saved again
    assert third.locate([104.015], [30.605], level="grid")["code"].tolist() == ["002"]


def test_the_cache_is_a_bounded_lru():
    cache = Cache(size=2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # a is now the most recent
    cache.put("c", 3)
    assert cache.get("b") is None and cache.get("a") == 1 and cache.get("c") == 3
