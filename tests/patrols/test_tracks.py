"""Tracks walked along the real Yulin roads: cleaning, and the analysis against brute force (GEOS per fix and per
building, geodesic distances)."""

from __future__ import annotations

import numpy as np
import pyproj
import shapely

from patrols.service import PatrolDesk
from patrols.tracks import TrackRules, clean_track
from tests.patrols.conftest import TO_M, WORKER_GRID, road_path, walk

GEOD = pyproj.Geod(ellps="WGS84")


def test_cleaning_removes_the_injected_outliers_and_keeps_the_real_fixes(yulin):
    w = walk(road_path(yulin.roads, yulin.area(WORKER_GRID)))
    rules = TrackRules()
    track = clean_track(w.t, w.lon, w.lat, w.accuracy, rules)
    reason = track.reason  # the input was already in time order
    assert set(reason[w.kind == "jump"]) == {"speed"}
    assert set(reason[w.kind == "accuracy"]) == {"accuracy"}
    assert np.count_nonzero(track.kept[w.kind == "standing"]) <= 3  # 5 minutes standing collapse to a fix or so
    real = np.flatnonzero(w.kind == "real")
    assert set(reason[real]) <= {"", "jitter"}  # no real fix is taken for an outlier
    kept = np.flatnonzero(track.kept)
    for i in real[reason[real] == "jitter"]:  # each collapsed real fix lies within 5 m of the fix it joined
        anchor = kept[kept < i].max()
        _, _, dist = GEOD.inv(w.lon[anchor], w.lat[anchor], w.lon[i], w.lat[i])
        assert dist <= rules.jitter_m + 0.01
    assert np.count_nonzero(track.kept[real]) >= 0.6 * len(real)
    assert track.segments == 1


def test_gaps_split_segments_and_a_first_jump_is_no_anchor():
    t = np.arange(10) * 5.0
    t[5:] += 1000  # a gap of more than 600 s
    lon = 104.06 + np.arange(10) * 10 / 96_000
    lon[0] += 0.01  # the first fix is 1 km off
    track = clean_track(t, lon, np.full(10, 30.64))
    assert track.reason.tolist() == ["speed"] + [""] * 9
    assert track.segment.tolist() == [-1, 0, 0, 0, 0, 1, 1, 1, 1, 1]


def _brute_force(yulin, w, track, rules):
    """Per-fix GEOS tests and geodesic step lengths, by the documented rules."""
    grid = yulin.area(WORKER_GRID)
    kept = np.flatnonzero(track.kept)
    lon, lat, t, seg = track.lon[kept], track.lat[kept], track.t[kept], track.segment[kept]
    inside = np.array([grid.covers(shapely.Point(a, b)) for a, b in zip(lon, lat, strict=True)])
    dist = {"inside": 0.0, "outside": 0.0}
    time = {"inside": 0.0, "outside": 0.0}
    for i in range(len(kept) - 1):
        if seg[i] != seg[i + 1]:
            continue
        _, _, d = GEOD.inv(lon[i], lat[i], lon[i + 1], lat[i + 1])
        share = (int(inside[i]) + int(inside[i + 1])) / 2
        dist["inside"] += d * share
        dist["outside"] += d * (1 - share)
        time["inside"] += (t[i + 1] - t[i]) * share
        time["outside"] += (t[i + 1] - t[i]) * (1 - share)
    micro = yulin.registry.areas(level="micro_grid")
    grids = set()
    for a, b in zip(lon, lat, strict=True):
        p = shapely.Point(a, b)
        grids |= {c for c, g in zip(micro["code"], micro.geometry, strict=True) if g.covers(p)}
    buildings = yulin.registry.store.buildings()
    lines = []
    for k in np.unique(seg):
        xy = np.column_stack(TO_M.transform(lon[seg == k], lat[seg == k]))
        lines.append(shapely.LineString(xy) if len(xy) > 1 else shapely.Point(xy[0]))
    passed = []
    for b in buildings:
        foot = shapely.transform(b["geometry"], lambda xy: np.column_stack(TO_M.transform(*xy.T)))
        if min(foot.distance(line) for line in lines) <= rules.pass_m:
            passed.append(b["id"])
    alerts = []
    start = None
    for i in range(len(kept) + 1):
        out = i < len(kept) and not inside[i] and (start is None or seg[i] == seg[start])
        if out and start is None:
            start = i
        elif not out and start is not None:
            if t[i - 1] - t[start] > rules.alert_s:
                alerts.append((t[start], t[i - 1] - t[start]))
            start = i if i < len(kept) and not inside[i] else None
    return dist, time, sorted(grids), passed, alerts


def test_inside_outside_buildings_and_alerts_equal_brute_force(yulin):
    rules = TrackRules()
    desk = PatrolDesk(yulin.registry, rules)
    path = road_path(yulin.roads, yulin.area(WORKER_GRID))
    for seed in (1, 2):
        w = walk(path, seed=seed)
        fixes = {"t": w.t, "lon": w.lon, "lat": w.lat, "accuracy": w.accuracy}
        track, summary = desk.analyse_fixes(fixes, [WORKER_GRID])
        dist, time, grids, passed, alerts = _brute_force(yulin, w, track, rules)
        assert summary["time_s"]["inside"] > 0 and summary["time_s"]["outside"] > 0  # the walk leaves the grid
        for key in ("inside", "outside"):
            assert abs(summary["distance_m"][key] - dist[key]) <= 1e-3 * max(dist[key], 1.0) + 0.02
            assert abs(summary["time_s"][key] - time[key]) <= 0.02
        assert summary["micro_grids"] == grids
        assert summary["buildings_passed"] == passed and len(passed) > 5
        assert [a["duration_s"] for a in summary["alerts"]] == [round(float(d), 2) for _, d in alerts]
        assert len(alerts) >= 1
        assert summary["kept"] == np.count_nonzero(track.kept) and summary["fixes"] == len(w.t)
