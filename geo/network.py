"""Walking network reach along road centre lines (networkx), both directions on every walkable line.

Lines are noded first (``shapely.node``: every crossing becomes a junction), so a path can turn at any
crossing. A site or a point joins the network at its nearest junction, and the straight access distance is
added at both ends: the network distance is therefore never shorter than the straight-line distance.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import shapely
from scipy.spatial import cKDTree
from shapely import ops

__all__ = ["WalkNetwork", "nearest_of"]


class WalkNetwork:
    """A walking graph from metric line geometries.

    Parameters
    ----------
    lines : array of shapely (Multi)LineString
        Road centre lines in metres.
    """

    def __init__(self, lines):
        lines = [g for g in np.asarray(lines, dtype=object) if g is not None and not g.is_empty]
        noded = shapely.get_parts(shapely.node(shapely.multilinestrings(shapely.get_parts(lines)))) if lines else []
        ends = np.array([[*g.coords[0], *g.coords[-1]] for g in noded]).reshape(-1, 4)
        keys = np.round(np.vstack([ends[:, :2], ends[:, 2:]]), 2)
        self.nodes_xy, inverse = np.unique(keys, axis=0, return_inverse=True)
        inverse = inverse.ravel()
        m = len(noded)
        self.edges = [(int(inverse[i]), int(inverse[i + m]), noded[i]) for i in range(m)]
        self.graph = nx.Graph()
        self.graph.add_nodes_from(range(len(self.nodes_xy)))
        for u, v, line in self.edges:
            length = line.length
            if u != v and (not self.graph.has_edge(u, v) or self.graph[u][v]["length"] > length):
                self.graph.add_edge(u, v, length=length, line=line)
        self._tree = cKDTree(self.nodes_xy) if len(self.nodes_xy) else None

    def snap(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """Nearest junction of each point, and the straight distance to it."""
        if self._tree is None:
            raise ValueError("the network has no lines")
        dist, node = self._tree.query(np.column_stack([np.asarray(x, float), np.asarray(y, float)]), k=1)
        return node.astype(int), dist

    def from_site(self, x: float, y: float, reach_m: float) -> tuple[np.ndarray, float]:
        """Network distance from one site to every junction (``inf`` beyond ``reach_m``), with its access."""
        node, access = self.snap([x], [y])
        out = np.full(len(self.nodes_xy), np.inf)
        budget = reach_m - access[0]
        if budget >= 0:
            found = nx.single_source_dijkstra_path_length(self.graph, int(node[0]), cutoff=budget, weight="length")
            out[list(found)] = access[0] + np.fromiter(found.values(), float, len(found))
        return out, float(access[0])

    def pairs(self, px, py, sx, sy, reach_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every (point, site) pair within ``reach_m`` along the network: point indices, site indices, metres."""
        node, access = self.snap(px, py)
        found = []
        for j, (x, y) in enumerate(zip(np.asarray(sx, float), np.asarray(sy, float), strict=True)):
            d = self.from_site(x, y, reach_m)[0][node] + access
            inside = np.flatnonzero(d <= reach_m)
            found.append((inside, np.full(len(inside), j), d[inside]))
        if not found:
            empty = np.empty(0, int)
            return empty, empty, np.empty(0)
        return tuple(np.concatenate(parts) for parts in zip(*found, strict=True))

    def reach(self, px, py, sx, sy, reach_m: float):
        """Per point: network distance to the nearest site within reach (``inf`` if none), its index, the count."""
        n = len(np.atleast_1d(px))
        return nearest_of(n, *self.pairs(px, py, sx, sy, reach_m))

    def service_area(self, x: float, y: float, reach_m: float, width_m: float = 25.0):
        """The streets one can walk to within ``reach_m`` of a site, as a polygon ``width_m`` either side."""
        dist, _ = self.from_site(x, y, reach_m)
        pieces = []
        for u, v, data in self.graph.edges(data=True):
            line = data["line"]
            forward = np.allclose(line.coords[0], self.nodes_xy[u], atol=0.01)
            for start, from_start in ((u, forward), (v, not forward)):
                left = reach_m - dist[start]
                if left <= 0:
                    continue
                part = min(left, line.length)
                pieces.append(
                    ops.substring(line, 0, part) if from_start else ops.substring(line, line.length - part, line.length)
                )
        if not pieces:
            return shapely.Point(x, y).buffer(width_m)
        return shapely.union_all(
            [shapely.buffer(shapely.union_all(pieces), width_m), shapely.Point(x, y).buffer(width_m)]
        )


def nearest_of(n: int, point_idx, site_idx, dist):
    """Per point of ``n``: the nearest site among the pairs (``inf`` / -1 without any), and the pair count."""
    nearest_m, nearest = np.full(n, np.inf), np.full(n, -1)
    order = np.lexsort((dist, point_idx))  # by point, nearest first
    first = order[np.r_[True, point_idx[order][1:] != point_idx[order][:-1]]] if len(order) else order
    nearest_m[point_idx[first]], nearest[point_idx[first]] = dist[first], site_idx[first]
    return nearest_m, nearest, np.bincount(point_idx, minlength=n)
