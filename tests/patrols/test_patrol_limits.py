"""Issue 12 outside test: upload limits, a short write transaction, time checks, extreme dates, hostile encodings,
an administrator's patrol, a reused check-in id."""

from __future__ import annotations

import contextlib
import io
import uuid
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

import patrols.service
from tests.patrols.conftest import NOW, WORKER_GRID, road_path, walk
from tests.patrols.test_patrols_api import _building, _iso, _offset, _positions

EXTREMES = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"]


def _bilingual(message: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in message) and any(ch.isascii() and ch.isalpha() for ch in message)


def _gpx_text(tracks, encoding="UTF-8") -> bytes:
    """GPX of ``tracks`` (lists of ``(time text, lon, lat)``)."""
    body = "".join(
        "<trk><trkseg>"
        + "".join(f'<trkpt lat="{b:.7f}" lon="{a:.7f}"><time>{t}</time></trkpt>' for t, a, b in points)
        + "</trkseg></trk>"
        for points in tracks
    )
    return (
        f'<?xml version="1.0" encoding="{encoding}"?><gpx version="1.1" creator="t" '
        f'xmlns="http://www.topografix.com/GPX/1/1">{body}</gpx>'
    ).encode()


def _z(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _upload(client, data: bytes):
    return client.post(
        "/api/v1/patrols/gpx", data={"file": (io.BytesIO(data), "t.gpx")}, content_type="multipart/form-data"
    )


@contextlib.contextmanager
def _config(app, **values):
    old = {k: app.config.get(k) for k in values}
    app.config.update(values)
    try:
        yield
    finally:
        app.config.update(old)


def _walk(yulin, seed):
    return walk(road_path(yulin.roads, yulin.area(WORKER_GRID)), seed=seed)


# -- 1. limits and a short write transaction ----------------------------------------------------------------------
def test_gpx_limits(yulin):
    client = yulin.client("worker")
    w = _walk(yulin, 11)
    points = [(_z(t), a, b) for t, a, b in zip(w.t[:30], w.lon[:30], w.lat[:30], strict=True)]
    many_tracks = _upload(client, _gpx_text([points[:2]] * 21))
    assert many_tracks.status_code == 413 and "20" in many_tracks.json["error"]["message"]
    with _config(yulin.app, PATROL_GPX_MAX_POINTS=25):
        many_points = _upload(client, _gpx_text([points]))
    assert many_points.status_code == 413 and "25" in many_points.json["error"]["message"]
    long = [points[0], (_z(w.t[0] + 25 * 3600), points[1][1], points[1][2])]
    too_long = _upload(client, _gpx_text([long]))
    assert too_long.status_code == 400 and "24" in too_long.json["error"]["message"]
    for response in (many_tracks, many_points, too_long):
        assert _bilingual(response.json["error"]["message"])


def _watch_transactions(yulin, monkeypatch):
    """Count the cleanings of a track done while a write transaction is open, and all of them."""
    store = yulin.registry.store
    opened = {"depth": 0}
    seen = {"inside": 0, "all": 0}
    original = type(store).transaction

    @contextlib.contextmanager
    def transaction(*args, **kwargs):
        with original(store, *args, **kwargs) as conn:
            opened["depth"] += 1
            try:
                yield conn
            finally:
                opened["depth"] -= 1

    real_clean = patrols.service.clean_track

    def clean(*args, **kwargs):
        seen["all"] += 1
        seen["inside"] += opened["depth"] > 0
        return real_clean(*args, **kwargs)

    monkeypatch.setattr(store, "transaction", transaction)
    monkeypatch.setattr(patrols.service, "clean_track", clean)
    return seen


def test_gpx_is_analysed_before_the_write_transaction(yulin, monkeypatch):
    w = _walk(yulin, 12)
    third = len(w.t) // 3
    tracks = [
        [(_z(t), a, b) for t, a, b in zip(w.t[s], w.lon[s], w.lat[s], strict=True)]
        for s in (slice(0, third), slice(third, 2 * third), slice(2 * third, None))
    ]
    seen = _watch_transactions(yulin, monkeypatch)
    made = _upload(yulin.client("worker"), _gpx_text(tracks))
    assert made.status_code == 201, made.json
    assert len(made.json["patrols"]) == 3 and all(p["summary"]["fixes"] for p in made.json["patrols"])
    assert seen == {"inside": 0, "all": 3}


def test_ending_a_patrol_analyses_it_outside_the_write_transaction(yulin, monkeypatch):
    client = yulin.client("worker")
    w = _walk(yulin, 13)
    pid = client.post("/api/v1/patrols", json={"client_id": str(uuid.uuid4()), "started_at": _iso(w.t[0])}).json["id"]
    client.post(f"/api/v1/patrols/{pid}/positions", json={"positions": _positions(w)})
    seen = _watch_transactions(yulin, monkeypatch)
    ended = client.post(f"/api/v1/patrols/{pid}/end", json={"ended_at": _iso(w.t[-1] + 5)})
    assert ended.status_code == 200 and ended.json["summary"]["fixes"] == len(w.t)
    assert seen["inside"] == 0 and seen["all"] >= 1


def test_a_large_track_answer_is_simplified_and_says_so(yulin):
    client = yulin.client("worker")
    w = _walk(yulin, 14)
    made = _upload(client, _gpx_text([[(_z(t), a, b) for t, a, b in zip(w.t, w.lon, w.lat, strict=True)]]))
    pid = made.json["patrols"][0]["id"]
    full = client.get(f"/api/v1/patrols/{pid}").json
    assert "simplified" not in full
    kept = full["summary"]["kept"]
    with _config(yulin.app, PATROL_TRACK_MAX_POINTS=100):
        small = client.get(f"/api/v1/patrols/{pid}").json
    shown = [f["geometry"]["coordinates"] for f in small["track"]["features"]]
    assert sum(len(c) for c in shown) <= 100 + len(shown)
    assert small["simplified"] == {"points": sum(len(c) for c in shown), "of": kept}
    full_ends = [(f["geometry"]["coordinates"][0], f["geometry"]["coordinates"][-1]) for f in full["track"]["features"]]
    assert [(c[0], c[-1]) for c in shown] == full_ends  # every segment keeps its ends
    assert all(len(f["properties"]["times"]) == len(f["geometry"]["coordinates"]) for f in small["track"]["features"])
    assert small["summary"] == full["summary"]


# -- 2. times are checked against the desk's clock ----------------------------------------------------------------
def test_patrol_times_are_checked(yulin):
    client = yulin.client("worker")
    future = client.post("/api/v1/patrols", json={"client_id": "future", "started_at": "3000-01-01T00:00:00+08:00"})
    assert future.status_code == 400 and _bilingual(future.json["error"]["message"])
    soon = (NOW + timedelta(minutes=10)).isoformat()
    assert client.post("/api/v1/patrols", json={"client_id": "soon", "started_at": soon}).status_code == 400
    skew = (NOW + timedelta(minutes=2)).isoformat()  # a phone's clock a little ahead: within the tolerance
    assert client.post("/api/v1/patrols", json={"client_id": "skew", "started_at": skew}).status_code == 201
    start = NOW - timedelta(hours=1)
    pid = client.post("/api/v1/patrols", json={"client_id": "times", "started_at": start.isoformat()}).json["id"]

    def fix(at):
        return {"positions": [{"t": at.isoformat(), "lon": 104.05, "lat": 30.63, "accuracy": 5}]}

    for at in (
        start - timedelta(hours=10),
        datetime(1970, 1, 1, 0, 0, 1, tzinfo=timezone.utc),
        datetime(2100, 1, 1, tzinfo=timezone.utc),
        NOW + timedelta(minutes=10),
    ):
        refused = client.post(f"/api/v1/patrols/{pid}/positions", json=fix(at))
        assert refused.status_code == 400, at
        assert _bilingual(refused.json["error"]["message"])
    for at in (start - timedelta(minutes=2), NOW, NOW + timedelta(minutes=2)):
        assert client.post(f"/api/v1/patrols/{pid}/positions", json=fix(at)).json["accepted"] == 1
    summary = client.post(f"/api/v1/patrols/{pid}/end", json={"ended_at": NOW.isoformat()}).json["summary"]
    assert summary["fixes"] == 3
    ended_late = client.post(f"/api/v1/patrols/{pid}/positions", json=fix(NOW))
    assert ended_late.status_code == 409
    bad_end = client.post("/api/v1/patrols", json={"client_id": "end-future", "started_at": start.isoformat()})
    far_end = client.post(f"/api/v1/patrols/{bad_end.json['id']}/end", json={"ended_at": "2100-01-01T00:00:00Z"})
    assert far_end.status_code == 400


def test_gpx_times_in_the_future_are_refused(yulin):
    w = _walk(yulin, 15)
    points = [(_z(t + 3 * 365 * 86400), a, b) for t, a, b in zip(w.t[:10], w.lon[:10], w.lat[:10], strict=True)]
    response = _upload(yulin.client("worker"), _gpx_text([points]))
    assert response.status_code == 400 and _bilingual(response.json["error"]["message"])


@pytest.mark.parametrize(
    ("at", "status"),
    [
        (datetime(2100, 1, 1, tzinfo=timezone.utc), 400),
        (NOW + timedelta(minutes=10), 400),
        (NOW - timedelta(days=8), 400),
        (NOW - timedelta(days=6), 201),
        (NOW + timedelta(minutes=2), 201),
    ],
)
def test_checkin_times_are_checked(yulin, at, status):
    bid, foot = _building(yulin)
    lon, lat = _offset(foot, 5)
    body = {"client_id": str(uuid.uuid4()), "building_id": bid, "lon": lon, "lat": lat, "at": at.isoformat()}
    response = yulin.client("worker").post("/api/v1/checkins", json=body)
    assert response.status_code == status, response.json
    if status == 400:
        assert _bilingual(response.json["error"]["message"])


# -- 3. extreme dates and hostile encodings are a 400 -------------------------------------------------------------
@pytest.mark.parametrize("value", EXTREMES)
@pytest.mark.parametrize("where", ["started_at", "t", "at", "ended_at", "since", "until", "compliance", "gpx"])
def test_extreme_dates_are_a_400(yulin, where, value):
    client = yulin.client("worker")
    staff = yulin.client("staff")
    start = (NOW - timedelta(hours=1)).isoformat()
    pid = client.post("/api/v1/patrols", json={"client_id": f"x-{where}-{value[:4]}", "started_at": start}).json["id"]
    bid, foot = _building(yulin)
    lon, lat = _offset(foot, 5)
    q = value.replace("+", "%2B")
    if where == "started_at":
        response = client.post("/api/v1/patrols", json={"client_id": str(uuid.uuid4()), "started_at": value})
    elif where == "t":
        fixes = {"positions": [{"t": value, "lon": 104.05, "lat": 30.63}]}
        response = client.post(f"/api/v1/patrols/{pid}/positions", json=fixes)
    elif where == "at":
        body = {"client_id": str(uuid.uuid4()), "building_id": bid, "lon": lon, "lat": lat, "at": value}
        response = client.post("/api/v1/checkins", json=body)
    elif where == "ended_at":
        response = client.post(f"/api/v1/patrols/{pid}/end", json={"ended_at": value})
    elif where in ("since", "until"):
        response = staff.get(f"/api/v1/patrols?{where}={q}")
    elif where == "compliance":
        response = staff.get(f"/api/v1/patrols/compliance?until={q}")
    else:
        response = _upload(client, _gpx_text([[(value, 104.05, 30.63), (value, 104.0501, 30.63)]]))
    assert response.status_code == 400, response.json
    assert _bilingual(response.json["error"]["message"])


@pytest.mark.parametrize("encoding", ["base64", "hex", "rot13", "zlib", "bz2", "uu", "quopri"])
def test_gpx_declaring_a_non_text_encoding_is_a_400(yulin, encoding):
    response = _upload(yulin.client("worker"), _gpx_text([[(_z(NOW.timestamp() - 60), 104.05, 30.63)]], encoding))
    assert response.status_code == 400 and response.json["error"]["code"] == "bad_gpx"
    assert encoding in response.json["error"]["message"] and _bilingual(response.json["error"]["message"])


def test_gpx_time_not_iso_8601_is_named(yulin):
    response = _upload(yulin.client("worker"), _gpx_text([[("yesterday", 104.05, 30.63)]]))
    assert response.status_code == 400
    message = response.json["error"]["message"]
    assert "yesterday" in message and "ISO 8601" in message and _bilingual(message)


# -- 4. an administrator's patrol is inside everywhere ------------------------------------------------------------
def test_an_administrators_patrol_is_inside(yulin):
    client = yulin.client("admin")
    w = _walk(yulin, 16)
    made = _upload(client, _gpx_text([[(_z(t), a, b) for t, a, b in zip(w.t, w.lon, w.lat, strict=True)]]))
    assert made.status_code == 201, made.json
    summary = made.json["patrols"][0]["summary"]
    assert summary["distance_m"]["outside"] == 0 and summary["time_s"]["outside"] == 0
    assert summary["distance_m"]["inside"] > 1000 and summary["alerts"] == []
    assert summary["areas"] == "all"
    pid = made.json["patrols"][0]["id"]
    assert yulin.client("staff").get(f"/api/v1/patrols/{pid}").status_code == 404  # an admin's track: admins only
    assert client.get(f"/api/v1/patrols/{pid}").json["summary"] == summary
    points = [(_z(t), a, b) for t, a, b in zip(w.t, w.lon, w.lat, strict=True)]
    worker = _upload(yulin.client("worker"), _gpx_text([points]))
    assert worker.json["patrols"][0]["summary"]["areas"] == "assigned"


# -- 5. a check-in id reused for another building ----------------------------------------------------------------
def test_a_checkin_id_reused_for_another_building_is_a_conflict(yulin):
    client = yulin.client("worker")
    rows = [r for r in yulin.registry.store.buildings() if yulin.area(WORKER_GRID).covers(_point(r))]
    (a, b) = rows[:2]
    at = (NOW - timedelta(minutes=5)).isoformat()
    key = str(uuid.uuid4())
    first = client.post(
        "/api/v1/checkins", json={"client_id": key, "building_id": a["id"], "lon": a["lon"], "lat": a["lat"], "at": at}
    )
    assert first.status_code == 201
    again = client.post(
        "/api/v1/checkins", json={"client_id": key, "building_id": a["id"], "lon": a["lon"], "lat": a["lat"], "at": at}
    )
    assert again.status_code == 200 and again.json["id"] == first.json["id"]
    other = client.post(
        "/api/v1/checkins", json={"client_id": key, "building_id": b["id"], "lon": b["lon"], "lat": b["lat"], "at": at}
    )
    assert other.status_code == 409 and str(a["id"]) in other.json["error"]["message"]
    assert _bilingual(other.json["error"]["message"])


def _point(row):
    import shapely

    return shapely.Point(row["lon"], row["lat"])


def test_settings_know_the_new_keys():
    from web.settings import DEFAULTS

    for key in (
        "PATROL_GPX_MAX_TRACKS",
        "PATROL_GPX_MAX_POINTS",
        "PATROL_MAX_HOURS",
        "PATROL_TRACK_MAX_POINTS",
        "PATROL_CLOCK_TOLERANCE_S",
        "CHECKIN_MAX_AGE_DAYS",
    ):
        assert isinstance(DEFAULTS[key], int | float) and not isinstance(DEFAULTS[key], bool), key
    assert np.isfinite(DEFAULTS["PATROL_CLOCK_TOLERANCE_S"])
