"""Cleaning a GPS track, vectorised over the whole track (numpy): pure functions, no storage.

Rules, applied in this order to the fixes sorted by time:

1. ``accuracy``: a fix whose reported accuracy is worse than ``max_accuracy_m`` is dropped.
2. ``speed``: a fix that would mean moving faster than ``max_speed_mps`` from the last kept fix is an outlier and
   is dropped (the walk resumes from the last kept fix). A track whose first fix is itself a jump is not
   anchored there: leading fixes whose speed to the next fix is impossible are dropped first.
3. ``jitter``: while standing, the phone's position wanders; a fix within ``jitter_m`` of the last kept fix
   collapses into it (the earlier fix stands for both).
4. Segments: the kept fixes are split where two consecutive ones are more than ``gap_s`` apart.

Distances are metres in the CGCS2000 Gauss–Krüger zone of the track (:func:`geo.crs.metric_crs`; UTM outside
China), which is exact to well under a metre over a city.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pyproj

from geo.crs import metric_crs

__all__ = ["TrackRules", "CleanTrack", "project", "clean_track", "DROP_REASONS"]

#: Why a fix was dropped, in the order the rules run.
DROP_REASONS = ("accuracy", "speed", "jitter")


@dataclass(frozen=True)
class TrackRules:
    """The deployment's patrol rules (settings ``PATROL_*``, ``CHECKIN_REACH_M``, ``VISIT_CYCLES``)."""

    max_accuracy_m: float = 50.0
    max_speed_mps: float = 8.0
    gap_s: float = 600.0
    jitter_m: float = 5.0
    pass_m: float = 20.0
    alert_s: float = 300.0
    checkin_reach_m: float = 50.0
    retention_days: int = 180
    tolerance_s: float = 300.0
    checkin_max_age_days: float = 7.0
    visit_cycles: dict = field(
        default_factory=lambda: {"micro_grid_patrol_days": 7, "household_visit_days": 182, "vulnerable_visit": "month"}
    )

    @classmethod
    def from_settings(cls, settings: dict) -> TrackRules:
        """The rules of a settings dict (missing keys take their defaults)."""
        from core.settings import DEFAULTS  # the one table of defaults

        def get(key):
            return settings.get(key, DEFAULTS[key])

        return cls(
            max_accuracy_m=float(get("PATROL_MAX_ACCURACY_M")),
            max_speed_mps=float(get("PATROL_MAX_SPEED_MPS")),
            gap_s=float(get("PATROL_GAP_S")),
            jitter_m=float(get("PATROL_JITTER_M")),
            pass_m=float(get("PATROL_PASS_M")),
            alert_s=float(get("PATROL_ALERT_S")),
            checkin_reach_m=float(get("CHECKIN_REACH_M")),
            retention_days=int(get("TRACK_RETENTION_DAYS")),
            tolerance_s=float(get("PATROL_CLOCK_TOLERANCE_S")),
            checkin_max_age_days=float(get("CHECKIN_MAX_AGE_DAYS")),
            visit_cycles=_visit_cycles(get("VISIT_CYCLES") or {}, DEFAULTS["VISIT_CYCLES"]),
        )


def _visit_cycles(given: dict, defaults: dict) -> dict:
    """The visit cycles: the defaults overridden by ``given``.

    The older key ``vulnerable_visit_days`` (a number of days) stands for ``vulnerable_visit`` when that is not given.
    """
    cycles = {**defaults, **given}
    legacy = cycles.pop("vulnerable_visit_days", None)
    if legacy is not None and "vulnerable_visit" not in given:
        cycles["vulnerable_visit"] = legacy
    return cycles


@dataclass
class CleanTrack:
    """A cleaned track: the input sorted by time, which fixes were kept, why others were dropped, segments.

    Attributes
    ----------
    t : numpy.ndarray
        Seconds since the epoch (float), sorted.
    lon, lat, accuracy : numpy.ndarray
        WGS84 degrees and metres (``nan``: not reported), in the same order.
    x, y : numpy.ndarray
        Metric coordinates (see :attr:`crs`).
    reason : numpy.ndarray
        ``""`` for a kept fix, else one of :data:`DROP_REASONS`.
    segment : numpy.ndarray
        Segment number of each kept fix (``-1`` for dropped ones), from 0.
    crs : pyproj.CRS
        The metric CRS of ``x``, ``y``.
    """

    t: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    accuracy: np.ndarray
    x: np.ndarray
    y: np.ndarray
    reason: np.ndarray
    segment: np.ndarray
    crs: pyproj.CRS | None

    @property
    def kept(self) -> np.ndarray:
        """Boolean mask of the kept fixes."""
        return self.reason == ""

    def dropped(self) -> dict[str, int]:
        """Number of dropped fixes by reason (every reason listed)."""
        return {r: int(np.count_nonzero(self.reason == r)) for r in DROP_REASONS}

    @property
    def segments(self) -> int:
        """Number of segments."""
        return int(self.segment.max() + 1) if len(self.segment) and self.segment.max() >= 0 else 0


_TRANSFORMERS: dict[int, pyproj.Transformer] = {}


def project(lon, lat, crs: pyproj.CRS | None = None) -> tuple[np.ndarray, np.ndarray, pyproj.CRS]:
    """WGS84 longitudes and latitudes in metres, in ``crs`` (default: the metric CRS of their mean).

    Parameters
    ----------
    lon, lat : array_like
        WGS84 degrees.
    crs : pyproj.CRS, optional
        A projected CRS; default :func:`geo.crs.metric_crs` of the points' mean.

    Returns
    -------
    x, y : numpy.ndarray
    crs : pyproj.CRS

    Examples
    --------
    >>> x, y, crs = project([104.0, 104.001], [30.65, 30.65])
    >>> round(float(np.hypot(x[1] - x[0], y[1] - y[0])))
    96
    """
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    if crs is None:
        crs = metric_crs(float(np.mean(lon)), float(np.mean(lat))) if len(lon) else metric_crs(104.0, 30.0)
    key = crs.to_epsg() or id(crs)
    transformer = _TRANSFORMERS.get(key)
    if transformer is None:
        transformer = _TRANSFORMERS[key] = pyproj.Transformer.from_crs(4326, crs, always_xy=True)
    x, y = transformer.transform(lon, lat)
    return np.asarray(x, float), np.asarray(y, float), crs


def _speed_outliers(t: np.ndarray, x: np.ndarray, y: np.ndarray, candidate: np.ndarray, max_speed: float) -> np.ndarray:
    """Which candidates imply a speed above ``max_speed`` from the last kept fix (exact sequential rule).

    The consecutive speeds are computed at once; only the fixes after an outlier, up to the first one reachable
    again from the last kept fix, are walked one by one, so a clean track costs one vectorised pass.
    """
    idx = np.flatnonzero(candidate)
    out = np.zeros(len(t), bool)
    if len(idx) < 2:
        return out
    tt, xx, yy = t[idx], x[idx], y[idx]

    def too_fast(a, b):
        dt = np.maximum(tt[b] - tt[a], 1e-9)
        return np.hypot(xx[b] - xx[a], yy[b] - yy[a]) / dt > max_speed

    n = len(idx)
    fast = np.zeros(n, bool)
    fast[1:] = too_fast(np.arange(n - 1), np.arange(1, n))
    drop = np.zeros(n, bool)
    start = 0
    # no anchor on a jump: while the first fix is impossible from the next two, which agree, it is dropped
    while (
        start + 2 < n
        and fast[start + 1]
        and too_fast(np.array([start]), np.array([start + 2]))[0]
        and not too_fast(np.array([start + 1]), np.array([start + 2]))[0]
    ):
        drop[start] = True
        start += 1
    bad = np.flatnonzero(fast)
    ts, xs, ys = tt.tolist(), xx.tolist(), yy.tolist()  # the walk below is scalar: Python floats, not 1-arrays

    def too_fast_one(a: int, b: int) -> bool:
        return math.hypot(xs[b] - xs[a], ys[b] - ys[a]) / max(ts[b] - ts[a], 1e-9) > max_speed

    pointer = start + 1
    for b in bad.tolist():
        if b < pointer:
            continue
        last, j = b - 1, b
        while j < n and too_fast_one(last, j):
            drop[j] = True
            j += 1
        pointer = j + 1
    out[idx[drop]] = True
    return out


#: How far ahead (fixes) the vectorised jitter pass follows every run; a longer run (standing still for several
#: minutes) makes :func:`_jitter` walk that track fix by fix instead (:func:`_jitter_walk`, the same answer).
_JITTER_LOOKAHEAD = 24
_JITTER_BLOCK = 8


def _jitter_walk(xx: np.ndarray, yy: np.ndarray, near: np.ndarray, jitter_m: float) -> np.ndarray:
    """:func:`_jitter`'s answer over the candidates (``xx``, ``yy``) by a scalar walk, fix by fix."""
    drop = np.zeros(len(xx), bool)
    xs, ys, n = xx.tolist(), yy.tolist(), len(xx)  # a scalar walk: Python floats are several times faster here
    pointer = 0
    for i in near.tolist():
        if i < pointer:
            continue
        anchor, j = i - 1, i  # the previous fix is kept (every fix before a near one was checked)
        ax, ay = xs[anchor], ys[anchor]
        while j < n and math.hypot(xs[j] - ax, ys[j] - ay) <= jitter_m:
            drop[j] = True
            j += 1
        pointer = j + 1
    return drop


def _jitter(x: np.ndarray, y: np.ndarray, candidate: np.ndarray, jitter_m: float) -> np.ndarray:
    """Which candidates lie within ``jitter_m`` of the last kept fix (they collapse into it).

    A candidate within ``jitter_m`` of the one before it starts a run anchored at that one; the run takes every
    following candidate within ``jitter_m`` of the anchor; the candidate ending it is kept, and the next run may
    start only after it. Vectorised: the run that would start at every such candidate is followed for
    :data:`_JITTER_LOOKAHEAD` candidates at once; which runs are taken (each the first start after the previous
    run's end) is the orbit of the first start under "next start", found by pointer doubling.
    """
    idx = np.flatnonzero(candidate)
    out = np.zeros(len(x), bool)
    if len(idx) < 2 or jitter_m <= 0:
        return out
    xx, yy = x[idx], y[idx]
    n = len(idx)
    near = np.flatnonzero(np.hypot(np.diff(xx), np.diff(yy)) <= jitter_m) + 1
    m = len(near)
    if not m:
        return out
    end = np.full(m, n, np.int64)  # the candidate ending each run (n: the track's end)
    open_ = np.arange(m)
    for first in range(1, _JITTER_LOOKAHEAD + 1, _JITTER_BLOCK):  # a block of candidates ahead of every open run
        j = near[open_, None] + np.arange(first, first + _JITTER_BLOCK)
        a = near[open_, None] - 1
        jc = np.minimum(j, n - 1)
        far = (np.hypot(xx[jc] - xx[a], yy[jc] - yy[a]) > jitter_m) | (j >= n)
        hit = far.any(axis=1)
        rows = np.flatnonzero(hit)
        end[open_[rows]] = np.minimum(j[rows, far[rows].argmax(axis=1)], n)
        open_ = open_[~hit]
        if not len(open_):
            break
    else:
        out[idx[_jitter_walk(xx, yy, near, jitter_m)]] = True
        return out
    jump = np.append(np.searchsorted(near, end + 1), m)  # run k → the next run that may start; m: none
    levels = [jump]
    while (1 << len(levels)) <= m:
        levels.append(levels[-1][levels[-1]])
    taken = np.zeros(m + 1, bool)
    taken[0] = taken[m] = True
    for level in reversed(levels):  # the orbit under jump^(2^t) from the one under jump^(2^(t+1))
        taken[level[taken]] = True
    taken = np.flatnonzero(taken[:m])
    delta = np.zeros(n + 1, np.int64)
    delta[near[taken]] += 1
    delta[end[taken]] -= 1
    out[idx[np.cumsum(delta[:n]) > 0]] = True
    return out


def clean_track(t, lon, lat, accuracy=None, rules: TrackRules | None = None, crs=None) -> CleanTrack:
    """Clean one track by the rules of the module docstring.

    Parameters
    ----------
    t : array_like
        Seconds since the epoch of each fix (any order; equal instants are kept once, the first given).
    lon, lat : array_like
        WGS84 degrees.
    accuracy : array_like, optional
        Reported accuracy in metres (``nan`` or missing: unknown, never dropped for it).
    rules : TrackRules, optional
    crs : pyproj.CRS, optional
        The metric CRS (default: the track's own, :func:`project`).

    Returns
    -------
    CleanTrack

    Examples
    --------
    >>> t = np.arange(5) * 5.0
    >>> lon = 104.0 + np.array([0, 6, 12, 5000, 18]) / 96_000  # the fourth fix jumps 5 km
    >>> clean_track(t, lon, np.full(5, 30.65)).reason.tolist()
    ['', '', '', 'speed', '']
    """
    rules = rules or TrackRules()
    t = np.asarray(t, float)
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    acc = np.full(len(t), np.nan) if accuracy is None else np.asarray(accuracy, float)
    order = np.argsort(t, kind="stable")
    t, lon, lat, acc = t[order], lon[order], lat[order], acc[order]
    x, y, crs = project(lon, lat, crs)
    reason = np.full(len(t), "", dtype=object)
    reason[acc > rules.max_accuracy_m] = "accuracy"
    reason[_speed_outliers(t, x, y, reason == "", rules.max_speed_mps)] = "speed"
    reason[_jitter(x, y, reason == "", rules.jitter_m)] = "jitter"
    kept = np.flatnonzero(reason == "")
    segment = np.full(len(t), -1, dtype=np.int64)
    if len(kept):
        breaks = np.concatenate([[0], (np.diff(t[kept]) > rules.gap_s).astype(np.int64)])
        segment[kept] = np.cumsum(breaks)
    return CleanTrack(t, lon, lat, acc, x, y, reason, segment, crs)
