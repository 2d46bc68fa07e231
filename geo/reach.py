"""Straight-line reach: which sites lie within reach of which points, and how far the nearest one is.

Everything is in metres of a projected CRS (see :func:`geo.crs.metric_crs`). A k-d tree (scipy's
``cKDTree``) over the sites answers the nearest site and the number of sites within reach for every point
in compiled code, without building the buffer polygons a spatial join needs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

__all__ = ["Reach", "straight_reach", "pairs_within"]


@dataclass
class Reach:
    """Per point: distance to and index of the nearest site, and how many sites reach it."""

    nearest_m: np.ndarray
    nearest: np.ndarray  # index into the sites; -1 when there are none
    count: np.ndarray

    @property
    def covered(self) -> np.ndarray:
        """Points that at least one site reaches."""
        return self.count > 0


def straight_reach(px, py, sx, sy, reach_m: float) -> Reach:
    """Straight-line reach of sites ``(sx, sy)`` over points ``(px, py)``, all in metres.

    Parameters
    ----------
    px, py : array_like
        Points (e.g. buildings' representative points).
    sx, sy : array_like
        Sites (service points).
    reach_m : float
        Reach of every site, in metres (a point at exactly ``reach_m`` is reached).
    """
    points = np.column_stack([np.asarray(px, float), np.asarray(py, float)])
    sites = np.column_stack([np.asarray(sx, float), np.asarray(sy, float)])
    n = len(points)
    if len(sites) == 0 or n == 0:
        return Reach(np.full(n, np.inf), np.full(n, -1), np.zeros(n, int))
    tree = cKDTree(sites)
    nearest_m, nearest = tree.query(points, k=1, workers=-1)
    count = tree.query_ball_point(points, r=reach_m, workers=-1, return_length=True)
    return Reach(nearest_m, nearest.astype(int), np.asarray(count, int))


def pairs_within(px, py, sx, sy, reach_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (point, site) pair within ``reach_m``: point indices, site indices, distances (metres)."""
    points = np.column_stack([np.asarray(px, float), np.asarray(py, float)])
    sites = np.column_stack([np.asarray(sx, float), np.asarray(sy, float)])
    if len(sites) == 0 or len(points) == 0:
        empty = np.empty(0, int)
        return empty, empty, np.empty(0)
    lists = cKDTree(sites).query_ball_point(points, r=reach_m, workers=-1)
    counts = np.fromiter((len(x) for x in lists), int, len(lists))
    point_idx = np.repeat(np.arange(len(points)), counts)
    site_idx = np.fromiter((j for x in lists for j in x), int, int(counts.sum()))
    dist = np.hypot(*(points[point_idx] - sites[site_idx]).T) if len(site_idx) else np.empty(0)
    return point_idx, site_idx, dist
