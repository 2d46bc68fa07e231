"""MCLP and LSCP suggestions: feasible, and optimal against brute force on small instances."""

from __future__ import annotations

import itertools

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from core.errors import InvalidInputError
from geo.crs import to_wgs84
from serving.analysis import CoverageResult
from serving.optimize import suggest

CRS = "EPSG:4544"


def _instance(seed: int, n_demand=14, n_existing=1, n_candidates=7, reach=300.0):
    rng = np.random.default_rng(seed)
    demand = rng.uniform(500_000, 501_500, (n_demand, 2))
    demand[:, 1] += 3_390_000
    existing = demand[:n_existing] + 20
    candidates = demand[rng.choice(n_demand, n_candidates, replace=False)] + rng.normal(0, 40, (n_candidates, 2))
    households = rng.integers(10, 120, n_demand)
    lon, lat = to_wgs84(demand[:, 0], demand[:, 1], CRS)
    buildings = gpd.GeoDataFrame(
        {"id": np.arange(1, n_demand + 1), "households": households, "lon": lon, "lat": lat},
        geometry=shapely.points(lon, lat),
        crs=4326,
    )
    result = CoverageResult("clinic", reach, False, None, CRS, buildings, gpd.GeoDataFrame(), pd.DataFrame(),
                            gpd.GeoDataFrame(), existing, demand)  # fmt: skip
    clon, clat = to_wgs84(candidates[:, 0], candidates[:, 1], CRS)
    cands = gpd.GeoDataFrame(
        {"name": [f"c{i}" for i in range(n_candidates)]}, geometry=shapely.points(clon, clat), crs=4326
    )
    return result, cands, demand, existing, candidates, households


def _covered(demand, sites, reach):
    if len(sites) == 0:
        return np.zeros(len(demand), bool)
    return (np.hypot(*(demand[:, None, :] - np.asarray(sites)[None, :, :]).transpose(2, 0, 1)) <= reach).any(axis=1)


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("k", [1, 2])
def test_mclp_matches_brute_force(seed, k):
    result, cands, demand, existing, candidates, households = _instance(seed)
    found = suggest(result, "mclp", k, cands)
    best = max(
        households[_covered(demand, np.vstack([existing, candidates[list(combo)]]), 300)].sum()
        for combo in itertools.combinations(range(len(candidates)), k)
    )
    assert found.households_covered_after == best
    assert len(found.new_sites) <= k and (found.new_sites["households_added"] > 0).all()
    assert found.households_covered_before == households[_covered(demand, existing, 300)].sum()
    assert found.new_sites["households_added"].sum() == found.households_covered_after - found.households_covered_before


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_mclp_leaves_out_sites_that_add_nothing(seed):
    """An outside test got 10 suggested sites covering exactly what 3 of them covered."""
    result, cands, demand, existing, candidates, households = _instance(seed, n_candidates=7)
    k = 7  # every candidate: several must add nothing to the others
    found = suggest(result, "mclp", k, cands)
    everything = households[_covered(demand, np.vstack([existing, candidates]), 300)].sum()
    assert found.households_covered_after == everything
    assert len(found.new_sites) < k and (found.new_sites["households_added"] > 0).all()
    sites = found.new_sites.to_crs(CRS).geometry
    kept = np.column_stack([sites.x, sites.y])
    for i in range(len(kept)):  # none of the kept sites can go without losing households
        others = np.vstack([existing, np.delete(kept, i, axis=0)])
        assert households[_covered(demand, others, 300)].sum() < everything


@pytest.mark.parametrize("seed", [1, 4, 5])
def test_lscp_is_feasible_and_minimal(seed):
    result, cands, demand, existing, candidates, households = _instance(seed, reach=450.0)
    result.reach_m = 450.0
    found = suggest(result, "lscp", candidates=cands)
    reachable = _covered(demand, np.vstack([existing, candidates]), 450)
    chosen = [int(name[1:]) for name in found.new_sites["candidate"]]
    sites = np.vstack([existing, candidates[chosen]]) if chosen else existing
    assert (_covered(demand, sites, 450) | ~reachable).all()  # every reachable household is covered
    fewest = next(
        n
        for n in range(len(candidates) + 1)
        for combo in itertools.combinations(range(len(candidates)), n)
        if (_covered(demand, np.vstack([existing, candidates[list(combo)]]), 450) | ~reachable).all()
    )
    assert len(chosen) == fewest
    assert sorted(found.unreachable_buildings) == sorted(result.buildings["id"].to_numpy()[~reachable].tolist())


def test_bad_questions_get_clear_errors():
    result, cands, *_ = _instance(1)
    with pytest.raises(InvalidInputError, match="mclp or lscp"):
        suggest(result, "pmedian", 1, cands)
    with pytest.raises(InvalidInputError, match="1–50"):
        suggest(result, "mclp", 0, cands)
    result.network = True
    with pytest.raises(InvalidInputError, match="straight-line"):
        suggest(result, "mclp", 1, cands)
