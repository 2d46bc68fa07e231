"""The first request after a start: a saved index and lean area columns, no outline read to locate a point."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from boundaries.importer import import_areas
from boundaries.registry import Registry
from boundaries.storage import Store, open_store
from geo.locate import locate_exact


def tessellation(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    frame = shapely.box(104.0, 30.6, 104.1, 30.7)
    seeds = shapely.multipoints(np.column_stack([rng.uniform(104.0, 104.1, n), rng.uniform(30.6, 30.7, n)]))
    cells = shapely.voronoi_polygons(seeds, extend_to=frame)
    return np.asarray(shapely.intersection(shapely.get_parts(cells), frame))


@pytest.fixture
def restarted(tmp_path, monkeypatch):
    """A published level of 300 micro-grids whose index the first process saved, and a new process's registry
    whose store refuses every read of area geometry except :meth:`Store.area_geometries` (counted)."""
    polys = tessellation(300, 5)
    url = f"sqlite:///{tmp_path / 'weige.db'}"
    first = Registry(open_store(url))
    frame = gpd.GeoDataFrame(
        {"code": [f"{i:04d}" for i in range(len(polys))], "name": [f"微网格{i}" for i in range(len(polys))]},
        geometry=polys,
        crs="EPSG:4326",
    )
    import_areas(first, frame, "micro_grid", code_field="code", name_field="name", publish=True)
    first.index("micro_grid")  # builds and saves it
    stored = first.areas(level="micro_grid")  # ordered by code, as the index
    fetched: list[int] = []

    def no_geometry(self, *args, geometry=True, **kwargs):
        assert not geometry, "area geometry read"
        return original_areas(self, *args, geometry=geometry, **kwargs)

    def lean_columns(self, generation, columns, level=None):
        assert "geometry" not in columns, "area geometry read"
        return original_columns(self, generation, columns, level=level)

    def counted(self, ids):
        ids = list(ids)
        fetched.extend(ids)
        return original_geometries(self, ids)

    original_areas = Store.areas
    original_columns, original_geometries = (
        getattr(Store, "area_columns", None),
        getattr(Store, "area_geometries", None),
    )
    monkeypatch.setattr(Store, "areas", no_geometry)
    monkeypatch.setattr(Store, "area_columns", lean_columns, raising=False)
    monkeypatch.setattr(Store, "area_geometries", counted, raising=False)
    return Registry(open_store(url)), np.asarray(stored.geometry.values), stored["code"].tolist(), fetched


def test_a_fresh_registry_locates_without_reading_area_geometry(restarted):
    registry, polys, codes, fetched = restarted
    rng = np.random.default_rng(8)
    x, y = rng.uniform(103.99, 104.11, 300), rng.uniform(30.59, 30.71, 300)
    exact = locate_exact(polys, x, y)
    for i in range(len(x)):
        found = registry.locate_point(x[i], y[i])
        want = codes[exact.index[i]] if exact.index[i] >= 0 else ""
        assert (found["code"], found["status"]) == (want, "ok" if want else "outside")
    assert fetched == []  # no point lay on an edge: not one outline read
    assert registry.chain(codes[0])[0]["code"] == codes[0]  # the hierarchy is read without geometry too


def test_points_on_shared_edges_fetch_only_their_outlines(restarted):
    registry, polys, codes, fetched = restarted
    ring = shapely.get_coordinates(shapely.boundary(polys[10]))
    mids = (ring[:-1] + ring[1:]) / 2
    assert locate_exact(polys, ring[:3, 0], ring[:3, 1]).on_boundary.all()  # vertices lie on edges exactly
    for px, py in [*ring[:3], *mids[:3]]:
        exact = locate_exact(polys, [px], [py])
        found = registry.locate_point(px, py)
        assert (found["code"], found["on_boundary"]) == (codes[exact.index[0]], bool(exact.on_boundary[0]))
    assert 0 < len(set(fetched)) <= 12  # the few areas around those points, not the 300
    bulk = registry.locate(mids[:, 0], mids[:, 1])  # many points at once take the bounding-box tree
    assert bulk["code"].tolist() == [codes[i] for i in locate_exact(polys, mids[:, 0], mids[:, 1]).index]
    assert len(set(fetched)) < 30
