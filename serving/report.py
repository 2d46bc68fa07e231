"""Coverage reports: the per-area, per-point and per-building tables with Chinese headers, as xlsx or CSV.

A building out of reach (see :mod:`serving.analysis`) has an empty distance and nearest point and 是否可达 否;
GeoJSON carries ``null`` there (never ``Infinity`` or ``NaN``).
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from serving.analysis import CoverageResult

__all__ = ["report_tables", "write_report", "AREA_HEADERS", "POINT_HEADERS", "BUILDING_HEADERS"]

AREA_HEADERS = {
    "code": "区域编码",
    "name": "名称",
    "level": "层级",
    "buildings": "建筑数",
    "households": "户数",
    "covered_households": "覆盖户数",
    "covered_share": "覆盖率",
    "uncovered_buildings": "未覆盖建筑数",
    "unreachable_buildings": "不可达建筑数",
    "nearest_p50_m": "最近服务点距离中位数(米)",
    "nearest_p90_m": "最近服务点距离90分位(米)",
    "nearest_max_m": "最近服务点最远距离(米)",
}
POINT_HEADERS = {
    "id": "服务点编号",
    "name": "名称",
    "kind": "类型",
    "capacity": "容量(户)",
    "households_reached": "服务范围内户数",
    "demand_households": "就近分配户数",
    "served_share": "可满足比例",
    "lon": "经度",
    "lat": "纬度",
}
BUILDING_HEADERS = {
    "id": "建筑编号",
    "name": "名称",
    "address": "地址",
    "households": "户数",
    "covered": "是否覆盖",
    "reachable": "是否可达",
    "nearest_m": "最近服务点距离(米)",
    "nearest_point": "最近服务点",
    "points": "可达服务点",
    "lon": "经度",
    "lat": "纬度",
}


def report_tables(result: CoverageResult) -> dict[str, pd.DataFrame]:
    """Sheet name → table: 区域 (areas), 服务点 (points), 建筑 (buildings)."""
    buildings = pd.DataFrame(result.buildings)[list(BUILDING_HEADERS)].copy()
    for column in ("covered", "reachable"):
        buildings[column] = buildings[column].map({True: "是", False: "否"})
    return {
        "区域": result.areas.reindex(columns=list(AREA_HEADERS)).rename(columns=AREA_HEADERS),
        "服务点": pd.DataFrame(result.points).reindex(columns=list(POINT_HEADERS)).rename(columns=POINT_HEADERS),
        "建筑": buildings.rename(columns=BUILDING_HEADERS),
    }


def write_report(result: CoverageResult, target, fmt: str | None = None) -> bytes | None:
    """Write the report to a path (format from its suffix) or, with ``target=None``, return the bytes.

    ``xlsx``: the three sheets; ``csv``: the per-area table (UTF-8 with BOM, for Excel); ``geojson``: the buildings
    with their coverage.
    """
    fmt = fmt or Path(target).suffix.lower().lstrip(".")
    buffer = io.BytesIO()
    if fmt == "xlsx":
        with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
            for sheet, table in report_tables(result).items():
                table.to_excel(writer, sheet_name=sheet, index=False)
    elif fmt == "csv":
        buffer.write(report_tables(result)["区域"].to_csv(index=False).encode("utf-8-sig"))
    elif fmt == "geojson":
        buildings = result.buildings[[*BUILDING_HEADERS, "geometry"]]
        buffer.write(buildings.to_json(drop_id=True, ensure_ascii=False).encode("utf-8"))
    else:
        raise ValueError(f"unknown report format {fmt!r}: use .xlsx, .csv or .geojson")
    data = buffer.getvalue()
    if target is None:
        return data
    Path(target).write_bytes(data)
    return None
