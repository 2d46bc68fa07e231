"""Imports of areas, buildings, service points and roads: blank names, and importing the same file again."""

from __future__ import annotations

import json

import geopandas as gpd
import pytest
import shapely

import server
from boundaries.errors import InvalidInputError
from boundaries.importer import import_areas


def _squares(n: int, **columns) -> gpd.GeoDataFrame:
    cells = [shapely.box(104.0 + 0.01 * i, 30.6, 104.01 + 0.01 * i, 30.61) for i in range(n)]
    return gpd.GeoDataFrame(columns, geometry=cells, crs=4326)


def test_blank_area_names_fall_back_to_the_code_and_the_report_says_so(registry):
    gdf = _squares(4, code=["001", "002", "003", "004"], name=["甲", None, "  ", "丁"])
    report = import_areas(registry, gdf, "district", code_field="code", name_field="name")
    assert report.named_by_code == [{"feature": 2, "code": "002"}, {"feature": 3, "code": "003"}]
    stored = {a["code"]: a["name"] for a in registry.store.areas(report.generation, geometry=False)}
    assert stored == {"001": "甲", "002": "002", "003": "003", "004": "丁"}


def test_blank_area_codes_are_refused_naming_the_features(registry):
    gdf = _squares(3, code=["001", None, " "], name=["甲", "乙", "丙"])
    with pytest.raises(InvalidInputError, match=r"#2.*#3"):
        import_areas(registry, gdf, "district", code_field="code", name_field="name")
    assert registry.store.draft_generation_id() is None  # nothing written


def test_import_areas_command_reports_blank_names(tmp_path, capsys):
    source = tmp_path / "districts.geojson"
    source.write_text(_squares(2, code=["001", "002"], name=["甲", None]).to_json(), encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'weige.db'}"
    argv = ["--db", url, "import-areas", str(source), "--level", "district", "--code-field", "code"]
    assert server.main([*argv, "--name-field", "name"]) == 0
    out = capsys.readouterr().out
    assert "名称为空" in out and json.dumps({"feature": 2, "code": "002"}) in out
