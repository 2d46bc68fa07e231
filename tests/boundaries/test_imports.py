"""Imports of areas, buildings, service points and roads: blank names, and importing the same file again."""

from __future__ import annotations

import json
import warnings

import geopandas as gpd
import pytest
import shapely
import shapely.affinity

import server
from boundaries import assets
from boundaries.importer import import_areas
from boundaries.registry import Registry
from boundaries.storage import open_store
from core.audit import entries
from core.errors import InvalidInputError
from geo.io import read_vector
from tests.conftest import shared_file


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


# -- importing buildings, service points and roads again -------------------------------------------------------


def _buildings(n: int = 4) -> gpd.GeoDataFrame:
    gdf = _squares(n, bid=[f"b{i}" for i in range(n)], name=[f"楼{i}" for i in range(n)], households=[30] * n)
    gdf["geometry"] = gdf.geometry.scale(0.5, 0.5)  # footprints, not touching
    return gdf


def _points(kind: str, n: int, dx: float = 0.0) -> gpd.GeoDataFrame:
    pts = [shapely.Point(104.0 + 0.003 * i + dx, 30.605) for i in range(n)]
    return gpd.GeoDataFrame({"pid": [f"{kind}{i}" for i in range(n)], "name": [f"{kind} {i}" for i in range(n)],
                             "kind": [kind] * n}, geometry=pts, crs=4326)  # fmt: skip


def _roads(n: int = 3) -> gpd.GeoDataFrame:
    lines = [shapely.LineString([(104.0, 30.6 + 0.001 * i), (104.05, 30.6 + 0.001 * i)]) for i in range(n)]
    return gpd.GeoDataFrame({"rid": [f"r{i}" for i in range(n)], "name": [f"路{i}" for i in range(n)]},
                            geometry=lines, crs=4326)  # fmt: skip


def _counts(report) -> tuple:
    return report.added, report.updated, report.unchanged, report.removed


def test_buildings_imported_twice_by_geometry_are_kept_once(registry):
    first = assets.import_buildings(registry, _buildings(), name_field="name", households_field="households")
    again = assets.import_buildings(registry, _buildings(), name_field="name", households_field="households")
    assert _counts(first) == (4, 0, 0, 0) and _counts(again) == (0, 0, 4, 0)
    assert len(registry.store.buildings()) == 4
    changed = _buildings()
    changed.loc[1, "households"] = 99  # same footprint, new figure: updated in place
    report = assets.import_buildings(registry, changed, name_field="name", households_field="households")
    assert _counts(report) == (0, 1, 3, 0)
    stored = registry.store.buildings(geometry=False)
    assert len(stored) == 4 and sorted(b["households"] for b in stored) == [30, 30, 30, 99]


def test_buildings_matched_by_id_field_update_and_replace(registry):
    assets.import_buildings(registry, _buildings(), name_field="name", id_field="bid")
    moved = _buildings(5)
    moved.loc[0, "geometry"] = shapely.affinity.translate(moved.geometry[0], 0.0001, 0)  # redrawn: same id
    moved.loc[2, "name"] = "新楼名"
    report = assets.import_buildings(registry, moved, name_field="name", id_field="bid")
    assert _counts(report) == (1, 2, 2, 0)
    stored = {b["ref"]: b for b in registry.store.buildings()}
    assert set(stored) == {"b0", "b1", "b2", "b3", "b4"} and stored["b2"]["name"] == "新楼名"
    assert stored["b0"]["geometry"].equals(moved.geometry[0])
    report = assets.import_buildings(registry, moved.iloc[1:], name_field="name", id_field="bid", replace=True)
    assert _counts(report) == (0, 0, 4, 1)
    assert {b["ref"] for b in registry.store.buildings(geometry=False)} == {"b1", "b2", "b3", "b4"}


def test_a_missing_id_is_refused_naming_the_feature(registry):
    gdf = _buildings()
    gdf.loc[2, "bid"] = None
    with pytest.raises(InvalidInputError, match="#3"):
        assets.import_buildings(registry, gdf, id_field="bid")
    with pytest.raises(InvalidInputError, match="nope"):
        assets.import_buildings(registry, gdf, id_field="nope")
    assert registry.store.buildings() == []


def test_replace_removes_duplicates_left_by_earlier_imports(registry):
    assets.import_buildings(registry, _buildings())
    with registry.store.transaction() as conn:  # what the old import did on a second run
        registry.store.insert_rows(conn, "buildings", [dict(b, id=None) for b in registry.store.buildings()])
    assert len(registry.store.buildings()) == 8
    report = assets.import_buildings(registry, _buildings(), replace=True)
    assert _counts(report) == (0, 0, 4, 4) and len(registry.store.buildings()) == 4


def test_service_points_imported_twice_and_replaced_per_kind(registry):
    for _ in range(2):
        police = assets.import_service_points(registry, _points("police", 3), kind="police", name_field="name")
        clinics = assets.import_service_points(registry, _points("clinic", 2), kind_field="kind", name_field="name")
    assert _counts(police) == (0, 0, 3, 0) and _counts(clinics) == (0, 0, 2, 0)
    # the same place holds a police post and a clinic: matched by kind and place
    both = assets.import_service_points(registry, _points("clinic", 1), kind="clinic", name_field="name")
    assert _counts(both) == (0, 0, 1, 0)
    fewer = assets.import_service_points(registry, _points("police", 1), kind="police", name_field="name", replace=True)
    assert _counts(fewer) == (0, 0, 1, 2)
    kinds = sorted(p["kind"] for p in registry.store.service_points())
    assert kinds == ["clinic", "clinic", "police"]  # clinics untouched by a police replace
    by_id = assets.import_service_points(registry, _points("clinic", 2), kind="clinic", id_field="pid")
    assert _counts(by_id) == (0, 2, 0, 0)  # the clinics stored without ids, found by place, now carry their ids
    moved = assets.import_service_points(registry, _points("clinic", 2, dx=0.0001), kind="clinic", id_field="pid")
    assert _counts(moved) == (0, 2, 0, 0)  # moved, found by id
    assert sorted(p["ref"] or "" for p in registry.store.service_points()) == ["", "clinic0", "clinic1"]


def test_roads_imported_twice_are_kept_once(registry):
    assert _counts(assets.import_roads(registry, _roads(), name_field="name")) == (3, 0, 0, 0)
    assert _counts(assets.import_roads(registry, _roads(), name_field="name")) == (0, 0, 3, 0)
    assert _counts(assets.import_roads(registry, _roads(2), name_field="name", replace=True)) == (0, 0, 2, 1)
    assert len(registry.store.roads()) == 2


def test_each_import_writes_one_audit_entry_with_its_counts(registry):
    assets.import_buildings(registry, _buildings())
    assets.import_buildings(registry, _buildings())
    log, _ = entries(registry.store.engine, object_type="building")
    assert [(e["action"], e["after"]["added"], e["after"]["unchanged"]) for e in log] == [
        ("import", 0, 4),
        ("import", 4, 0),
    ]


@pytest.mark.realdata
def test_lujiazui_buildings_imported_twice_on_the_command_line(tmp_path, capsys):
    source = str(shared_file("lujiazui/buildings.geojson"))
    url = f"sqlite:///{tmp_path / 'weige.db'}"
    registry = Registry(open_store(url))
    argv = ["--db", url, "import-buildings", source, "--height-field", "height"]
    households = []
    for _ in range(2):
        assert server.main(argv) == 0
        stored = registry.store.buildings(geometry=False)
        households.append((len(stored), sum(b["households"] for b in stored)))
    first, second = capsys.readouterr().out.strip().splitlines()
    assert "1572 added, 0 updated, 0 unchanged" in first and "0 added, 0 updated, 1572 unchanged" in second
    assert households[0] == households[1] and households[0][0] == 1572 and households[0][1] > 100_000
    # by the OSM id: pieces clipped at tile edges share an id and become one building; --replace drops the pieces
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the OSM extract repeats feature ids; pyogrio says so
        ids = read_vector(source)["id"].nunique()
    assert server.main([*argv, "--id-field", "id", "--replace"]) == 0
    assert len(registry.store.buildings(geometry=False)) == ids == 1450
    assert "122 pieces merged" in capsys.readouterr().out
    assert server.main([*argv, "--id-field", "id"]) == 0
    assert "1450 in the file (matched by id field id): 0 added, 0 updated, 1450 unchanged" in capsys.readouterr().out
    assert len(registry.store.buildings(geometry=False)) == 1450


def test_household_counts_follow_a_building_moved_by_an_import(registry):
    import_areas(registry, _squares(2, code=["001", "002"]), "district", code_field="code", publish=True)
    one = _buildings(1)
    assets.import_buildings(registry, one, id_field="bid", households_field="households")
    assert assets.household_counts(registry).loc["001", "households"] == 30
    one["geometry"] = one.geometry.translate(0.01, 0)  # redrawn into the next district, same households
    report = assets.import_buildings(registry, one, id_field="bid", households_field="households")
    assert report.updated == 1
    counts = assets.household_counts(registry)
    assert counts.loc["001", "households"] == 0 and counts.loc["002", "households"] == 30


def test_import_areas_run_again_into_the_same_draft_reports_unchanged(registry, capsys):
    """Outside test (lesser): the second run wrote nothing new, so its report says unchanged, not added."""
    gdf = _squares(3, code=["001", "002", "003"], name=["甲", "乙", "丙"])
    first = import_areas(registry, gdf, "district", code_field="code", name_field="name")
    again = import_areas(registry, gdf, "district", code_field="code", name_field="name")
    assert (first.added, first.changed, first.unchanged, first.retired) == (3, 0, 0, 0)
    assert (again.added, again.changed, again.unchanged, again.retired) == (0, 0, 3, 0)
    assert again.generation == first.generation and len(registry.store.areas(first.generation)) == 3
    # one renamed, one dropped: counted against the draft as it stood before this run
    third = import_areas(registry, gdf.iloc[:2].assign(name=["甲", "乙二"]), "district", code_field="code",
                         name_field="name")  # fmt: skip
    assert (third.added, third.changed, third.unchanged, third.retired) == (0, 1, 1, 1)
    assert sorted(r["code"] for r in registry.store.areas(first.generation)) == ["001", "002"]


def test_codes_under_a_layout_parent_must_extend_the_parent_code(registry):
    """Outside test, item 10: under a parent whose code follows the layout, a code must extend it."""
    parent = _squares(1, code=["510104001001"], name=["桂花社区"])
    parent["geometry"] = [shapely.box(104.0, 30.6, 104.02, 30.62)]
    import_areas(registry, parent, "community", code_field="code", publish=True)
    cells = [shapely.box(104.0 + 0.01 * i, 30.6, 104.01 + 0.01 * i, 30.62) for i in range(2)]
    wrong = gpd.GeoDataFrame({"code": ["510104001001001", "510104001002777"]}, geometry=cells, crs=4326)
    with pytest.raises(InvalidInputError) as refused:
        import_areas(registry, wrong, "grid", parent="510104001001", code_field="code")
    assert "510104001002777" in str(refused.value) and "510104001001" in str(refused.value)
    assert "510104001001001'" not in str(refused.value)  # the good one is not listed
    assert registry.store.draft_generation_id() is None  # nothing written
    good = wrong.assign(code=["510104001001001", "510104001001002"])
    assert import_areas(registry, good, "grid", parent="510104001001", code_field="code").added == 2


def test_codes_that_do_not_follow_the_layout_keep_working(registry):
    """Hong Kong's district and DCCA codes (A, A01) are kept as given under parents outside the layout."""
    district = _squares(1, code=["A"], name=["Central and Western"])
    district["geometry"] = [shapely.box(104.0, 30.6, 104.02, 30.62)]
    import_areas(registry, district, "district", code_field="code", publish=True)
    cells = [shapely.box(104.0 + 0.01 * i, 30.6, 104.01 + 0.01 * i, 30.62) for i in range(2)]
    children = gpd.GeoDataFrame({"code": ["A01", "X99"]}, geometry=cells, crs=4326)
    report = import_areas(registry, children, "street", parent="A", code_field="code", publish=True)
    assert report.added == 2 and sorted(registry.areas(level="street")["code"]) == ["A01", "X99"]


def _pieces() -> gpd.GeoDataFrame:
    """Three buildings, the first clipped into two pieces at a tile edge (both pieces carry its id)."""
    whole = _buildings(3)
    first = whole.geometry[0]
    minx, miny, maxx, maxy = first.bounds
    mid = (minx + maxx) / 2
    left, right = shapely.clip_by_rect(first, minx, miny, mid, maxy), shapely.clip_by_rect(first, mid, miny, maxx, maxy)
    rows = [whole.iloc[0].to_dict() | {"geometry": left}, whole.iloc[0].to_dict() | {"geometry": right}]
    rows += [whole.iloc[i].to_dict() for i in (1, 2)]
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=4326).drop(columns="households")


def _totals(registry) -> tuple[int, int]:
    stored = registry.store.buildings(geometry=False)
    return len(stored), sum(b["households"] for b in stored)


def test_switching_to_an_id_field_takes_over_the_pieces_stored_without_ids(registry, tmp_path):
    """Outside test, item 9: pieces stored without an id that a merged feature covers are taken over, not left."""
    empty = Registry(open_store(f"sqlite:///{tmp_path / 'empty.db'}"))
    assets.import_buildings(empty, _pieces(), id_field="bid")
    assert _totals(empty)[0] == 3
    first = assets.import_buildings(registry, _pieces())
    assert _counts(first) == (4, 0, 0, 0)
    report = assets.import_buildings(registry, _pieces(), id_field="bid")
    assert _totals(registry) == _totals(empty)
    assert report.merged == 1 and report.taken_over == 1 and report.left == 0
    assert (report.added, report.updated) == (0, 3)  # the merged building kept one piece's row, the other is gone
    assert {b["ref"] for b in registry.store.buildings(geometry=False)} == {"b0", "b1", "b2"}
    again = assets.import_buildings(registry, _pieces(), id_field="bid")
    assert _counts(again) == (0, 0, 3, 0) and again.taken_over == 0


def test_stored_rows_the_file_does_not_hold_are_counted_and_named_in_the_report(registry, capsys, tmp_path):
    """Rows no feature matched stay (without --replace); the report says how many, and that --replace removes them."""
    extra = _buildings(4).iloc[3:]
    assets.import_buildings(registry, extra)
    report = assets.import_buildings(registry, _pieces(), id_field="bid")
    assert report.left == 1 and report.removed == 0 and _totals(registry)[0] == 4
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    path = tmp_path / "b.geojson"
    _pieces().to_file(path, driver="GeoJSON")
    extra.to_file(tmp_path / "extra.geojson", driver="GeoJSON")
    assert server.main(["--db", url, "import-buildings", str(tmp_path / "extra.geojson")]) == 0
    assert server.main(["--db", url, "import-buildings", str(path), "--id-field", "bid"]) == 0
    out = capsys.readouterr().out
    assert "1 stored building(s) not in the file were kept" in out and "--replace" in out
    assert server.main(["--db", url, "import-buildings", str(path), "--id-field", "bid", "--replace"]) == 0
    assert "1 removed (--replace)" in capsys.readouterr().out


@pytest.mark.realdata
def test_lujiazui_switching_to_the_id_field_matches_an_import_into_an_empty_store(tmp_path, capsys):
    """Outside test, item 9, on the real file: import without ids, then with --id-field id (no --replace)."""
    source = str(shared_file("lujiazui/buildings.geojson"))
    totals = []
    for name, runs in (("empty", [["--id-field", "id"]]), ("switched", [[], ["--id-field", "id"]])):
        url = f"sqlite:///{tmp_path / name}.db"
        for extra in runs:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the OSM extract repeats feature ids; pyogrio says so
                assert server.main(["--db", url, "import-buildings", source, "--height-field", "height", *extra]) == 0
        totals.append(_totals(Registry(open_store(url))))
    assert totals[0] == totals[1] and totals[0][0] == 1450
    assert "0 stored building(s) not in the file" not in capsys.readouterr().out  # nothing left: not mentioned


def test_commands_refuse_lonlat_data_declared_projected(tmp_path, capsys):
    """Outside test, item 11: `import-areas --crs EPSG:4544` and `locate --crs EPSG:3857` on lon/lat data."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    areas = tmp_path / "areas.geojson"
    _squares(2, code=["001", "002"]).to_file(areas, driver="GeoJSON")
    argv = ["--db", url, "import-areas", str(areas), "--level", "district", "--code-field", "code"]
    assert server.main([*argv, "--crs", "EPSG:4544"]) != 0
    assert "look like longitude/latitude" in capsys.readouterr().err
    assert Registry(open_store(url)).store.draft_generation_id() is None  # nothing stored
    assert server.main([*argv, "--publish"]) == 0
    points = tmp_path / "points.csv"
    points.write_text("lon,lat\n104.005,30.605\n104.015,30.605\n", "utf-8")
    out = tmp_path / "out.csv"
    assert server.main(["--db", url, "locate", str(points), str(out), "--crs", "EPSG:3857"]) != 0
    assert "look like longitude/latitude" in capsys.readouterr().err and not out.exists()
    assert server.main(["--db", url, "locate", str(points), str(out)]) == 0
