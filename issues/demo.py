"""Demo issues for the demo street.

A month of invented reports in every category and state, so the queue, the statistics and the detail pages
have something to show on first start.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import shapely

from boundaries.audit import SYSTEM, Actor
from issues.bulk import BulkReport, import_issues
from issues.desk import IssueDesk

__all__ = ["load_demo_issues"]

_TEXTS = {
    "dispute": "邻里噪音纠纷，需要调解",
    "gas_hazard": "楼道闻到燃气味",
    "fire_hazard": "消防通道堆放杂物",
    "exposed_rubbish": "小区门口垃圾堆积",
    "road_cleaning": "路面油污未清扫",
    "green_space": "绿地枯死需补种",
    "street_order": "占道经营",
    "damaged_facility": "路灯不亮",
    "resident_request": "独居老人需要上门服务",
}
_STATES = ["closed"] * 6 + ["reported", "accepted", "filed", "dispatched", "in_progress", "checked"]


def load_demo_issues(desk: IssueDesk, n: int = 120, seed: int = 2026, actor: Actor = SYSTEM) -> BulkReport:
    """Import ``n`` invented issues at random places of the demo street over the past 30 days."""
    rng = np.random.default_rng(seed)
    micro = desk.registry.areas(level="micro_grid")
    picks = micro.iloc[rng.integers(0, len(micro), n)]
    points = shapely.point_on_surface(picks.geometry.values)
    now = desk.clock().replace(microsecond=0)
    reported = [now - timedelta(minutes=int(m)) for m in rng.integers(60, 30 * 24 * 60, n)]
    categories = rng.choice(list(_TEXTS), n)
    states = rng.choice(_STATES, n)
    closed = [
        min(r + timedelta(hours=float(h)), now).isoformat() if s == "closed" else ""  # closed by now
        for r, h, s in zip(reported, rng.uniform(1, 72, n), states, strict=True)
    ]
    frame = pd.DataFrame(
        {
            "external_id": [f"demo-{i}" for i in range(n)],
            "category": categories,
            "description": [_TEXTS[c] for c in categories],
            "lon": shapely.get_x(points).astype(str),
            "lat": shapely.get_y(points).astype(str),
            "reported_at": [r.isoformat() for r in reported],
            "state": states,
            "closed_at": closed,
            "reporter_name": "示例居民",
        }
    )
    return import_issues(desk, frame, actor=actor, source="demo")
