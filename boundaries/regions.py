"""Region growing with a household floor and ceiling on a building adjacency graph (used by :mod:`boundaries.suggest`).

From the free node with the fewest free neighbours (ties by ``rank``), a group takes the free neighbour closest
to its centre that keeps it at or under ``high``, until it reaches ``low``, using only edges that cross no
barrier. A group short of ``low`` is then merged into a neighbouring group when the sum stays under ``high``, or
merged with one and cut in two within the range along a spanning tree, or merged with a neighbouring short group
(edges across barriers allowed at this stage); what is still short stays in ``short``. A node above ``high`` is a
group of its own. Nodes of weight 0 (shops, offices: no households) join a neighbour's group breadth first
*before* the short groups are mended, so a group whose neighbours lie beyond empty buildings still meets them.
No randomness.
"""

from __future__ import annotations

from collections import deque

import numpy as np

__all__ = ["RegionGrower"]


class RegionGrower:
    """Region growing with a floor and a ceiling on a weighted graph (see the module docstring).

    ``edges``: node pairs; ``barrier``: per edge, whether it crosses a road or wall (used only when needed);
    ``weights``: households per node; ``xy``: metric positions; ``rank``: tie-break order.
    Call :meth:`grow`; ``members`` holds the groups, ``short`` those below ``low``.
    """

    def __init__(self, n, edges, barrier, weights, xy, rank, low, high):
        self.n, self.w, self.xy, self.rank, self.low, self.high = n, weights, xy, rank, low, high
        self.soft = [set() for _ in range(n)]
        self.all = [set() for _ in range(n)]
        for (a, b), hard in zip(edges, barrier, strict=True):
            self.all[a].add(b)
            self.all[b].add(a)
            if not hard:
                self.soft[a].add(b)
                self.soft[b].add(a)
        self.group = np.full(n, -1)
        self.members: dict[int, set] = {}
        self.short: set[int] = set()  # groups below low

    def _new(self, nodes) -> int:
        g = len(self.members)
        self.members[g] = set(nodes)
        self.group[list(nodes)] = g
        return g

    def total(self, g) -> float:
        """The weight (households) of group ``g``."""
        return float(self.w[list(self.members[g])].sum())

    def grow(self) -> None:
        """Grow the groups, attach the nodes of weight 0 (:meth:`attach_empty`), then mend those short of ``low``."""
        positive = self.w > 0
        for node in np.flatnonzero(self.w > self.high):
            self._new([node])
        free = positive & (self.group < 0)
        degree = np.array([sum(free[m] for m in self.soft[k]) for k in range(self.n)], dtype=float)
        while free.any():
            seed = int(np.lexsort((self.rank, np.where(free, degree, np.inf)))[0])
            region, total = [seed], float(self.w[seed])
            free[seed] = False
            for m in self.soft[seed]:
                degree[m] -= 1
            while total < self.low:
                centre = self.xy[region].mean(axis=0)
                frontier = {m for r in region for m in self.soft[r] if free[m] and total + self.w[m] <= self.high}
                if not frontier:
                    break
                best = min(frontier, key=lambda m: (float(np.hypot(*(self.xy[m] - centre))), self.rank[m]))
                region.append(best)
                total += float(self.w[best])
                free[best] = False
                for m in self.soft[best]:
                    degree[m] -= 1
            g = self._new(region)
            if total < self.low:
                self.short.add(g)
        self.attach_empty()
        self._mend()

    def _neighbours(self, g, graph) -> list[int]:
        found = {self.group[m] for r in self.members[g] for m in graph[r]} - {g, -1}
        return sorted(found, key=lambda h: (self.total(h), h))

    def _mend(self) -> None:
        """Groups below ``low``: merged, merged and split, or merged with another short group; else reported."""
        changed = True
        while changed and self.short:
            changed = False
            for g in sorted(self.short, key=lambda h: (self.total(h), h)):
                if g in self.short and self._mend_one(g):
                    changed = True

    def _mend_one(self, g) -> bool:
        total = self.total(g)
        for graph in (self.soft, self.all):
            near = [h for h in self._neighbours(g, graph) if self.w[list(self.members[h])].max() <= self.high]
            for h in near:
                if h not in self.short and self.total(h) + total <= self.high:
                    self._absorb(h, g)
                    return True
            for h in near:
                if h not in self.short and self._split(h, g):
                    return True
            for h in near:
                if h in self.short:
                    self._absorb(h, g)
                    if self.total(h) >= self.low:
                        self.short.discard(h)
                    return True
        return False

    def _absorb(self, h, g) -> None:
        self.members[h] |= self.members.pop(g)
        self.group[list(self.members[h])] = h
        self.short.discard(g)

    def _split(self, h, g) -> bool:
        """Merge ``g`` into ``h`` and cut a spanning tree of the union into two groups within the range."""
        nodes = sorted(self.members[h] | self.members[g], key=lambda k: self.rank[k])
        inside = set(nodes)
        for graph in (self.soft, self.all):
            parent, order = {nodes[0]: None}, [nodes[0]]
            queue = deque([nodes[0]])
            while queue:
                k = queue.popleft()
                for m in sorted(graph[k] & inside, key=lambda x: self.rank[x]):
                    if m not in parent:
                        parent[m] = k
                        order.append(m)
                        queue.append(m)
            if len(order) < len(nodes):
                continue
            below = {k: float(self.w[k]) for k in order}
            for k in reversed(order[1:]):
                below[parent[k]] += below[k]
            whole = below[nodes[0]]
            cuts = [
                k for k in order[1:] if self.low <= below[k] <= self.high and self.low <= whole - below[k] <= self.high
            ]
            if not cuts:
                continue
            cut = min(cuts, key=lambda k: (abs(whole - 2 * below[k]), self.rank[k]))
            subtree, stack = {cut}, [cut]
            children: dict = {}
            for k in order[1:]:
                children.setdefault(parent[k], []).append(k)
            while stack:
                for m in children.get(stack.pop(), []):
                    subtree.add(m)
                    stack.append(m)
            self.members[h] = inside - subtree
            self.members[g] = subtree
            self.group[list(self.members[h])] = h
            self.group[list(subtree)] = g
            self.short.discard(g)
            return True
        return False

    def attach_empty(self) -> None:
        """Buildings with no households join a neighbour's group (breadth first, same side of barriers first)."""
        for graph in (self.soft, self.all):
            queue = deque(k for k in range(self.n) if self.group[k] >= 0)
            while queue:
                k = queue.popleft()
                for m in sorted(graph[k], key=lambda x: self.rank[x]):
                    if self.group[m] < 0:
                        self.group[m] = self.group[k]
                        self.members[self.group[k]].add(m)
                        queue.append(m)
        rest = [k for k in range(self.n) if self.group[k] < 0]
        while rest:  # a cluster with no households at all: a group of its own, reported
            g = self._new([rest[0]])
            queue = deque([rest[0]])
            while queue:
                for m in self.all[queue.popleft()]:
                    if self.group[m] < 0:
                        self.group[m] = g
                        self.members[g].add(m)
                        queue.append(m)
            self.short.add(g)
            rest = [k for k in range(self.n) if self.group[k] < 0]
