"""The faces of a set of outlines (面片划分): what the fix tool (:mod:`boundaries.fixing`) hands out.

Every outline of the children, and the parent's, is noded together (``shapely.union_all`` of the boundaries) and
polygonised: the *faces* are the smallest pieces of the plane bounded by that linework. Each face lies wholly inside
some children (its *owners*, found at a point inside it) and wholly inside or outside the parent. A face with one
owner is that child's; a face with several is an overlap; a face inside the parent with none is a gap.

An assignment gives each face at most one area. Because every area is then a union of faces of one noded linework,
two neighbours share their common edges vertex for vertex, so the result is a valid coverage
(``shapely.coverage_is_valid``) by construction, whatever the input: that is why the fix tool works on faces.

:meth:`Faces.assign` decides, in the order of :mod:`boundaries.fixing`'s rules:

1. a face with one owner stays with it (unless it lies outside the parent: then it is cut away);
2. an overlap face goes to one owner, chosen by the merge strategy; but a face held by an area *held* (left as
   drawn) stays with all its owners (the overlap is left for the planner: no neighbour is cut around a held area);
3. a gap face inside the parent goes to the neighbour chosen by the merge strategy among those sharing an edge
   with it, if filling it moves that neighbour's outline no more than the tolerance (the Hausdorff distance of the
   shared edge and the rest of the gap's outline); a wider gap stays a gap, and so does a hole (a gap wholly
   inside one area: filling it would drop its ring, however far from the rest of the outline). A narrow gap
   along several areas (a road left out between two rows) is first cut across at every junction of the areas
   along it (:meth:`Faces._gap_cuts`), so that its pieces can each go to one neighbour;
4. a held area keeps every face it owns, inside the parent or not (its outline as drawn, with the nodes of its
   neighbours' crossings added along its edges);
5. a piece of an area cut off from the rest by this hand-out (more pieces than it was drawn with) goes to the
   neighbour sharing the longest edge with it.

Merge strategies (as ``shapely.coverage_clean`` names them): ``longest_border`` (the area sharing the longest edge
with the face, counting only faces it keeps), ``max_area``, ``min_area``, ``min_index`` (the lowest code).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import shapely

__all__ = ["GRID_M", "Faces", "on_grid"]

#: The precision grid (m) of the noding: outlines should have their coordinates on it (:func:`on_grid`), so that
#: only new crossings are rounded (by less than a micrometre).
GRID_M = 1e-6
#: Relative densification of :func:`shapely.hausdorff_distance` when a gap's fill is measured.
_DENSIFY = 0.25


def on_grid(geometries, grid_size: float = GRID_M) -> np.ndarray:
    """The geometries with every coordinate rounded to the grid (moves of at most ``grid_size`` / √2)."""
    return shapely.transform(np.asarray(geometries, dtype=object), lambda xy: np.round(xy / grid_size) * grid_size)


class Faces:
    """The faces of ``areas`` (metric, valid) and of the ``parent``'s outline (or ``None``).

    Attributes
    ----------
    faces : numpy.ndarray of shapely.Polygon
    owners : list of numpy.ndarray
        Per face, the indices of the areas holding it (sorted).
    inside : numpy.ndarray of bool
        Per face, whether it lies inside the parent (all ``True`` without a parent).
    """

    def __init__(self, areas, parent=None, grid_size: float = GRID_M, tolerance: float | None = None):
        self.areas = np.asarray(areas, dtype=object)
        self.grid_size = grid_size
        lines = list(shapely.boundary(self.areas))
        if parent is not None:
            lines.append(shapely.boundary(parent))
        self._polygonize(lines, parent)
        if tolerance is not None:
            cuts = self._gap_cuts(parent, tolerance)
            if cuts:
                self._polygonize(lines + cuts, parent)
        self._tree = shapely.STRtree(self.faces)
        self._shared: dict = {}

    def _polygonize(self, lines, parent) -> None:
        # snap-rounded noding: every crossing is noded (floating-point noding can miss a crossing at a shallow angle,
        # leaving a face that straddles an outline)
        noded = shapely.union_all(np.array(lines, dtype=object), grid_size=self.grid_size)
        self.faces = np.asarray(shapely.get_parts(shapely.polygonize(shapely.get_parts(noded))), dtype=object)
        self.owners = self._holding(self.faces, self.areas)
        if parent is None:
            self.inside = np.ones(len(self.faces), bool)
        else:
            self.inside = np.array([len(o) > 0 for o in self._holding(self.faces, np.array([parent]))], dtype=bool)

    def _gap_cuts(self, parent, tolerance: float) -> list:
        """Lines across the narrow gaps at each point where the area along one side changes (then re-noded).

        A gap along a row of areas (a road left out between two rows of micro-grids) is one face, which no single
        neighbour can fill within the tolerance; cut at every junction straight across to the nearest point of an
        outline of other areas (or the parent's), it falls into pieces each of which one neighbour can. Only gaps
        narrower on average than the tolerance are cut, with cuts no longer than it.
        """
        outlines = list(shapely.boundary(self.areas)) + ([shapely.boundary(parent)] if parent is not None else [])
        tree = shapely.STRtree(np.array(outlines, dtype=object))
        cuts = []
        for f in np.flatnonzero([self.inside[f] and not len(o) for f, o in enumerate(self.owners)]):
            face = self.faces[f]
            if 2 * face.area / max(face.length, 1e-300) > tolerance:
                continue
            for ring in [face.exterior, *face.interiors]:
                cuts += self._cuts_of_ring(face, np.asarray(ring.coords), tree, tolerance)
        return cuts

    def _cuts_of_ring(self, face, xy, tree, tolerance: float) -> list:
        starts, ends = xy[:-1], xy[1:]
        mid = shapely.points((starts + ends) / 2)
        seg, outline = tree.query(mid, predicate="dwithin", distance=2 * self.grid_size)
        along = [frozenset(outline[seg == k].tolist()) for k in range(len(starts))]  # the outlines each edge lies on
        segments = shapely.linestrings(np.stack([starts, ends], axis=1))
        cuts = []
        for k in range(len(starts)):
            sides = along[k - 1] | along[k]
            if along[k - 1] == along[k] or not along[k - 1] or not along[k]:
                continue  # not a junction
            other = [j for j in range(len(starts)) if along[j] and not along[j] & sides]
            if not other:
                continue
            cut = shapely.shortest_line(shapely.Point(starts[k]), shapely.multilinestrings(segments[other]))
            if self.grid_size < cut.length <= tolerance and face.contains(cut.interpolate(0.5, normalized=True)):
                cuts.append(cut)
        return cuts

    @staticmethod
    def _holding(faces, areas) -> list:
        """Per face, the areas holding most of it.

        A face lies inside or outside an area up to the rounding of the noding, so the share is all or nothing;
        a point inside a sliver a few micrometres wide could fall on either side, its area share cannot.
        """
        face, area = shapely.STRtree(areas).query(faces, predicate="intersects")
        prepared = np.asarray(areas, dtype=object)
        shapely.prepare(prepared)
        share = shapely.area(shapely.intersection(faces[face], prepared[area])) / np.maximum(
            shapely.area(faces[face]), 1e-300
        )
        owners = defaultdict(list)
        for f, a in zip(face[share > 0.5].tolist(), area[share > 0.5].tolist(), strict=True):
            owners[f].append(a)
        return [np.array(sorted(owners.get(f, ())), dtype=int) for f in range(len(faces))]

    def own(self, i: int) -> np.ndarray:
        """The faces area ``i`` holds as drawn."""
        return np.array([f for f, o in enumerate(self.owners) if i in o], dtype=int)

    def shared_length(self, f: int, g: int) -> float:
        """The length of the edge faces ``f`` and ``g`` share (0 if they only touch or are apart)."""
        key = (min(f, g), max(f, g))
        if key not in self._shared:
            common = shapely.intersection(shapely.boundary(self.faces[f]), shapely.boundary(self.faces[g]))
            self._shared[key] = float(shapely.length(common))
        return self._shared[key]

    def neighbours(self, f: int) -> np.ndarray:
        """The faces sharing an edge with face ``f``."""
        near = self._tree.query(self.faces[f], predicate="intersects")
        return np.array([g for g in near if g != f and self.shared_length(f, g) > 0.0], dtype=int)

    def assign(self, held, tolerance: float, strategy: str = "longest_border") -> list:
        """Per area, the indices of the faces it gets (see the module docstring for the rules).

        Parameters
        ----------
        held : collection of int
            Areas kept as drawn.
        tolerance : float
            The widest gap (m) a neighbour may fill.
        strategy : str
            ``longest_border``, ``max_area``, ``min_area`` or ``min_index``.

        Returns
        -------
        list of list of int
        """
        held = set(held)
        holder = np.full(len(self.faces), -1)
        taken = defaultdict(list)
        contested, gaps = [], []
        for f, owners in enumerate(self.owners):
            keep = [int(a) for a in owners if a in held]
            if keep:  # a held area keeps it, and so does every other owner (no one is cut around a held area)
                for a in owners:
                    taken[int(a)].append(f)
                holder[f] = keep[0]
            elif not self.inside[f]:
                holder[f] = -1  # cut away outside the parent
            elif len(owners) == 1:
                holder[f] = owners[0]
                taken[int(owners[0])].append(f)
            elif len(owners) > 1:
                contested.append(f)
            else:
                gaps.append(f)
        for f in sorted(contested, key=lambda f: -self.faces[f].area):
            winner = self._choose(f, [int(a) for a in self.owners[f]], holder, strategy)
            holder[f] = winner
            taken[winner].append(f)
        for f in sorted(gaps, key=lambda f: -self.faces[f].area):
            borders = self._borders(f, holder)
            candidates = [a for a in borders if a not in held]
            if not candidates:
                continue
            winner = self._pick(candidates, borders, strategy)
            if self._fill_distance(f, winner, holder) <= tolerance:
                holder[f] = winner
                taken[winner].append(f)
        self._crumbs_handed_on(taken, holder, held)
        return [sorted(taken.get(i, ())) for i in range(len(self.areas))]

    def _components(self, faces: list) -> list[list]:
        """The faces grouped into pieces joined by shared edges (largest area first)."""
        faces, seen, pieces = set(faces), set(), []
        for start in sorted(faces):
            if start in seen:
                continue
            piece, stack = [], [start]
            seen.add(start)
            while stack:
                f = stack.pop()
                piece.append(f)
                for g in self.neighbours(f):
                    if g in faces and g not in seen:
                        seen.add(g)
                        stack.append(g)
            pieces.append(piece)
        return sorted(pieces, key=lambda p: -float(shapely.area(self.faces[p]).sum()))

    def _crumbs_handed_on(self, taken, holder, held) -> None:
        """Hand each crumb to the neighbour sharing the longest edge with it.

        A crumb is a piece of an area cut off from the rest by the hand-out (the area has more pieces than it was
        drawn with).
        """
        for a in range(len(self.areas)):
            if a in held or len(taken.get(a, ())) < 2:
                continue
            drawn = len(shapely.get_parts(self.areas[a]))
            for crumb in self._components(taken[a])[drawn:]:
                borders: dict = defaultdict(float)
                for f in crumb:
                    for g in self.neighbours(f):
                        if holder[g] >= 0 and holder[g] != a and g not in crumb:
                            borders[int(holder[g])] += self.shared_length(f, g)
                if not borders:
                    continue
                winner = max(sorted(borders), key=lambda b: borders[b])
                for f in crumb:
                    holder[f] = winner
                    if f not in taken[winner]:  # (a face a held area keeps is in every owner's list)
                        taken[winner].append(f)
                taken[a] = [f for f in taken[a] if f not in set(crumb)]

    def _borders(self, f: int, holder) -> dict:
        """Area → length of the edge face ``f`` shares with the faces that area holds."""
        borders: dict = defaultdict(float)
        for g in self.neighbours(f):
            if holder[g] >= 0:
                borders[int(holder[g])] += self.shared_length(f, g)
        return borders

    def _choose(self, f: int, owners: list, holder, strategy: str) -> int:
        borders = self._borders(f, holder) if strategy == "longest_border" else {}
        return self._pick(owners, borders, strategy)

    def _pick(self, candidates: list, borders: dict, strategy: str) -> int:
        if strategy == "min_index":
            return min(candidates)
        if strategy in ("max_area", "min_area"):
            sign = -1.0 if strategy == "max_area" else 1.0
            return min(candidates, key=lambda a: (sign * self.areas[a].area, a))
        return min(candidates, key=lambda a: (-borders.get(a, 0.0), a))

    def _fill_distance(self, f: int, area: int, holder) -> float:
        """How far filling gap face ``f`` moves ``area``'s outline: its shared edge against the rest of the gap's."""
        shared = [g for g in self.neighbours(f) if holder[g] == area]
        outline = shapely.boundary(self.faces[f])
        edge = shapely.union_all([shapely.intersection(outline, shapely.boundary(self.faces[g])) for g in shared])
        rest = shapely.difference(outline, edge)
        if rest.is_empty or edge.is_empty:  # a hole in the area: filling it drops its ring, wherever it lies
            return float("inf")
        return float(shapely.hausdorff_distance(edge, rest, densify=_DENSIFY))
