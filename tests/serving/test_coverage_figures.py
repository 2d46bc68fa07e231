"""Coverage figures on a small hand-built street: out-of-reach buildings, figures over all buildings, kinds."""

from __future__ import annotations

import json
import re

import geopandas as gpd
import numpy as np
import pytest
import shapely

import server
from boundaries.assets import import_buildings, import_roads, import_service_points
from boundaries.importer import import_areas
from boundaries.scope import ScopedRegistry
from core.scope import Scope
from geo.crs import geometries_to_wgs84, metric_crs
from serving.analysis import analyse
from serving.report import write_report
from tests.conftest import copy_demo, token_client

CRS = metric_crs(104.08, 30.65)
X0, Y0 = 395_000.0, 3_391_000.0  # metres in EPSG:4544, near 104.08 E, 30.65 N


def _frame(geoms, **columns) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(columns, geometry=list(geometries_to_wgs84(np.asarray(geoms, dtype=object), CRS)), crs=4326)


@pytest.fixture
def street(registry):
    """One street; a clinic at the west end of a 400 m road (junctions every 100 m); three buildings along it,
    two by a road not joined to it."""
    import_areas(
        registry,
        _frame([shapely.box(X0 - 100, Y0 - 100, X0 + 1500, Y0 + 400)], name=["测试街道"]),
        "street",
        name_field="name",
        publish=True,
    )
    road = [shapely.LineString([(X0 + a, Y0), (X0 + a + 100, Y0)]) for a in range(0, 400, 100)]  # junctions
    far_road = shapely.LineString([(X0 + 1200, Y0 + 300), (X0 + 1400, Y0 + 300)])  # not joined to the other
    import_roads(registry, _frame([*road, far_road], name=["东路"] * 4 + ["孤路"], kind=["residential"] * 5))
    import_service_points(registry, _frame([shapely.Point(X0, Y0)], name=["诊所"]), kind="clinic", name_field="name")
    # three buildings next to the road (access 10 m), at 100, 200 and 300 m along it; two next to the far road
    xs = [X0 + 100, X0 + 200, X0 + 300, X0 + 1250, X0 + 1350]
    ys = [Y0 + 10, Y0 + 10, Y0 + 10, Y0 + 310, Y0 + 310]
    footprints = [shapely.box(x - 3, y - 3, x + 3, y + 3) for x, y in zip(xs, ys, strict=True)]
    import_buildings(registry, _frame(footprints, name=[f"楼{i}" for i in range(5)], households=[10] * 5),
                     name_field="name", households_field="households")  # fmt: skip
    return ScopedRegistry(registry, Scope.everything())


def _strict_json(text: str):
    def refuse(constant):
        raise AssertionError(f"JSON holds {constant}")

    return json.loads(text, parse_constant=refuse)


def test_network_marks_out_of_reach_buildings_and_ranks_them_beyond_every_distance(street):
    result = analyse(street, "clinic", reach_m=600, network=True)
    b = result.buildings.sort_values("name").reset_index(drop=True)
    assert b["reachable"].tolist() == [True, True, True, False, False]
    assert b["covered"].tolist() == [True, True, True, False, False]
    assert np.allclose(b["nearest_m"].iloc[:3].to_numpy(float), [110, 210, 310], atol=0.2)  # road + 10 m access
    assert b["nearest_m"].iloc[3:].isna().all() and b["nearest_point"].iloc[3:].isna().all()
    assert (b["nearest_point"].iloc[:3] == result.points["id"].iloc[0]).all()
    s = result.summary()
    assert s["buildings_unreachable"] == 2 and s["buildings_uncovered"] == 2
    # over all five buildings, the two out of reach ranked beyond every distance: sorted 110, 210, 310, ∞, ∞
    assert s["nearest_m"]["p50"] == pytest.approx(310, abs=0.2)  # the middle one of five, not of the three reached
    assert s["nearest_m"]["p90"] is None and s["nearest_m"]["max"] is None
    assert s["nearest_m"]["beyond_reach"] == ["p90", "max"]
    assert sum(h["buildings"] for h in s["nearest_m"]["histogram"]) + s["buildings_unreachable"] == 5
    area = result.areas.iloc[0]
    assert area["unreachable_buildings"] == 2 and area["nearest_p50_m"] == pytest.approx(310, abs=0.2)
    assert np.isnan(area["nearest_max_m"])
    _strict_json(json.dumps(s, allow_nan=False))
    geojson = _strict_json(write_report(result, None, "geojson").decode("utf-8"))
    props = {f["properties"]["name"]: f["properties"] for f in geojson["features"]}
    assert props["楼3"]["nearest_m"] is None and props["楼3"]["nearest_point"] is None
    assert props["楼3"]["reachable"] is False and props["楼0"]["reachable"] is True


def test_straight_line_figures_are_unchanged_when_every_building_is_reached(street):
    result = analyse(street, "clinic", reach_m=600)
    b = result.buildings
    assert b["reachable"].all() and result.summary()["buildings_unreachable"] == 0
    d = np.sort(b["nearest_m"].to_numpy(float))
    s = result.summary()["nearest_m"]
    assert s["p50"] == round(float(np.median(d)), 1) and s["max"] == round(float(d.max()), 1)
    assert s["beyond_reach"] == []


def test_no_point_of_a_known_kind_leaves_every_building_unreachable(street):
    s = analyse(street, "police", reach_m=600).summary()  # a known kind, none loaded here
    assert s["buildings_unreachable"] == 5 and s["nearest_m"]["p50"] is None
    assert s["nearest_m"]["beyond_reach"] == ["p50", "p90", "max"]


def test_unknown_kind_is_refused_naming_the_kinds(street):
    from core.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="spaceship") as caught:
        analyse(street, "spaceship", reach_m=600)
    assert "clinic" in str(caught.value) and "grid_station" in str(caught.value)
    # a kind named in the configured reach table is known
    assert analyse(street, "library", reach_table={"library": 300}).summary()["buildings_unreachable"] == 5


def test_unknown_kind_over_the_api_and_the_page_is_a_400(app, demo_tokens):
    staff = token_client(app, demo_tokens["staff"])
    r = staff.get("/api/v1/coverage?kind=spaceship")
    assert r.status_code == 400
    error = r.get_json()["error"]
    assert "spaceship" in error["message"] and "grid_station" in error["message"] and "clinic" in error["message"]
    page = staff.get("/coverage?kind=spaceship")
    assert page.status_code == 400 and "spaceship" in page.get_data(as_text=True)
    assert staff.post("/api/v1/coverage/suggest", json={"kind": "spaceship"}).status_code == 400


def test_unknown_kind_on_the_command_line(demo_db, tmp_path, capsys):
    url = copy_demo(demo_db, tmp_path)
    out = tmp_path / "report.csv"
    assert server.main(["--db", url, "coverage", "--kind", "spaceship", str(out)]) == 2
    err = capsys.readouterr().err
    assert "spaceship" in err and "grid_station" in err and not out.exists()


def test_the_map_page_says_out_of_reach_in_words(app, demo_tokens):
    staff = token_client(app, demo_tokens["staff"])
    page = staff.get("/coverage?kind=hospital&area=510104001001")  # a known kind with no point in the demo
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "到最近服务点距离中位数 超出服务半径" in " ".join(text.split())
    strings = json.loads(re.search(r'id="page-strings">(.*?)</script>', text, re.S).group(1))
    assert strings["beyond"] == "超出服务半径"  # what the map's popup says of a building with no distance
    answer = staff.get("/api/v1/coverage/buildings?kind=hospital&area=510104001001&bbox=103,30,105,31&zoom=15")
    rows = answer.get_json()["buildings"]
    assert rows and all(r[5] is None for r in rows) and "NaN" not in answer.get_data(as_text=True)
