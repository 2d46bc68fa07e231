"""The draft generation under edits: refused writes, published history, publish scope by geometry (issue 9)."""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely

from boundaries import editing
from boundaries.codes import check_code
from boundaries.importer import import_areas
from boundaries.registry import Registry
from boundaries.scope import ScopedRegistry
from boundaries.storage import open_store
from boundaries.versions import ANY, PreconditionFailedError, area_version
from core.audit import SYSTEM, Actor
from core.errors import ConflictError, InvalidInputError, NotFoundError, OutOfScopeError
from core.scope import Scope
from tests.conftest import copy_demo

COMMUNITY, OTHER_COMMUNITY = "510104001001", "510104001002"
GRID = "510104001001001"


@pytest.fixture
def writable(demo_db, tmp_path) -> Registry:
    return Registry(open_store(copy_demo(demo_db, tmp_path)))


def _admin(registry):
    return ScopedRegistry(registry, Scope.everything(), SYSTEM)


def _planner(registry):
    return ScopedRegistry(registry, Scope(frozenset({COMMUNITY})), Actor(7, "planner-test", ""))


def _inside(registry, code, shrink=0.00002):
    return shapely.geometry.mapping(shapely.buffer(registry.area(code).geometry, -shrink))


def test_a_refused_area_write_leaves_no_empty_draft(writable):
    admin = _admin(writable)
    leaf = writable.areas(parent_code=GRID).iloc[0]["code"]
    before = [g["id"] for g in writable.generations()]
    square = _inside(writable, leaf)
    refused = [
        (ConflictError, lambda: editing.create_area(admin, leaf, "micro_grid", "重复", GRID, square)),
        (NotFoundError, lambda: editing.create_area(admin, f"{GRID}950", "micro_grid", "x", "510104999", square)),
        (InvalidInputError, lambda: editing.create_area(admin, f"{GRID}950", "community", "x", GRID, square)),
        (NotFoundError, lambda: editing.update_area(admin, "no-such-code", name="x")),
        (NotFoundError, lambda: editing.retire_area(admin, "no-such-code")),
        (ConflictError, lambda: editing.retire_area(admin, GRID)),  # still has micro-grids
    ]
    for error, write in refused:
        with pytest.raises(error):
            write()
        assert [g["id"] for g in writable.generations()] == before
    assert writable.store.draft_generation_id() is None


def test_area_codes_must_be_addressable(writable):
    admin = _admin(writable)
    square = _inside(writable, writable.areas(parent_code=GRID).iloc[0]["code"])
    for code in ("a/b", "a b", "a?b", "a#b", "a%2Fb", "a\x01b", "..", ".hidden", "tree", "区域1", "x" * 33):
        with pytest.raises(InvalidInputError, match="编码格式错误"):
            editing.create_area(admin, code, "micro_grid", "x", GRID, square)
    assert writable.store.draft_generation_id() is None
    for code in ("A01", "510104001001001001", "grid-7_b.2"):
        assert check_code(code) == code
    with pytest.raises(InvalidInputError, match="must extend its parent's code"):  # the demo grid follows the layout
        editing.create_area(admin, "A01-x.1", "micro_grid", "香港式编码", GRID, square)
    far = shapely.geometry.mapping(shapely.box(114.15, 22.28, 114.16, 22.29))
    editing.create_area(admin, "A", "district", "中西区", None, far)
    made = editing.create_area(admin, "A01-x.1", "street", "香港式编码", "A", far)  # under a code outside it: kept
    assert writable.area("A01-x.1", generation=made["generation"])["name"] == "香港式编码"


def test_unclosed_rings_are_refused(writable):
    admin = _admin(writable)
    open_ring = {"type": "Polygon", "coordinates": [[[104.06, 30.65], [104.061, 30.65], [104.061, 30.651]]]}
    with pytest.raises(InvalidInputError, match="环的点数不足|not closed"):
        editing.create_area(admin, f"{GRID}950", "micro_grid", "x", GRID, open_ring)
    leaf = writable.areas(parent_code=GRID).iloc[0]
    ring = [list(p) for p in shapely.buffer(leaf.geometry, -0.00002).exterior.coords][:-1]  # last point dropped
    for geometry in (
        {"type": "Polygon", "coordinates": [ring]},
        {"type": "MultiPolygon", "coordinates": [[ring]]},
    ):
        with pytest.raises(InvalidInputError, match="环未闭合 ring 0 of polygon 0 is not closed"):
            editing.update_area(admin, leaf["code"], geometry=geometry)
    assert writable.store.draft_generation_id() is None
    closed = {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}
    assert editing.update_area(admin, leaf["code"], geometry=closed)["checks"]["outside_parent_m2"] == 0


def test_drawing_outside_the_parent_is_refused_naming_the_parent(writable):
    planner = _planner(writable)
    grid = writable.area(GRID).geometry
    neighbour = writable.areas(parent_code=OTHER_COMMUNITY).iloc[0].geometry
    spilled = shapely.geometry.mapping(shapely.union_all([grid, neighbour]).convex_hull)
    with pytest.raises(InvalidInputError, match=f"outside its parent area '{COMMUNITY}'"):
        editing.update_area(planner, GRID, geometry=spilled)
    leaf = writable.areas(parent_code=GRID).iloc[0]["code"]
    with pytest.raises(InvalidInputError, match=f"outside its parent area '{GRID}'"):
        editing.create_area(planner, f"{GRID}950", "micro_grid", "x", GRID, spilled)
    slightly = shapely.geometry.mapping(shapely.buffer(writable.area(leaf).geometry, 1e-8))  # < 1 m² out
    assert editing.update_area(planner, leaf, geometry=slightly)["checks"]["outside_parent_m2"] == 0


def test_publish_rechecks_the_geometry_of_every_change(writable):
    """A draft grid under the planner's community, drawn (by an import) into the next community: refused."""
    neighbour = writable.areas(parent_code=OTHER_COMMUNITY).iloc[0].geometry
    grid = writable.area(GRID)
    spilled = shapely.union_all([grid.geometry, neighbour]).convex_hull
    others = writable.areas(parent_code=COMMUNITY)
    frame = gpd.GeoDataFrame(
        {"code": others["code"], "name": others["name"]},
        geometry=[spilled if c == GRID else g for c, g in zip(others["code"], others.geometry, strict=True)],
        crs="EPSG:4326",
    )
    planner = _planner(writable)
    report = import_areas(
        writable, frame, "grid", parent=COMMUNITY, code_field="code", name_field="name", actor=planner.actor
    )
    assert report.changed == 1 and report.outside_parent[0]["code"] == GRID
    before = writable.current_generation()
    with pytest.raises(OutOfScopeError, match=f"area '{GRID}' lies .* outside its parent area '{COMMUNITY}'"):
        editing.publish(planner)
    assert writable.current_generation() == before
    assert editing.publish(_admin(writable), change_set=report.generation) == report.generation  # an admin decides


def test_published_generations_never_change_in_the_store(writable):
    store = writable.store
    current = writable.current_generation()
    row = store.areas(current, codes=[GRID])[0]
    with store.transaction() as conn:
        with pytest.raises(ConflictError, match="not an open change set"):
            store.replace_draft_area(conn, current, row, {**{k: row[k] for k in ("code", "level", "name")}})
        with pytest.raises(ConflictError, match="not an open change set"):
            store.insert_area(conn, {**{k: row[k] for k in ("code", "level", "name")}, "generation_low": current})
        with pytest.raises(ConflictError, match="not an open change set"):
            store.retire_areas(conn, [row["id"]], current)
        with pytest.raises(ConflictError, match="not an open change set"):
            store.set_generation_state(conn, current, "discarded")
    leaf = writable.areas(parent_code=GRID).iloc[0]["code"]
    draft = editing.update_area(_admin(writable), leaf, name="改")["generation"]
    editing.discard(_admin(writable))
    with store.transaction() as conn:
        with pytest.raises(ConflictError, match="not an open change set"):
            store.insert_areas(conn, [{**{k: row[k] for k in ("code", "level", "name")}, "generation_low": draft}])
    assert store.areas(current, codes=[GRID])[0] == row


def test_an_edit_checks_the_callers_version_in_its_transaction(writable):
    admin = _admin(writable)
    leaf = writable.areas(parent_code=GRID).iloc[0]
    seen = area_version(writable.store.areas(writable.current_generation(), codes=[leaf["code"]])[0])
    assert area_version(leaf) == seen  # a data-frame row and the stored row agree
    first = editing.update_area(admin, leaf["code"], name="一", if_match={seen})
    with pytest.raises(PreconditionFailedError) as info:
        editing.update_area(admin, leaf["code"], name="二", if_match={seen})
    assert info.value.current["area"]["name"] == "一" and info.value.version == first["version"]
    assert editing.update_area(admin, leaf["code"], name="二", if_match={ANY})["area"]["name"] == "二"
    with pytest.raises(PreconditionFailedError):
        editing.retire_area(admin, leaf["code"], if_match={first["version"]})
    assert writable.area(leaf["code"], generation=first["generation"])["name"] == "二"


def test_an_import_with_unaddressable_codes_is_refused_naming_them(registry):
    frame = gpd.GeoDataFrame(
        {"code": ["A01", "a/b", "c d"], "name": ["一", "二", "三"]},
        geometry=[shapely.box(104 + i * 0.01, 30.6, 104.01 + i * 0.01, 30.61) for i in range(3)],
        crs="EPSG:4326",
    )
    with pytest.raises(InvalidInputError, match=r"2 feature\(s\) .*#2 'a/b', #3 'c d'"):
        import_areas(registry, frame, "grid", code_field="code", name_field="name")
    assert registry.generations() == []
