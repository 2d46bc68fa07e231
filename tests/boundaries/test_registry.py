import geopandas as gpd
import numpy as np
import pytest
import shapely
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from boundaries import assets
from boundaries.importer import import_areas
from core.errors import ConflictError, InvalidInputError, NoGenerationError, NotFoundError
from core.storage.tables import metadata
from geo.io import read_vector
from geo.topology import areas_m2
from tests.conftest import shared_file


def squares(n, x0=104.0, size=0.01, names=None):
    geoms = [shapely.box(x0 + i * size, 30.6, x0 + (i + 1) * size, 30.6 + size) for i in range(n)]
    return gpd.GeoDataFrame(
        {"code": [f"{i + 1:03d}" for i in range(n)], "name": names or [f"区域{i + 1}" for i in range(n)]},
        geometry=geoms,
        crs="EPSG:4326",
    )


def _not_rtree(obj, name, type_, reflected, compare_to):
    """SQLite's R*Tree of building boxes (migration 0012) and its shadow tables are not in the metadata."""
    return not (type_ == "table" and name.startswith("buildings_rtree"))


def test_schema_from_migrations_matches_the_tables(registry):
    with registry.store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": _not_rtree})
        diff = compare_metadata(context, metadata)
    assert diff == []


def test_generations_draft_publish_and_history(registry):
    with pytest.raises(NoGenerationError):
        registry.areas()
    report = import_areas(registry, squares(3), "grid", code_field="code", name_field="name")
    assert report.added == 3 and not report.published
    with pytest.raises(NoGenerationError):
        registry.locate([104.005], [30.605])
    assert registry.publish() == 1
    assert registry.locate([104.005], [30.605])["code"].tolist() == ["001"]
    # redraw: 002 moves, 003 disappears, 004 appears
    new = squares(4).drop(index=2)
    new.loc[1, "geometry"] = shapely.box(104.01, 30.6, 104.025, 30.61)
    report = import_areas(registry, new, "grid", code_field="code", name_field="name")
    assert (report.unchanged, report.changed, report.added, report.retired) == (1, 1, 1, 1)
    assert sorted(registry.areas().code) == ["001", "002", "003"]  # draft is invisible
    with pytest.raises(ConflictError):
        with registry.store.transaction() as conn:
            registry.store.create_generation(conn)
    # importing the same file again into the draft is idempotent, and the report says nothing changed
    again = import_areas(registry, new, "grid", code_field="code", name_field="name")
    assert (again.unchanged, again.changed, again.added, again.retired) == (3, 0, 0, 0)
    assert registry.publish() == 2
    assert sorted(registry.areas().code) == ["001", "002", "004"]
    assert sorted(registry.areas(generation=1).code) == ["001", "002", "003"]
    assert registry.locate([104.0205], [30.605], generation=1)["code"].tolist() == ["003"]
    assert registry.locate([104.0205], [30.605])["code"].tolist() == ["002"]
    assert [g["current"] for g in registry.generations()] == [False, True]


def test_discard_restores_previous_state(registry):
    import_areas(registry, squares(2), "grid", code_field="code", publish=True)
    import_areas(registry, squares(1), "grid", code_field="code")
    registry.discard_draft()
    assert sorted(registry.areas().code) == ["001", "002"]
    with pytest.raises(NotFoundError):
        registry.publish()


def test_bad_areas_are_refused_with_nothing_written(registry):
    bad = squares(2)
    bad.loc[1, "geometry"] = shapely.LineString([(104, 30), (104.1, 30.1)])
    with pytest.raises(InvalidInputError, match="LineString"):
        import_areas(registry, bad, "grid", code_field="code")
    dup = squares(2)
    dup["code"] = "001"
    with pytest.raises(InvalidInputError, match="duplicate"):
        import_areas(registry, dup, "grid", code_field="code")
    with pytest.raises(InvalidInputError, match="unknown level"):
        import_areas(registry, squares(1), "county")
    bowtie = squares(1)
    bowtie.loc[0, "geometry"] = shapely.Polygon([(104, 30), (104.1, 30.1), (104.1, 30), (104, 30.1)])
    with pytest.raises(InvalidInputError, match="Self-intersection"):
        import_areas(registry, bowtie, "grid", code_field="code", repair=False)
    assert registry.store.generations() == []


def test_generated_codes_follow_parent_west_east_north_south(registry):
    parent = squares(1, size=0.04)
    parent["code"] = ["510104001001"]
    import_areas(registry, parent, "community", code_field="code", publish=True)
    cells = [
        shapely.box(104.0 + c * 0.02, 30.6 + (1 - r) * 0.02, 104.02 + c * 0.02, 30.62 + (1 - r) * 0.02)
        for r in range(2)
        for c in range(2)
    ]
    rng = np.random.default_rng(0)
    order = rng.permutation(4)
    gdf = gpd.GeoDataFrame({"n": order}, geometry=[cells[i] for i in order], crs="EPSG:4326")
    report = import_areas(registry, gdf, "grid", publish=True)
    assert report.gaps == [] and report.outside_parent == []
    located = registry.locate([104.01, 104.03, 104.01, 104.03], [30.63, 30.63, 30.61, 30.61], level="grid")
    assert located["code"].tolist() == [f"510104001001{i:03d}" for i in (1, 2, 3, 4)]


def test_hong_kong_import_reports_invalid_rings_and_overlaps(registry):
    gdf = read_vector(shared_file("hongkong/dcca_2001.geojson"))
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    invalid = {i for i, g in enumerate(geoms) if not g.is_valid}
    report = import_areas(registry, gdf, "community", code_field="DCCA", name_field="DCCA_ENG")
    assert invalid and {r["index"] for r in report.repaired} == invalid
    assert all(r["reason"] for r in report.repaired)
    # overlapping pairs computed independently with shapely, brute force over all pairs
    fixed = np.array([shapely.make_valid(g) if not g.is_valid else g for g in geoms], dtype=object)
    i, j = np.triu_indices(len(fixed), k=1)  # every pair, no spatial index
    hit = shapely.intersects(fixed[i], fixed[j])
    i, j = i[hit], j[hit]
    big = areas_m2(shapely.intersection(fixed[i], fixed[j])) >= 1.0
    expected = {(gdf["DCCA"][a], gdf["DCCA"][b]) for a, b in zip(i[big], j[big], strict=True)}
    got = {(o["a"], o["b"]) for o in report.overlaps}
    assert expected and got == expected
    assert report.generation == 1 and report.added == len(gdf)


def test_lujiazui_buildings_import_and_locate(registry):
    buildings = read_vector(shared_file("lujiazui/buildings.geojson"))
    buildings = buildings.dissolve(by="id", as_index=False)  # pieces clipped at tile edges share an id
    n = assets.import_buildings(registry, buildings, height_field="height", id_field="id").added
    assert n == buildings["id"].nunique()
    minx, miny, maxx, maxy = buildings.total_bounds
    xs, ys = np.linspace(minx, maxx, 4), np.linspace(miny, maxy, 4)
    cells = [shapely.box(xs[i], ys[j], xs[i + 1], ys[j + 1]) for j in range(3) for i in range(3)]
    grid = gpd.GeoDataFrame({"code": [f"{k:03d}" for k in range(9)]}, geometry=cells, crs="EPSG:4326")
    import_areas(registry, grid, "micro_grid", code_field="code", publish=True)
    stored = assets.buildings(registry, bbox=(minx, miny, maxx, maxy))
    located = registry.locate(stored["lon"].to_numpy(), stored["lat"].to_numpy())
    assert (located["status"] == "ok").all()
    pts = shapely.points(stored["lon"].to_numpy(), stored["lat"].to_numpy())
    expected = [grid["code"][next(k for k, c in enumerate(cells) if c.covers(p))] for p in pts]
    assert located["code"].tolist() == expected
    counts = assets.household_counts(registry)
    assert counts["buildings"].sum() == n and counts["households"].sum() == stored["households"].sum() > 1000


def test_demo_street_follows_the_drawing_rules(demo_registry):
    reg = demo_registry
    areas = reg.areas()
    counts = assets.household_counts(reg)
    micro = areas[areas.level == "micro_grid"].merge(counts, left_on="code", right_index=True)
    general = micro[micro.kind == "general"]
    assert general.households.between(30, 100).all()
    grids = areas[(areas.level == "grid") & (areas.kind == "general")].merge(counts, left_on="code", right_index=True)
    assert grids.households.between(300, 500).all()
    assert 1300 <= counts.loc[areas[areas.level == "street"].code.iloc[0], "buildings"] <= 1700
    from geo import topology

    for level in ("micro_grid", "grid", "community"):
        part = areas[areas.level == level]
        assert topology.overlapping_pairs(part.geometry.values, min_area_m2=0.01) == []
        for parent_code, children in part.groupby("parent_code"):
            parent = areas[areas.code == parent_code].geometry.iloc[0]
            assert len(topology.gap_polygons(children.geometry.values, within=parent, min_area_m2=0.01)) == 0
            assert topology.outside_parent(children.geometry.values, [parent] * len(children), 0.01).max() == 0
    b = assets.buildings(reg, bbox=tuple(areas.total_bounds))
    located = reg.locate(b["lon"].to_numpy(), b["lat"].to_numpy(), level="micro_grid")
    assert (located["status"] == "ok").all()
