"""Publishing while the old generation serves: the new index is built in the background, no request waits."""

from __future__ import annotations

import threading
import time

import geopandas as gpd
import shapely

import boundaries.registry as registry_module
from boundaries import editing
from boundaries.importer import import_areas
from boundaries.registry import Registry
from boundaries.scope import ScopedRegistry
from boundaries.storage import open_store
from core.scope import Scope


def test_a_request_during_the_build_answers_from_the_old_generation_then_from_the_new(tmp_path, monkeypatch):
    registry = Registry(open_store(f"sqlite:///{tmp_path / 'weige.db'}"), index_dir=False, prepare_on_publish=True)
    squares = [shapely.box(104.0 + i * 0.01, 30.6, 104.01 + i * 0.01, 30.61) for i in range(3)]
    frame = gpd.GeoDataFrame({"code": ["001", "002", "003"], "name": ["一", "二", "三"]}, geometry=squares, crs=4326)
    import_areas(registry, frame, "micro_grid", code_field="code", name_field="name", publish=True)
    registry.index("micro_grid")  # the first generation's index, built by the first request
    view = ScopedRegistry(registry, Scope.everything())
    point = (104.015, 30.605)  # in 002; the next generation gives this place to 003
    assert view.locate_point(*point)["code"] == "002"
    first = view.resolve_generation(None)

    release, started = threading.Event(), threading.Event()
    real = registry_module.PolygonIndex

    def slow_index(polygons, *args, **kwargs):  # the next generation's build takes until released
        started.set()
        assert release.wait(30)
        return real(polygons, *args, **kwargs)

    monkeypatch.setattr(registry_module, "PolygonIndex", slow_index)
    editing.update_area(view, "002", geometry=shapely.geometry.mapping(shapely.box(104.01, 30.6, 104.012, 30.61)))
    editing.update_area(view, "003", geometry=shapely.geometry.mapping(shapely.box(104.012, 30.6, 104.03, 30.61)))
    second = registry.publish()
    assert started.wait(30)  # the background build has begun and is stuck

    during = ScopedRegistry(registry, Scope.everything())  # a new request
    t = time.perf_counter()
    generation = during.locating_generation(None)
    found = during.locate_point(*point, generation=generation)
    assert time.perf_counter() - t < 5  # answered without waiting for the build
    assert (during.resolve_generation(None), generation, found["code"]) == (second, first, "002")

    release.set()
    registry.preparation.join(30)
    after = ScopedRegistry(registry, Scope.everything())
    generation = after.locating_generation(None)
    assert (generation, after.locate_point(*point, generation=generation)["code"]) == (second, "003")
    assert after.locating_generation(first) == first  # an explicit generation is always honoured
