"""The patrol API on the Yulin registry: idempotent writes, scope, check-in reach, GPX, bad input (4xx, never 500),
my work, compliance, purging old positions."""

from __future__ import annotations

import io
import uuid
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import numpy as np
import openpyxl
import shapely

from core.audit import entries
from patrols.service import PatrolDesk
from patrols.tracks import TrackRules
from tests.patrols.conftest import NOW, STREET, TO_LL, TO_M, WORKER_GRID, road_path, walk

#: An hour before the desk's "now": a time every write accepts.
T0 = NOW.timestamp() - 3600


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone(timedelta(hours=8))).isoformat()


def _positions(w, sel=slice(None)):
    return [
        {"t": _iso(t), "lon": float(a), "lat": float(b), "accuracy": float(c)}
        for t, a, b, c in zip(w.t[sel], w.lon[sel], w.lat[sel], w.accuracy[sel], strict=True)
    ]


def _record(yulin, name="worker", seed=3, start=1_795_741_200.0):
    client = yulin.client(name)
    w = walk(road_path(yulin.roads, yulin.area(WORKER_GRID)), seed=seed, start=start)
    key = str(uuid.uuid4())
    made = client.post("/api/v1/patrols", json={"client_id": key, "started_at": _iso(w.t[0])})
    assert made.status_code == 201, made.json
    again = client.post("/api/v1/patrols", json={"client_id": key, "started_at": _iso(w.t[0])})
    assert again.status_code == 200 and again.json["id"] == made.json["id"]
    pid = made.json["id"]
    half = len(w.t) // 2
    first = client.post(f"/api/v1/patrols/{pid}/positions", json={"positions": _positions(w, slice(0, half))})
    assert first.json == {"accepted": half, "duplicates": 0}
    resent = client.post(f"/api/v1/patrols/{pid}/positions", json={"positions": _positions(w)})
    assert resent.json == {"accepted": len(w.t) - half, "duplicates": half}
    ended = client.post(f"/api/v1/patrols/{pid}/end", json={"ended_at": _iso(w.t[-1] + 5)})
    assert ended.status_code == 200 and ended.json["summary"]["fixes"] == len(w.t)
    return pid, w, ended.json


def test_recording_is_idempotent_and_matches_the_domain_analysis(yulin):
    pid, w, ended = _record(yulin)
    client = yulin.client("worker")
    assert client.post(f"/api/v1/patrols/{pid}/end", json={"ended_at": _iso(w.t[-1] + 99)}).json == ended
    late = client.post(f"/api/v1/patrols/{pid}/positions", json={"positions": _positions(w, slice(0, 1))})
    assert late.status_code == 409 and late.json["error"]["code"] == "conflict"
    desk = PatrolDesk(yulin.registry, TrackRules())
    _, summary = desk.analyse_fixes({"t": w.t, "lon": w.lon, "lat": w.lat, "accuracy": w.accuracy}, [WORKER_GRID])
    assert ended["summary"] == summary
    one = client.get(f"/api/v1/patrols/{pid}").json
    assert one["dropped"]["speed"] == 8 and one["dropped"]["accuracy"] == 8
    kept_coords = sum(len(f["geometry"]["coordinates"]) for f in one["track"]["features"])
    assert kept_coords == summary["kept"]
    assert all(len(f["properties"]["times"]) == len(f["geometry"]["coordinates"]) for f in one["track"]["features"])
    audit, _ = entries(yulin.registry.store.engine, object_type="patrol", object_id=str(pid))
    assert {e["action"] for e in audit} == {"create", "add_positions", "end"}


def test_scope_of_tracks(yulin):
    pid, _w, _ = _record(yulin, seed=4)
    assert yulin.client("staff").get(f"/api/v1/patrols/{pid}").status_code == 200
    assert yulin.client("admin").get(f"/api/v1/patrols/{pid}").status_code == 200
    other = yulin.client("staff2")  # staff of the other community
    assert other.get(f"/api/v1/patrols/{pid}").status_code == 404
    assert pid not in [p["id"] for p in other.get("/api/v1/patrols").json["patrols"]]
    assert pid in [p["id"] for p in yulin.client("staff").get("/api/v1/patrols").json["patrols"]]
    worker2 = yulin.client("worker2")
    assert worker2.get(f"/api/v1/patrols/{pid}").status_code == 404
    assert worker2.get("/api/v1/patrols").json["patrols"] == []
    sneaky = worker2.post(f"/api/v1/patrols/{pid}/positions", json={"positions": []})
    assert sneaky.status_code == 404
    assert worker2.post(f"/api/v1/patrols/{pid}/end", json={"ended_at": _iso(T0)}).status_code == 404
    assert (
        yulin.client("staff").post("/api/v1/patrols", json={"client_id": "x", "started_at": _iso(T0)}).status_code
        == 403
    )


def test_bad_input_is_a_4xx(yulin):
    client = yulin.client("worker")
    pid = client.post("/api/v1/patrols", json={"client_id": "bad-1", "started_at": _iso(T0)}).json["id"]
    cases = [
        ("/api/v1/patrols", {"client_id": "k", "started_at": "2026-11-27T09:00:00"}),  # no offset
        ("/api/v1/patrols", {"client_id": "", "started_at": _iso(T0)}),
        ("/api/v1/patrols", {"started_at": "yesterday"}),
        (f"/api/v1/patrols/{pid}/positions", {"positions": [{"t": "2026-11-27T09:00:00", "lon": 104, "lat": 30}]}),
        (f"/api/v1/patrols/{pid}/positions", {"positions": [{"t": _iso(T0), "lon": 30.6, "lat": 104.0}]}),
        (
            f"/api/v1/patrols/{pid}/positions",
            {"positions": [{"t": _iso(T0 + i), "lon": 104, "lat": 30} for i in range(5001)]},
        ),
        (f"/api/v1/patrols/{pid}/positions", {"positions": "many"}),
        (f"/api/v1/patrols/{pid}/end", {"ended_at": _iso(T0 - 3600)}),  # before the start
        ("/api/v1/checkins", {"client_id": "c", "building_id": 0, "lon": 104, "lat": 30, "at": _iso(T0)}),
    ]
    for path, body in cases:
        response = client.post(path, json=body)
        assert response.status_code in (400, 422), (path, response.status_code)
        assert response.json["error"]["message"]
    assert (
        client.post(f"/api/v1/patrols/{pid}/positions", data=b"{", content_type="application/json").status_code == 400
    )
    assert client.get("/api/v1/patrols?since=2026-01-01").status_code == 400
    assert client.get("/api/v1/patrols/999999").status_code == 404


def _building(yulin, grid=WORKER_GRID):
    rows = yulin.registry.store.buildings()
    area = yulin.area(grid)
    row = next(r for r in rows if area.covers(shapely.Point(r["lon"], r["lat"])))
    return row["id"], row["geometry"]


def _offset(foot, metres):
    """A point ``metres`` east of the footprint's east edge."""
    c = foot.centroid
    x, y = TO_M.transform(c.x, c.y)
    east = shapely.transform(foot, lambda xy: np.column_stack(TO_M.transform(*xy.T))).bounds[2]
    lon, lat = TO_LL.transform(east + metres, y)
    return float(lon), float(lat)


def test_checkins_within_reach_only(yulin):
    client = yulin.client("worker")
    bid, foot = _building(yulin)
    lon, lat = _offset(foot, 40)
    body = {"client_id": "ci-1", "building_id": bid, "lon": lon, "lat": lat, "accuracy": 5, "at": _iso(T0)}
    made = client.post("/api/v1/checkins", json=body)
    assert made.status_code == 201 and made.json["accepted"] and abs(made.json["distance_m"] - 40) < 0.5
    assert client.post("/api/v1/checkins", json=body).status_code == 200
    far = dict(body, client_id="ci-2", lon=_offset(foot, 70)[0], accuracy=100)  # 50 m + at most 30 m of accuracy
    assert client.post("/api/v1/checkins", json=far).status_code == 201
    too_far = dict(body, client_id="ci-3", lon=_offset(foot, 90)[0], accuracy=100)
    refused = client.post("/api/v1/checkins", json=too_far)
    assert refused.status_code == 422 and refused.json["error"]["code"] == "too_far"
    assert abs(refused.json["error"]["details"]["distance_m"] - 90) < 0.5
    other_id, other_foot = _building(yulin, f"{STREET}002001")
    elsewhere = dict(body, client_id="ci-4", building_id=other_id, lon=other_foot.centroid.x, lat=other_foot.centroid.y)
    response = client.post("/api/v1/checkins", json=elsewhere)
    unknown = client.post("/api/v1/checkins", json=dict(elsewhere, client_id="ci-5", building_id=10**8))
    assert response.status_code == unknown.status_code == 404 and response.json == unknown.json


def _gpx(w, encoding="UTF-8", name="巡查") -> bytes:
    points = "".join(
        f'<trkpt lat="{b:.7f}" lon="{a:.7f}"><time>{datetime.fromtimestamp(t, timezone.utc):%Y-%m-%dT%H:%M:%SZ}</time>'
        "</trkpt>"
        for t, a, b in zip(w.t, w.lon, w.lat, strict=True)
    )
    text = (
        f'<?xml version="1.0" encoding="{encoding}"?><gpx version="1.1" creator="t" '
        f'xmlns="http://www.topografix.com/GPX/1/1"><trk><name>{name}</name><trkseg>{points}</trkseg></trk></gpx>'
    )
    return text.encode("gb18030" if encoding == "GBK" else "utf-8")


def _upload(client, data: bytes, **form):
    return client.post(
        "/api/v1/patrols/gpx",
        data={"file": (io.BytesIO(data), "track.gpx"), **form},
        content_type="multipart/form-data",
    )


def test_gpx_upload(yulin):
    client = yulin.client("worker")
    w = walk(road_path(yulin.roads, yulin.area(WORKER_GRID)), seed=5)
    made = _upload(client, _gpx(w, "GBK"))
    assert made.status_code == 201, made.json
    (patrol,) = made.json["patrols"]
    assert patrol["source"] == "gpx" and patrol["ended_at"] and patrol["summary"]["fixes"] == len(w.t)
    assert _upload(client, _gpx(w, "GBK")).json["patrols"][0]["id"] == patrol["id"]  # same file: same patrol
    assert _upload(client, _gpx(w, "GBK")).status_code == 200


def test_bad_gpx_files_are_400(yulin):
    client = yulin.client("worker")
    w = walk(road_path(yulin.roads, yulin.area(WORKER_GRID)), seed=6)
    good = _gpx(w).decode()
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE gpx [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><gpx version="1.1"><trk><name>&c;</name></trk></gpx>'
    )
    cases = {
        "not xml": b"hello, not a gpx",
        "not gpx": b"<?xml version='1.0'?><kml></kml>",
        "no points": b'<gpx version="1.1" creator="t"><trk><trkseg></trkseg></trk></gpx>',
        "no times": good.replace("<time>", "<desc>").replace("</time>", "</desc>").encode(),
        "bad gbk": _gpx(w, "GBK").replace(b"</name>", b"\xff\xff</name>"),
        "bad utf-8": good.encode().replace(b"</name>", b"\xc3\x28</name>"),
        "bomb": bomb.encode(),
        "empty": b"",
    }
    for label, data in cases.items():
        response = _upload(client, data)
        assert response.status_code == 400, (label, response.status_code, response.json)
        message = response.json["error"]["message"]
        assert any("\u4e00" <= ch <= "\u9fff" for ch in message) and any(
            ch.isascii() and ch.isalpha() for ch in message
        )
    assert client.post("/api/v1/patrols/gpx", json={"file": good}).status_code == 400
    small = yulin.app.config["MAX_CONTENT_LENGTH"]
    yulin.app.config["MAX_CONTENT_LENGTH"] = 1000
    try:
        assert _upload(client, good.encode()).status_code == 413
    finally:
        yulin.app.config["MAX_CONTENT_LENGTH"] = small


def test_my_work_and_compliance(yulin):
    pid, _w, ended = _record(yulin, seed=7)
    client = yulin.client("worker")
    work = client.get("/api/v1/me/work")
    assert work.status_code == 200
    body = work.json
    assert body["areas"] == [WORKER_GRID]
    patrolled = set(ended["summary"]["micro_grids"])
    mine = {c for c in yulin.registry.areas(parent_code=WORKER_GRID)["code"]}
    assert {g["code"] for g in body["due"]["micro_grids"]} == mine - patrolled
    assert body["due"]["buildings"] and all(b["due"] == "visit" for b in body["due"]["buildings"])
    staff = yulin.client("staff")
    figures = staff.get(f"/api/v1/patrols/compliance?area={STREET}001").json
    row = next(r for r in figures["workers"] if r["name"] == "worker")
    assert row["micro_grids_due"] == len(mine) and row["micro_grids_patrolled"] == len(mine & patrolled)
    assert set(row["not_patrolled"]) == mine - patrolled
    assert set(figures["not_patrolled"]) >= mine - patrolled
    assert staff.get(f"/api/v1/patrols/compliance?area={STREET}002").status_code == 403
    assert client.get("/api/v1/patrols/compliance").status_code == 403
    xlsx = staff.get(f"/api/v1/patrols/compliance?area={STREET}001&format=xlsx")
    assert xlsx.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(xlsx.data))
    header = [c.value for c in book["微网格 micro-grids"][1]]
    assert any("UTC+08:00" in str(h) or "+08" in str(h) for h in header), header


def test_purge_removes_old_positions_only(yulin, tmp_path):
    pid, w, _ = _record(yulin, seed=8, start=1_600_000_000.0)  # earlier than every other test's walk
    desk = PatrolDesk(yulin.registry, TrackRules(retention_days=180))
    from core.audit import SYSTEM

    start = datetime.fromtimestamp(w.t[0], timezone.utc)
    assert desk.purge(SYSTEM, now=start + timedelta(days=179)) == 0
    removed = desk.purge(SYSTEM, now=start + timedelta(days=180, seconds=100))
    assert removed == 20  # fixes every 5 s: those strictly before 100 s into the walk


def test_second_outside_test_findings(yulin):
    """Outside test: huge patrol ids were a 500; a patrol could end before its own fixes (and count time after its
    end) or hold fixes over decades; a resend under a client id with other content answered the stored object;
    decimals were truncated to integers."""
    client = yulin.client("worker")
    for method, path, body in (
        ("get", "/api/v1/patrols/9223372036854775808", None),
        ("post", "/api/v1/patrols/9223372036854775808/positions", {"positions": []}),
        ("post", "/api/v1/patrols/9223372036854775808/end", {"ended_at": _iso(T0)}),
    ):
        assert getattr(client, method)(path, json=body).status_code == 404
    w = walk(road_path(yulin.roads, yulin.area(WORKER_GRID)), seed=11, start=T0)
    made = client.post("/api/v1/patrols", json={"client_id": "second-1", "started_at": _iso(w.t[0])})
    pid = made.json["id"]
    other_start = client.post("/api/v1/patrols", json={"client_id": "second-1", "started_at": _iso(w.t[0] + 60)})
    assert other_start.status_code == 409
    assert client.post(f"/api/v1/patrols/{pid}/positions", json={"positions": _positions(w)}).status_code == 200
    early = client.post(f"/api/v1/patrols/{pid}/end", json={"ended_at": _iso(w.t[0] + 60)})
    assert early.status_code == 400 and "last position" in early.json["error"]["message"]
    late_fix = {"t": _iso(w.t[0] + 25 * 3600), "lon": float(w.lon[0]), "lat": float(w.lat[0]), "accuracy": 5}
    assert client.post(f"/api/v1/patrols/{pid}/positions", json={"positions": [late_fix]}).status_code == 400
    assert client.post(f"/api/v1/patrols/{pid}/end", json={"ended_at": _iso(w.t[-1] + 5)}).status_code == 200
    bid, foot = _building(yulin)
    lon, lat = _offset(foot, 10)
    body = {"client_id": "second-ci", "building_id": bid, "lon": lon, "lat": lat, "accuracy": 5, "at": _iso(T0)}
    assert client.post("/api/v1/checkins", json=body).status_code == 201
    assert client.post("/api/v1/checkins", json=dict(body, at=_iso(T0 + 3600))).status_code == 409
    assert client.post(
        "/api/v1/checkins", json=dict(body, client_id="second-ci2", building_id=bid + 0.5)
    ).status_code in (
        400,
        422,
    )


def test_vulnerable_visits_are_not_due_in_cycles_that_have_not_begun(yulin):
    """Outside test: compliance over a period reaching into the future counted every future month as due."""
    from boundaries import editing
    from boundaries.scope import ScopedRegistry
    from core.audit import SYSTEM
    from core.scope import Scope

    bid, _foot = _building(yulin)
    building = yulin.registry.store.buildings(ids=[bid])[0]
    view = ScopedRegistry(yulin.registry, Scope.everything(), SYSTEM)
    editing.update_building(view, bid, {"vulnerable_households": min(2, int(building["households"]))})
    staff = yulin.client("staff")
    area = f"{STREET}001"
    this_month = staff.get(f"/api/v1/patrols/compliance?area={area}").json
    assert sum(r["vulnerable_due"] for r in this_month["workers"]) > 0
    later = staff.get(f"/api/v1/patrols/compliance?area={area}&since=2027-01-01T00:00:00Z&until=2199-12-31T00:00:00Z")
    assert later.status_code == 200 and sum(r["vulnerable_due"] for r in later.json["workers"]) == 0


def test_fixes_far_from_the_workers_areas_are_refused(yulin):
    """Outside test: a GPX point in the Gulf of Guinea was stored as a patrol and stretched the staff map."""
    client = yulin.client("worker")
    w = walk(road_path(yulin.roads, yulin.area(WORKER_GRID)), seed=12, start=T0)
    far = SimpleNamespace(t=w.t, lon=np.full(len(w.t), 1.0), lat=np.full(len(w.t), 1.0))  # lon 1, lat 1
    refused = _upload(client, _gpx(far))
    assert refused.status_code == 400 and "from your areas" in refused.json["error"]["message"]
    made = client.post("/api/v1/patrols", json={"client_id": "far-1", "started_at": _iso(w.t[0])})
    fix = {"t": _iso(w.t[1]), "lon": 1.0, "lat": 1.0, "accuracy": 5}
    answer = client.post(f"/api/v1/patrols/{made.json['id']}/positions", json={"positions": [fix]})
    assert answer.status_code == 400
    assert _upload(client, _gpx(w)).status_code in (200, 201)  # the real walk is fine


def test_micro_grids_are_due_once_per_patrol_cycle_of_the_period(yulin):
    """Outside test: micro_grids_due was the same for 30 days and for 230 years (the weekly cycle was not applied):
    one patrol early in a month made a worker fully compliant."""
    pid, w, ended = _record(yulin, seed=13)
    staff = yulin.client("staff")
    start = datetime.fromtimestamp(w.t[0], timezone.utc)
    since = (start - timedelta(days=21)).isoformat().replace("+00:00", "Z")
    until = (start + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    figures = staff.get(f"/api/v1/patrols/compliance?area={STREET}001&since={since}&until={until}").json
    row = next(r for r in figures["workers"] if r["name"] == "worker")
    windows = len(figures["patrol_cycles"])
    assert windows == 4  # 21 days and an hour in weekly windows
    assert row["patrol_cycles_due"] == row["micro_grids_due"] * windows
    mine = set(yulin.registry.areas(parent_code=WORKER_GRID)["code"])
    passed = mine & set(ended["summary"]["micro_grids"])
    assert passed and len(passed) <= row["patrol_cycles_kept"] < row["patrol_cycles_due"]  # one week of four
