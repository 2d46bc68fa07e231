"""Where to put the next service points: maximal covering (MCLP) and set covering (LSCP), with PySAL spopt.

Existing points are kept (spopt's ``predefined_facilities_arr``). Candidates are building representative points,
or any set of points (POIs, a drawn set). Demand is the buildings' households. Distances are straight-line in the
metric CRS of the coverage run; the integer programmes are solved with CBC through PuLP.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pulp
import shapely

from core.errors import InvalidInputError
from geo.crs import from_wgs84, to_wgs84
from serving.analysis import CoverageResult

__all__ = ["Suggestion", "suggest", "MAX_MATRIX"]

#: Largest demand × facility matrix solved in one request (a district's buildings need an area filter).
MAX_MATRIX = 1_000_000


@dataclass
class Suggestion:
    """The model's answer: the new sites, what they add, and what stays out of reach."""

    model: str
    new_sites: gpd.GeoDataFrame  # WGS84 points with the households each adds
    households_covered_before: int
    households_covered_after: int
    households_total: int
    unreachable_buildings: list[int]
    status: str

    def as_dict(self) -> dict:
        """JSON-ready summary with the sites as GeoJSON."""
        return {
            "model": self.model,
            "status": self.status,
            "new_sites": self.new_sites.__geo_interface__,
            "households_covered_before": self.households_covered_before,
            "households_covered_after": self.households_covered_after,
            "households_added": self.households_covered_after - self.households_covered_before,
            "households_total": self.households_total,
            "unreachable_buildings": self.unreachable_buildings,
        }


def _candidates(result: CoverageResult, candidates) -> tuple[np.ndarray, np.ndarray]:
    """Candidate sites in metres and their labels."""
    if candidates is None or (isinstance(candidates, str) and candidates == "buildings"):
        b = result.buildings
        return result.buildings_xy, np.array([f"building {i}" for i in b["id"]], dtype=object)
    if isinstance(candidates, gpd.GeoDataFrame):
        if candidates.empty or not (candidates.geom_type == "Point").all():
            raise InvalidInputError("候选点须为点 candidate sites must be points")
        pts = candidates.to_crs(4326).geometry
        x, y = from_wgs84(pts.x.to_numpy(), pts.y.to_numpy(), result.crs)
        names = candidates["name"] if "name" in candidates.columns else candidates.index
        return np.column_stack([x, y]), np.array([str(n) for n in names], dtype=object)
    raise InvalidInputError("候选点须为 buildings 或点集 candidates must be 'buildings' or a set of points")


def _cbc_path() -> str | None:
    """The CBC solver of the cbcbox package (pulp[cbc]), found without relying on ``PATH`` (an unactivated venv)."""
    try:
        import cbcbox
    except ImportError:
        return None  # PuLP looks for ``cbc`` on PATH
    return str(cbcbox.cbc_bin_path())


def _without_idle_sites(reaches: np.ndarray, opened: np.ndarray, existing: int, weights: np.ndarray) -> np.ndarray:
    """``opened`` without the new sites whose removal covers no fewer households.

    MCLP opens all ``k`` even when fewer cover everything they can reach: ten were suggested where three did the same.
    """
    opened = opened.copy()
    total = float(weights[reaches[:, opened].any(axis=1)].sum())
    for j in sorted(np.flatnonzero(opened[existing:]) + existing, key=lambda c: float(weights[reaches[:, c]].sum())):
        opened[j] = False
        if float(weights[reaches[:, opened].any(axis=1)].sum()) < total:
            opened[j] = True  # this one covers someone nobody else does
    return opened


def suggest(
    result: CoverageResult, model: str = "mclp", k: int = 1, candidates=None, time_limit: int = 20
) -> Suggestion:
    """Suggest new sites for the coverage run's kind and reach.

    Parameters
    ----------
    result : CoverageResult
        A straight-line coverage run (its buildings are the demand, its sites are kept).
    model : str
        ``mclp``: at most ``k`` new sites covering the most households (sites that add nothing are left out);
        ``lscp``: the fewest new sites covering every household that any candidate can reach.
    k : int
        New sites for MCLP.
    candidates : "buildings" or GeoDataFrame of points, optional
        Default: the buildings' representative points.
    """
    if model not in ("mclp", "lscp"):
        raise InvalidInputError("模型须为 mclp 或 lscp model must be mclp or lscp")
    if result.network:
        raise InvalidInputError("选址建议按直线距离计算 suggestions use straight-line reach: run without --network")
    if model == "mclp" and (not isinstance(k, int) or not 1 <= k <= 50):
        raise InvalidInputError("k 须为 1–50 k must be 1–50 new sites")
    demand_xy = result.buildings_xy
    weights = result.buildings["households"].to_numpy(float)
    existing = result.sites_xy if result.sites_xy is not None else np.empty((0, 2))
    cand_xy, labels = _candidates(result, candidates)
    size = len(demand_xy) * (len(existing) + len(cand_xy))
    if size > MAX_MATRIX:
        raise InvalidInputError(
            f"问题过大 {len(demand_xy)} buildings × {len(existing) + len(cand_xy)} sites is too large; "
            "choose a smaller area or fewer candidates"
        )
    facilities = np.vstack([existing, cand_xy]) if len(existing) else cand_xy
    cost = np.hypot(*(demand_xy[:, None, :] - facilities[None, :, :]).transpose(2, 0, 1))
    reach = result.reach_m
    reachable = (cost <= reach).any(axis=1)
    predefined = np.r_[np.ones(len(existing), bool), np.zeros(len(cand_xy), bool)]
    before_mask = (cost[:, : len(existing)] <= reach).any(axis=1) if len(existing) else np.zeros(len(demand_xy), bool)
    solver = pulp.COIN_CMD(path=_cbc_path(), msg=False, timeLimit=time_limit)
    from spopt.locate import LSCP, MCLP

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # spopt warns about unused geometry options of the cost-matrix entry
        if model == "mclp":
            problem = MCLP.from_cost_matrix(
                cost, weights, reach, p_facilities=len(existing) + k, predefined_facilities_arr=predefined
            )
            keep_rows = np.ones(len(demand_xy), bool)
        else:
            keep_rows = reachable
            problem = LSCP.from_cost_matrix(cost[keep_rows], reach, predefined_facilities_arr=predefined)
        problem = problem.solve(solver)
    status = pulp.LpStatus[problem.problem.status]
    if status != "Optimal":
        raise InvalidInputError(f"求解失败 the solver ended with status {status}")
    opened = np.array([v.value() > 0.5 for v in problem.fac_vars])
    opened = _without_idle_sites(cost <= reach, opened, len(existing), weights)
    chosen = np.flatnonzero(opened[len(existing) :])
    after_mask = (cost[:, opened] <= reach).any(axis=1)
    adds, covered_so_far = [], before_mask.copy()
    for j in chosen:
        newly = (cost[:, len(existing) + j] <= reach) & ~covered_so_far
        adds.append(int(weights[newly].sum()))
        covered_so_far |= newly
    lon, lat = to_wgs84(cand_xy[chosen, 0], cand_xy[chosen, 1], result.crs) if len(chosen) else ([], [])
    sites = gpd.GeoDataFrame(
        {"candidate": labels[chosen], "households_added": adds},
        geometry=shapely.points(np.asarray(lon, float), np.asarray(lat, float)) if len(chosen) else [],
        crs=4326,
    )
    return Suggestion(
        model,
        sites,
        int(weights[before_mask].sum()),
        int(weights[after_mask].sum()),
        int(weights.sum()),
        [int(i) for i in result.buildings["id"].to_numpy()[~reachable]],
        status,
    )
