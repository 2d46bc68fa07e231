"""A cleaned track against the worker's areas and the buildings beside it: pure functions over arrays.

Rules:

- **Inside** means inside one of the worker's assigned areas (their user areas, each with everything below it):
  each fix is located with the registry's point index (:meth:`Registry.locate`, vectorised) at the level of each
  assigned area, never by a GEOS test per point.
- **Time and distance**: each step between two consecutive kept fixes of one segment counts inside when both
  ends are inside, outside when both are outside, and half to each when it crosses. Gaps between segments count
  nowhere.
- **Micro-grids patrolled**: the micro-grids the kept fixes lie in.
- **Buildings passed**: footprints within ``pass_m`` of a segment's line (a lone fix: of the fix), found with one
  STRtree ``dwithin`` query over all segments.
- **Out-of-area alerts**: a run of consecutive kept fixes of one segment outside, lasting longer than ``alert_s``
  (from its first to its last fix); reported at its first fix.
"""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import shapely

from patrols.tracks import CleanTrack, TrackRules, project

__all__ = ["inside_areas", "micro_grids_at", "BuildingIndex", "analyse", "track_geojson", "thin_track", "iso"]


def iso(seconds: float) -> str:
    """Seconds since the epoch as ISO 8601 UTC text."""
    return datetime.fromtimestamp(float(seconds), timezone.utc).isoformat()


def inside_areas(registry, codes, lon, lat, generation=None) -> np.ndarray:
    """Which points lie in one of the areas ``codes`` (each with everything below it).

    Parameters
    ----------
    registry : boundaries.registry.Registry
    codes : iterable of str
        The worker's assigned area codes (unknown codes are ignored).
    lon, lat : array_like
        WGS84 degrees.
    generation : int, optional
        Default: the current generation.

    Returns
    -------
    numpy.ndarray of bool
    """
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    inside = np.zeros(len(lon), bool)
    if not len(lon):
        return inside
    nodes = registry.hierarchy(generation)
    by_level: dict[str, set] = {}
    for code in codes:
        if code in nodes:
            by_level.setdefault(nodes[code]["level"], set()).add(code)
    for level, wanted in by_level.items():
        found, _names, status, _edge = registry.locate_arrays(lon, lat, level=level, generation=generation)
        inside |= np.isin(found, list(wanted))
        for i in np.flatnonzero(status == "ambiguous"):
            inside[i] |= bool(wanted & set(str(found[i]).split(";")))
    return inside


def micro_grids_at(registry, lon, lat, generation=None) -> np.ndarray:
    """The micro-grid code of each point (``""`` outside every micro-grid; overlaps: the lowest code)."""
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    if not len(lon) or "micro_grid" not in registry.levels_present(generation):
        return np.full(len(lon), "", dtype=object)
    index, frame = registry.index("micro_grid", generation)  # the point index itself: no names, no table
    result = index.locate(lon, lat)
    at = np.array(result.index, dtype=np.int64)
    for i, polygons in result.ambiguous.items():  # an overlap: the first of its areas (the lowest code)
        at[i] = polygons[0]
    out = np.full(len(lon), "", dtype=object)
    found = at >= 0
    out[found] = frame["code"].to_numpy(object)[at[found]]
    return out


class BuildingIndex:
    """Building footprints in a metric CRS with an STRtree, for "passed within" queries.

    Parameters
    ----------
    ids : array_like of int
    footprints : array_like of shapely geometries
        WGS84.
    crs : pyproj.CRS
        The metric CRS of the tracks it will be asked about.
    """

    def __init__(self, ids, footprints, crs):
        self.ids = np.asarray(ids, dtype=np.int64)
        self.crs = crs
        geoms = np.asarray(footprints, dtype=object)
        self.footprints = shapely.transform(geoms, lambda xy: np.column_stack(project(xy[:, 0], xy[:, 1], crs)[:2]))
        self.tree = shapely.STRtree(self.footprints)

    def within(self, geoms, distance: float) -> np.ndarray:
        """Sorted ids of the buildings within ``distance`` metres of any of ``geoms`` (metric)."""
        if not len(self.ids) or not len(geoms):
            return np.zeros(0, np.int64)
        pairs = self.tree.query(np.asarray(geoms, dtype=object), predicate="dwithin", distance=distance)
        return np.unique(self.ids[pairs[1]])


#: Vertices per piece of a segment queried for buildings passed: short pieces have tight bounding boxes, so the
#: STRtree offers few candidates and each exact distance is cheap (the answer is the same as for the whole line).
PIECE_VERTICES = 32


def _segment_geoms(track: CleanTrack, kept: np.ndarray) -> list:
    """The segments as lines cut into pieces of :data:`PIECE_VERTICES` vertices sharing their ends.

    A segment of one fix is a point.
    """
    geoms = []
    seg = track.segment[kept]
    step = PIECE_VERTICES - 1
    for k in np.unique(seg):
        sel = kept[seg == k]
        xy = np.column_stack([track.x[sel], track.y[sel]])
        if len(sel) == 1:
            geoms.append(shapely.points(xy[0]))
            continue
        starts = np.arange(0, len(sel) - 1, step)
        lengths = np.minimum(starts + PIECE_VERTICES, len(sel)) - starts  # each at least 2
        piece = np.repeat(np.arange(len(starts)), lengths)
        vertex = (
            np.repeat(starts, lengths)
            + np.arange(int(lengths.sum()))
            - np.repeat(np.cumsum(lengths) - lengths, lengths)
        )
        geoms.extend(shapely.linestrings(xy[vertex], indices=piece))
    return geoms


def analyse(
    track: CleanTrack,
    inside: np.ndarray,
    micro_grids: np.ndarray,
    buildings: BuildingIndex | None,
    rules: TrackRules | None = None,
) -> dict:
    """The summary of a cleaned track (see the module docstring for the rules).

    Parameters
    ----------
    track : CleanTrack
    inside : numpy.ndarray of bool
        For every fix of ``track`` (kept or not, in the track's order): inside the worker's areas.
    micro_grids : numpy.ndarray of str
        For every fix: its micro-grid code (``""``: none).
    buildings : BuildingIndex, optional
        Footprints in ``track.crs`` (``None``: no buildings).
    rules : TrackRules, optional

    Returns
    -------
    dict
        ``fixes``, ``kept``, ``segments``, ``distance_m`` and ``time_s`` (``inside``, ``outside``),
        ``micro_grids`` (sorted codes), ``buildings_passed`` (sorted ids), ``alerts``.
    """
    rules = rules or TrackRules()
    kept = np.flatnonzero(track.kept)
    inside_k = np.asarray(inside, bool)[kept]
    t, x, y, seg = track.t[kept], track.x[kept], track.y[kept], track.segment[kept]
    same = seg[1:] == seg[:-1] if len(kept) > 1 else np.zeros(0, bool)
    d = np.hypot(np.diff(x), np.diff(y))[same] if len(kept) > 1 else np.zeros(0)
    dt = np.diff(t)[same] if len(kept) > 1 else np.zeros(0)
    share = (inside_k[:-1].astype(float) + inside_k[1:].astype(float))[same] / 2 if len(kept) > 1 else np.zeros(0)
    codes = np.asarray(micro_grids, dtype=object)[kept]
    passed = buildings.within(_segment_geoms(track, kept), rules.pass_m) if buildings is not None else []
    return {
        "fixes": int(len(track.t)),
        "kept": int(len(kept)),
        "segments": track.segments,
        "distance_m": {"inside": round(float(d @ share), 2), "outside": round(float(d @ (1 - share)), 2)},
        "time_s": {"inside": round(float(dt @ share), 2), "outside": round(float(dt @ (1 - share)), 2)},
        "micro_grids": sorted({str(c) for c in codes if c}),
        "buildings_passed": [int(i) for i in passed],
        "alerts": _alerts(t, track.lon[kept], track.lat[kept], seg, inside_k, rules.alert_s),
    }


def _alerts(t, lon, lat, seg, inside, alert_s: float) -> list[dict]:
    """Runs of consecutive outside fixes of one segment lasting longer than ``alert_s``."""
    if not len(t):
        return []
    outside = ~inside
    starts = outside & np.concatenate([[True], ~outside[:-1] | (seg[1:] != seg[:-1])])
    ends = outside & np.concatenate([~outside[1:] | (seg[1:] != seg[:-1]), [True]])
    out = []
    for a, b in zip(np.flatnonzero(starts), np.flatnonzero(ends), strict=True):
        duration = float(t[b] - t[a])
        if duration > alert_s:
            out.append(
                {
                    "at": iso(t[a]),
                    "kind": "out_of_area",
                    "lon": round(float(lon[a]), 7),
                    "lat": round(float(lat[a]), 7),
                    "duration_s": round(duration, 2),
                }
            )
    return out


def _simplified(track: CleanTrack, tolerance_m: float) -> np.ndarray:
    """Indices of the kept fixes Douglas–Peucker keeps at ``tolerance_m`` (metres), each segment on its own."""
    kept = np.flatnonzero(track.kept)
    out = []
    for k in np.unique(track.segment[kept]):
        sel = kept[track.segment[kept] == k]
        if len(sel) <= 2:
            out.append(sel)
            continue
        line = shapely.linestrings(track.x[sel], track.y[sel], sel.astype(float))  # z carries the index
        simple = shapely.simplify(line, tolerance_m, preserve_topology=False)
        out.append(shapely.get_coordinates(simple, include_z=True)[:, 2].astype(np.int64))
    return np.concatenate(out) if out else kept


def thin_track(track: CleanTrack, max_points: int, start_m: float = 1.0) -> tuple[np.ndarray, float]:
    """The kept fixes to draw within a budget: Douglas–Peucker in metres (the track's metric CRS).

    The tolerance starts at ``start_m`` and grows by half until at most ``max_points`` fixes remain (each
    segment keeps its ends, so a track of more segments than that keeps those). Every kept fix lies within the
    tolerance of the thinned line of its segment.

    Returns
    -------
    (numpy.ndarray, float)
        Indices of the fixes to show (sorted) and the tolerance used (``0.0``: not thinned).
    """
    kept = np.flatnonzero(track.kept)
    if len(kept) <= max_points:
        return kept, 0.0
    tolerance = float(start_m)
    while True:
        chosen = _simplified(track, tolerance)
        if len(chosen) <= max_points or tolerance > 1e7:
            return np.sort(chosen), tolerance
        tolerance *= 1.5


def track_geojson(track: CleanTrack, max_points: int | None = None, show: np.ndarray | None = None) -> tuple[dict, int]:
    """The kept fixes as a GeoJSON FeatureCollection: one LineString per segment, ``times`` in its properties.

    A segment of a single fix is a Point. With ``max_points``, a track of more kept fixes is thinned evenly:
    every ``k``-th fix of each segment and its last one (at most ``max_points`` plus one per segment).
    ``show`` (indices of kept fixes, e.g. from :func:`thin_track`) draws only those instead.

    Returns
    -------
    (dict, int)
        The FeatureCollection and how many fixes it shows.
    """
    kept = np.flatnonzero(track.kept) if show is None else np.asarray(show, np.int64)
    step = 1
    if max_points is not None and max_points > 0 and len(kept) > max_points:
        step = int(np.ceil(len(kept) / max_points))
    features, shown = [], 0
    for k in np.unique(track.segment[kept]):
        sel = kept[track.segment[kept] == k]
        if step > 1:
            sel = np.unique(np.concatenate([sel[::step], sel[-1:]]))
        shown += len(sel)
        coords = [[round(float(a), 7), round(float(b), 7)] for a, b in zip(track.lon[sel], track.lat[sel], strict=True)]
        geometry = {"type": "LineString", "coordinates": coords}
        if len(sel) == 1:
            geometry = {"type": "Point", "coordinates": coords[0]}
        features.append(
            {
                "type": "Feature",
                "geometry": geometry,
                "properties": {"segment": int(k), "times": [iso(v) for v in track.t[sel]]},
            }
        )
    return {"type": "FeatureCollection", "features": features}, shown
