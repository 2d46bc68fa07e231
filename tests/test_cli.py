"""The command line (``server.main``) on the demo street: locate files of points."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import server
from boundaries import assets
from tests.conftest import copy_demo


@pytest.fixture
def demo_url(demo_db, tmp_path) -> str:
    """A private copy of the demo database."""
    return copy_demo(demo_db, tmp_path)


@pytest.fixture(scope="module")
def places(demo_registry) -> pd.DataFrame:
    """Three demo buildings' points with the micro-grid each lies in."""
    b = assets.buildings(demo_registry).iloc[[0, 40, 80]]
    located = demo_registry.locate(b["lon"].to_numpy(), b["lat"].to_numpy())
    assert (located["status"] == "ok").all()
    return pd.DataFrame({"名称": ["甲", "乙", "丙"], "经度": b["lon"].to_numpy(), "纬度": b["lat"].to_numpy(),
                         "expected": located["code"].to_numpy()})  # fmt: skip


def test_locate_reads_an_excel_workbook(demo_url, places, tmp_path, capsys):
    source = tmp_path / "points.xlsx"
    places.iloc[:2].drop(columns="expected").to_excel(source, index=False)
    out = tmp_path / "located.xlsx"
    assert server.main(["--db", demo_url, "locate", str(source), str(out)]) == 0
    got = pd.read_excel(out, dtype=str)
    assert got["名称"].tolist() == ["甲", "乙"]
    assert got["status"].tolist() == ["ok", "ok"] and got["code"].tolist() == places["expected"].iloc[:2].tolist()
    assert "'ok': 2" in capsys.readouterr().out


def test_locate_creates_a_missing_output_folder(demo_url, places, tmp_path):
    source = tmp_path / "points.csv"
    places.drop(columns="expected").to_csv(source, index=False)
    out = tmp_path / "not" / "yet" / "there.csv"
    assert server.main(["--db", demo_url, "locate", str(source), str(out)]) == 0
    got = pd.read_csv(out, dtype=str, encoding="utf-8-sig")
    assert got["code"].tolist() == places["expected"].tolist()


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_rows_without_coordinates_are_marked_invalid_and_the_rest_located(demo_url, places, tmp_path, capsys, suffix):
    table = places.drop(columns="expected").astype(str)
    table.loc[1, "经度"] = ""  # no longitude
    table.loc[2, "纬度"] = "北纬三十度"  # not a number
    table = pd.concat([table, places.drop(columns="expected").iloc[[0]].astype(str)], ignore_index=True)
    table.loc[3, "纬度"] = "200"  # out of range
    source = tmp_path / f"points{suffix}"
    if suffix == ".csv":
        table.to_csv(source, index=False)
    else:
        table.to_excel(source, index=False)
    out = tmp_path / "located.geojson"
    assert server.main(["--db", demo_url, "locate", str(source), str(out)]) == 0
    features = json.loads(out.read_text("utf-8"))["features"]
    assert [f["properties"]["status"] for f in features] == ["ok", "invalid", "invalid", "invalid"]
    assert features[0]["properties"]["code"] == places["expected"].iloc[0]
    assert [f["geometry"] is None for f in features] == [False, True, True, True]
    printed = capsys.readouterr().out
    assert "'invalid': 3" in printed and "'ok': 1" in printed
    assert "3, 4, 5" in printed  # the file's row numbers (the header is row 1)


def test_a_file_of_only_bad_coordinates_is_still_refused_with_the_hint(demo_url, tmp_path, capsys):
    source = tmp_path / "swapped.csv"
    source.write_text("lon,lat\n30.65,104.08\n30.66,104.09\n", encoding="utf-8")
    assert server.main(["--db", demo_url, "locate", str(source), str(tmp_path / "out.csv")]) == 2
    assert "swapped" in capsys.readouterr().err
