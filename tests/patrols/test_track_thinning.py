"""Thinning a track for the map: Douglas–Peucker in metres within a budget; every kept fix stays within the
tolerance of the thinned line, segment ends and times are kept."""

from __future__ import annotations

import numpy as np
import shapely

from patrols.analysis import _simplified, thin_track, track_geojson
from patrols.tracks import TrackRules, clean_track, project
from tests.patrols.conftest import WORKER_GRID, road_path, walk


def _long_track(yulin, n_walks=8):
    """Several walks one after another (with a gap between: several segments), about 900 kept fixes."""
    parts = [walk(road_path(yulin.roads, yulin.area(WORKER_GRID)), seed=20 + k) for k in range(n_walks)]
    t = np.concatenate([w.t - w.t[0] + k * 20_000.0 for k, w in enumerate(parts)])
    cat = {f: np.concatenate([getattr(w, f) for w in parts]) for f in ("lon", "lat", "accuracy")}
    return clean_track(t, cat["lon"], cat["lat"], cat["accuracy"], TrackRules())


def test_thinning_keeps_the_budget_and_the_shape(yulin):
    track = _long_track(yulin)
    kept = np.flatnonzero(track.kept)
    segments = np.unique(track.segment[kept])
    assert len(kept) > 800 and len(segments) >= 8
    for budget in (500, 150, 40):
        show, tolerance = thin_track(track, budget)
        assert 0 < len(show) <= budget and tolerance > 0
        assert set(show) <= set(kept) and np.all(np.diff(show) > 0)
        for k in segments:
            mine = kept[track.segment[kept] == k]
            chosen = show[track.segment[show] == k]
            assert chosen[0] == mine[0] and chosen[-1] == mine[-1]  # each segment keeps its ends
            line = shapely.linestrings(track.x[chosen], track.y[chosen])
            far = shapely.distance(line, shapely.points(track.x[mine], track.y[mine])).max()
            assert far <= tolerance + 1e-6, (budget, far, tolerance)
        if tolerance > 1.0:  # the step before did not fit: the tolerance is no larger than it needs to be
            assert len(_simplified(track, tolerance / 1.5)) > budget
    same, none = thin_track(track, len(kept))
    assert np.array_equal(same, kept) and none == 0.0


def test_the_geojson_of_a_thinned_track_keeps_its_times(yulin):
    track = _long_track(yulin, 2)
    show, tolerance = thin_track(track, 100)
    collection, shown = track_geojson(track, show=show)
    assert shown == len(show)
    coords = [c for f in collection["features"] for c in f["geometry"]["coordinates"]]
    times = [t for f in collection["features"] for t in f["properties"]["times"]]
    assert len(coords) == len(times) == len(show)
    x, y, _ = project([c[0] for c in coords], [c[1] for c in coords], track.crs)
    assert np.allclose(x, track.x[show], atol=0.05) and np.allclose(y, track.y[show], atol=0.05)
