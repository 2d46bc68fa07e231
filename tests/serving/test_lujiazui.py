"""Coverage on real data: Lujiazui's buildings, its police, hospital and school POIs, and its roads."""

from __future__ import annotations

import warnings

import networkx as nx
import numpy as np
import pytest
import shapely

from boundaries.assets import import_buildings, import_roads, import_service_points
from boundaries.importer import import_areas
from boundaries.scope import ScopedRegistry
from core.scope import Scope
from geo.crs import from_wgs84
from geo.io import read_vector
from geo.topology import areas_m2
from serving.analysis import analyse
from tests.conftest import shared_file

KINDS = ("police", "hospital", "school")


@pytest.fixture(scope="module")
def lujiazui(tmp_path_factory):
    from boundaries.registry import Registry
    from boundaries.storage import open_store

    registry = Registry(open_store(f"sqlite:///{tmp_path_factory.mktemp('ljz') / 'weige.db'}"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the OSM extract repeats feature ids; pyogrio says so
        buildings = read_vector(shared_file("lujiazui/buildings.geojson"))
        pois = read_vector(shared_file("lujiazui/pois.geojson"))
        roads = read_vector(shared_file("lujiazui/roads.geojson"))
    area = buildings.copy().iloc[:1]
    area["geometry"] = [shapely.box(*buildings.total_bounds).buffer(0.002)]
    area["name"] = "陆家嘴(测试)"
    import_areas(registry, area, "street", name_field="name", publish=True)
    import_buildings(registry, buildings, name_field="name", height_field="height")
    import_service_points(registry, pois[pois["kind"].isin(KINDS)], kind_field="kind", name_field="name")
    import_roads(registry, roads, name_field="name", kind_field="kind")
    return ScopedRegistry(registry, Scope.everything())


def _brute(result):
    b = result.buildings
    bx, by = from_wgs84(b["lon"].to_numpy(float), b["lat"].to_numpy(float), result.crs)
    p = result.points
    sx, sy = from_wgs84(p["lon"].to_numpy(float), p["lat"].to_numpy(float), result.crs)
    d = np.hypot(bx[:, None] - sx[None, :], by[:, None] - sy[None, :])
    return d


@pytest.mark.realdata
@pytest.mark.parametrize("kind", KINDS)
def test_straight_line_coverage_matches_brute_force(lujiazui, kind):
    result = analyse(lujiazui, kind, reach_m=500)
    b = result.buildings
    assert len(b) == 1572 and len(result.points) >= 2
    # households follow the stated rule: footprint × floors ÷ 90 m², floors = height ÷ 3 m (else 1)
    stored = lujiazui.registry.store.buildings()
    footprints = np.asarray([row["geometry"] for row in stored], dtype=object)
    floors = np.array([row["floors"] for row in stored])
    assert (b["households"].to_numpy() == np.round(areas_m2(footprints) * floors / 90).astype(int)).all()
    assert (floors > 1).sum() > 500 and b["households"].sum() > 100_000
    d = _brute(result)
    assert np.allclose(b["nearest_m"], d.min(axis=1).round(1), atol=0.051)
    assert (b["covered"].to_numpy() == (d <= 500).any(axis=1)).all()
    ids = result.points["id"].to_numpy()
    expected = [";".join(str(i) for i in sorted(ids[row <= 500])) for row in d]
    assert b["points"].tolist() == expected
    summary = result.summary()
    households = b["households"].to_numpy()
    assert summary["households_covered"] == int(households[(d <= 500).any(axis=1)].sum())
    assert sum(h["buildings"] for h in summary["nearest_m"]["histogram"]) == len(b)
    # the one area holds every building
    row = result.areas.iloc[0]
    assert row["households"] == households.sum() and row["covered_households"] == summary["households_covered"]


@pytest.mark.realdata
@pytest.mark.parametrize("kind", KINDS)
def test_network_reach_is_never_larger_than_straight_line(lujiazui, kind):
    straight = analyse(lujiazui, kind, reach_m=800)
    network = analyse(lujiazui, kind, reach_m=800, network=True)
    s, n = straight.buildings, network.buildings
    assert (s["id"].to_numpy() == n["id"].to_numpy()).all()
    assert not (n["covered"] & ~s["covered"]).any()  # nothing the network reaches lies beyond straight reach
    finite = np.isfinite(n["nearest_m"].to_numpy(float))
    assert (n["nearest_m"].to_numpy()[finite] >= s["nearest_m"].to_numpy()[finite] - 0.1).all()
    assert n["covered"].sum() < s["covered"].sum()  # streets are not straight lines
    assert n["covered"].sum() > 0


@pytest.mark.realdata
def test_network_distances_match_shortest_paths(lujiazui):
    from geo.crs import geometries_from_wgs84
    from geo.network import WalkNetwork

    result = analyse(lujiazui, "police", reach_m=1000, network=True)
    roads = lujiazui.registry.store.roads()
    from boundaries.assets import roads as road_frame

    frame = road_frame(lujiazui.registry)
    frame = frame[frame["walkable"].astype(bool)]
    net = WalkNetwork(geometries_from_wgs84(frame.geometry.values, result.crs))
    assert len(roads) == 1778
    b = result.buildings.sample(60, random_state=1)
    bx, by = from_wgs84(b["lon"].to_numpy(float), b["lat"].to_numpy(float), result.crs)
    p = result.points
    sx, sy = from_wgs84(p["lon"].to_numpy(float), p["lat"].to_numpy(float), result.crs)
    bn, ba = net.snap(bx, by)
    sn, sa = net.snap(sx, sy)
    for i in range(len(b)):
        best = np.inf
        for j in range(len(p)):
            try:
                path = nx.shortest_path_length(net.graph, int(bn[i]), int(sn[j]), weight="length")
            except nx.NetworkXNoPath:
                continue
            best = min(best, ba[i] + path + sa[j])
        expected = best if best <= 1000 else np.inf
        got = b["nearest_m"].iloc[i]  # null (NaN) out of reach
        assert (np.isinf(expected) and np.isnan(got)) or abs(expected - got) < 0.11, (i, expected, got)


@pytest.mark.realdata
def test_reach_polygons_are_circles_or_street_areas(lujiazui):
    straight = analyse(lujiazui, "hospital", reach_m=500)
    network = analyse(lujiazui, "hospital", reach_m=500, network=True)
    circle = np.pi * 500**2
    assert np.allclose(areas_m2(straight.reach_polygons.geometry.values), circle, rtol=0.01)
    assert (areas_m2(network.reach_polygons.geometry.values) < circle).all()
