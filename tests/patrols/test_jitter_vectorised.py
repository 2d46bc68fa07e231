"""The vectorised jitter pass answers exactly as the scalar walk, fix by fix, on walks with noise and stands."""

from __future__ import annotations

import numpy as np

from patrols import tracks
from patrols.tracks import _jitter, _jitter_walk


def _reference(x, y, candidate, jitter_m):
    idx = np.flatnonzero(candidate)
    out = np.zeros(len(x), bool)
    if len(idx) < 2 or jitter_m <= 0:
        return out
    xx, yy = x[idx], y[idx]
    near = np.flatnonzero(np.hypot(np.diff(xx), np.diff(yy)) <= jitter_m) + 1
    out[idx[_jitter_walk(xx, yy, near, jitter_m)]] = True
    return out


def test_the_vectorised_pass_is_the_scalar_walk(monkeypatch):
    rng = np.random.default_rng(5)
    vectorised = fallback = 0
    calls = []
    original = tracks._jitter_walk
    monkeypatch.setattr(tracks, "_jitter_walk", lambda *a: calls.append(1) or original(*a))
    for _ in range(1500):
        n = int(rng.integers(0, 400))
        step = rng.uniform(0.5, 9.0)
        heading = np.cumsum(rng.normal(0, 0.4, n))
        x = np.cumsum(step * np.cos(heading)) + rng.normal(0, rng.uniform(0, 5), n)
        y = np.cumsum(step * np.sin(heading)) + rng.normal(0, rng.uniform(0, 5), n)
        if n and rng.random() < 0.4:  # standing still a while, the phone wandering about 1.5 m
            a = int(rng.integers(0, n))
            b = min(n, a + int(rng.integers(1, 120)))
            x[a:b] = x[a] + rng.normal(0, 1.5, b - a)
            y[a:b] = y[a] + rng.normal(0, 1.5, b - a)
        candidate = rng.random(n) < 0.92
        jitter_m = float(rng.choice([0.0, 2.0, 5.0, 8.0, 30.0]))
        before = len(calls)
        got = _jitter(x, y, candidate, jitter_m)
        fallback += len(calls) > before
        vectorised += len(calls) == before
        assert np.array_equal(got, _reference(x, y, candidate, jitter_m))
        assert not (got & ~candidate).any()
    assert vectorised > 1000 and fallback > 20  # both paths were taken
