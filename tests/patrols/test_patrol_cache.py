"""A running patrol is analysed once per state: GET /patrols and GET /patrols/{id} reuse the analysis until a new
batch of positions arrives or the buildings/areas change."""

from __future__ import annotations

import uuid

from patrols.service import PatrolDesk
from tests.patrols.conftest import WORKER_GRID, road_path, walk
from tests.patrols.test_patrols_api import T0, _iso, _positions


def test_running_patrols_are_not_analysed_again_per_get(yulin, monkeypatch):
    calls = []
    original = PatrolDesk.analyse_fixes

    def counted(self, fixes, areas):
        calls.append(len(fixes["t"]))
        return original(self, fixes, areas)

    monkeypatch.setattr(PatrolDesk, "analyse_fixes", counted)
    client = yulin.client("worker")
    w = walk(road_path(yulin.roads, yulin.area(WORKER_GRID)), seed=11, start=T0 - 3000)
    made = client.post("/api/v1/patrols", json={"client_id": str(uuid.uuid4()), "started_at": _iso(w.t[0])})
    pid = made.json["id"]
    half = len(w.t) // 2
    assert (
        client.post(f"/api/v1/patrols/{pid}/positions", json={"positions": _positions(w, slice(0, half))}).json[
            "accepted"
        ]
        == half
    )

    first = client.get(f"/api/v1/patrols/{pid}").json
    assert calls == [half] and first["summary"]["fixes"] == half
    second = client.get(f"/api/v1/patrols/{pid}").json
    listed = next(p for p in client.get("/api/v1/patrols").json["patrols"] if p["id"] == pid)
    assert calls == [half]  # neither GET analysed it again
    assert second["summary"] == first["summary"] == listed["summary"] and second["track"] == first["track"]

    client.post(f"/api/v1/patrols/{pid}/positions", json={"positions": _positions(w, slice(half, None))})
    third = client.get(f"/api/v1/patrols/{pid}").json
    assert calls == [half, len(w.t)] and third["summary"]["fixes"] == len(w.t)
    assert third["summary"]["distance_m"] != first["summary"]["distance_m"]
    client.get("/api/v1/patrols")
    assert len(calls) == 2

    # the buildings change (the assets revision): analysed again
    building = yulin.registry.store.buildings(geometry=False)[0]
    admin = yulin.client("admin")
    assert admin.patch(f"/api/v1/buildings/{building['id']}", json={"name": "改名"}).status_code == 200
    client.get(f"/api/v1/patrols/{pid}")
    assert len(calls) == 3
    client.post(f"/api/v1/patrols/{pid}/end", json={"ended_at": _iso(w.t[-1] + 5)})
