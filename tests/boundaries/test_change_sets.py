"""Change sets (issue 14 item 1): one per planner, published independently, conflicts on the same area, rebase."""

from __future__ import annotations

import threading

import pytest
import shapely

from boundaries import change_sets, editing
from boundaries.registry import Registry
from boundaries.scope import ScopedRegistry
from boundaries.storage import open_store
from core.audit import SYSTEM, Actor
from core.errors import ChangeSetConflictError, ConflictError, InvalidInputError, NotFoundError, OutOfScopeError
from core.scope import Scope
from tests.conftest import copy_demo, database_at

COMMUNITY, OTHER_COMMUNITY = "510104001001", "510104001002"
GRID, OTHER_GRID = "510104001001001", "510104001002001"


@pytest.fixture
def writable(demo_db, tmp_path) -> Registry:
    return Registry(open_store(copy_demo(demo_db, tmp_path)))


def _planner(registry, user_id, community):
    return ScopedRegistry(registry, Scope(frozenset({community})), Actor(user_id, f"planner-{user_id}", ""))


def _leaves(registry, grid):
    return registry.areas(parent_code=grid)["code"].tolist()


def _names(registry, generation, codes):
    return {r["code"]: r["name"] for r in registry.store.areas(generation, codes=codes, geometry=False)}


def test_two_planners_of_two_communities_publish_their_change_sets_independently(writable):
    ours, theirs = _planner(writable, 101, COMMUNITY), _planner(writable, 102, OTHER_COMMUNITY)
    a, b = _leaves(writable, GRID)[0], _leaves(writable, OTHER_GRID)[0]
    start = writable.current_generation()
    first = editing.update_area(ours, a, name="甲改")["generation"]
    second = editing.update_area(theirs, b, name="乙改")["generation"]
    assert first != second and second > first
    # each change set sees its own change and not the other's
    assert _names(writable, first, [a, b]) == {a: "甲改", b: _names(writable, start, [b])[b]}
    assert _names(writable, second, [a, b]) == {a: _names(writable, start, [a])[a], b: "乙改"}
    published_second = editing.publish(theirs)
    assert published_second == second  # the newest generation: published under its own id
    assert _names(writable, published_second, [a, b]) == {a: _names(writable, start, [a])[a], b: "乙改"}
    published_first = editing.publish(ours)
    assert published_first > published_second  # renumbered above: generations follow the order of publishing
    assert writable.current_generation() == published_first
    assert _names(writable, published_first, [a, b]) == {a: "甲改", b: "乙改"}
    # the generation published in between never changed, though the other change set's rows were below its id
    assert _names(writable, published_second, [a, b])[a] == _names(writable, start, [a])[a]
    assert len(writable.store.areas(published_second)) == len(writable.store.areas(start))
    row = writable.store.generation(published_first)
    assert row["change_set"] == first and row["author"] == "planner-101" and row["base_generation"] == start
    with pytest.raises(NotFoundError, match=f"published as generation {published_first}"):
        writable.store.generation(first)


def test_the_same_area_in_two_change_sets_conflicts_at_publish_and_a_rebase_resolves_it(writable):
    ours, theirs = _planner(writable, 101, COMMUNITY), _planner(writable, 103, COMMUNITY)
    code = _leaves(writable, GRID)[1]
    other = _leaves(writable, GRID)[2]
    mine = editing.update_area(ours, code, name="我的")["generation"]
    editing.update_area(ours, other, name="只有我改")
    editing.update_area(theirs, code, name="他的")
    published = editing.publish(theirs)
    before = writable.current_generation()
    with pytest.raises(ChangeSetConflictError) as info:
        editing.publish(ours)
    assert writable.current_generation() == before == published
    assert {c["code"] for c in info.value.conflicts} == {code}
    assert info.value.conflicts[0]["generation"] == published and info.value.conflicts[0]["author"] == "planner-103"
    assert code in str(info.value) and "rebase" in str(info.value)
    summary = change_sets.change_set_summary(ours)
    assert summary["behind"] == 1 and [c["code"] for c in summary["conflicts"]] == [code]
    rebased = change_sets.rebase(ours)
    assert rebased == {"change_set": mine, "base_generation": published, "codes": sorted([code, other])}
    assert change_sets.change_set_summary(ours)["conflicts"] == []
    final = editing.publish(ours)
    assert _names(writable, final, [code, other]) == {code: "我的", other: "只有我改"}
    assert _names(writable, published, [code])[code] == "他的"  # history kept
    assert len(writable.store.areas(final, parent_code=GRID)) == len(writable.store.areas(published, parent_code=GRID))


def test_a_change_set_removing_an_area_another_redrew_conflicts(writable):
    ours, theirs = _planner(writable, 101, COMMUNITY), _planner(writable, 103, COMMUNITY)
    code = _leaves(writable, GRID)[0]
    editing.retire_area(ours, code)
    editing.update_area(theirs, code, name="改名")
    editing.publish(theirs)
    with pytest.raises(ChangeSetConflictError):
        editing.publish(ours)
    change_sets.rebase(ours)
    final = editing.publish(ours)
    assert writable.store.areas(final, codes=[code]) == []


def test_discarding_one_change_set_leaves_the_others(writable):
    ours, theirs = _planner(writable, 101, COMMUNITY), _planner(writable, 102, OTHER_COMMUNITY)
    a, b = _leaves(writable, GRID)[0], _leaves(writable, OTHER_GRID)[0]
    kept = editing.update_area(theirs, b, name="留下")["generation"]
    editing.update_area(ours, a, name="丢弃")
    editing.discard(ours)
    assert [c["id"] for c in writable.store.open_change_sets()] == [kept]
    assert _names(writable, kept, [b])[b] == "留下"
    assert editing.publish(theirs) == kept


def test_two_concurrent_publishes_of_the_same_area_one_wins_one_conflicts(writable):
    planners = [_planner(writable, 101 + i, COMMUNITY) for i in range(2)]
    code = _leaves(writable, GRID)[0]
    for i, view in enumerate(planners):
        editing.update_area(view, code, name=f"并发{i}")
    outcomes, barrier = [], threading.Barrier(2)

    def publish(view):
        barrier.wait()
        try:
            outcomes.append(("ok", editing.publish(view)))
        except ChangeSetConflictError as exc:
            outcomes.append(("conflict", exc.conflicts[0]["code"]))

    threads = [threading.Thread(target=publish, args=(v,)) for v in planners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(kind for kind, _ in outcomes) == ["conflict", "ok"]
    assert [v for kind, v in outcomes if kind == "conflict"] == [code]


def test_a_change_set_of_the_command_line_and_a_planner_coexist(writable):
    admin = ScopedRegistry(writable, Scope.everything(), SYSTEM)
    planner = _planner(writable, 101, COMMUNITY)
    a, b = _leaves(writable, GRID)[0], _leaves(writable, OTHER_GRID)[0]
    system = editing.update_area(admin, b, name="命令行")["generation"]
    own = editing.update_area(planner, a, name="规划员")["generation"]
    assert writable.store.draft_generation_id() == system
    assert {c["owner"] for c in writable.store.open_change_sets()} == {"system", "user:101"}
    assert change_sets.change_set_summary(planner)["change_set"] == own
    published = editing.publish(admin)
    assert published > own and writable.store.generation(published)["change_set"] == system
    assert change_sets.change_set_summary(planner)["behind"] == 1


def test_the_old_single_draft_becomes_the_command_lines_change_set(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    box = shapely.to_wkb(shapely.box(104.0, 30.0, 104.1, 30.1))
    row = {"level": "community", "name": "x", "kind": "general", "geometry": box,
           "minx": 104.0, "miny": 30.0, "maxx": 104.1, "maxy": 30.1}  # fmt: skip
    with database_at(url, "0013") as conn:
        conn.exec_driver_sql("INSERT INTO generations (id, state, note, created_at) VALUES (1, 'published', '', "
                             "'2026-01-01 00:00:00'), (2, 'draft', '', '2026-01-02 00:00:00')")  # fmt: skip
        for code, low, high in (("A", 1, 2), ("B", 1, None), ("A", 2, None)):
            conn.exec_driver_sql(
                "INSERT INTO areas (code, level, name, kind, generation_low, generation_high, geometry, minx, miny, "
                "maxx, maxy) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (code, row["level"], row["name"], row["kind"], low, high, box, 104.0, 30.0, 104.1, 30.1),
            )
    store = open_store(url)
    assert store.draft_generation_id() == 2 and store.generation(2)["base_generation"] == 1
    assert [(r["code"], r["generation_low"]) for r in store.areas(1)] == [("A", 1), ("B", 1)]
    assert [(r["code"], r["generation_low"]) for r in store.areas(2)] == [("A", 2), ("B", 1)]
    assert [r["generation_high"] for r in store.areas(1)] == [None, None]  # retirement kept by the change set
    with store.transaction() as conn:
        assert store.publish_generation(conn, 2) == 2
    assert [(r["code"], r["generation_low"]) for r in store.areas(2)] == [("A", 2), ("B", 1)]
    assert [(r["code"], r["generation_high"]) for r in store.areas(1)] == [("A", 2), ("B", None)]


def _subtree_state(registry, generation, root):
    rows = registry.store.areas(generation)
    below, frontier = {}, {root}
    while frontier:
        found = {r["code"]: r for r in rows if r["parent_code"] in frontier and r["code"] not in below}
        below.update(found)
        frontier = set(found)
    return {c: (r["name"], r["kind"], r["parent_code"], shapely.to_wkb(r["geometry"])) for c, r in below.items()}


def test_rolling_back_a_grid_publishes_its_old_areas_as_a_new_generation(writable):
    planner = _planner(writable, 101, COMMUNITY)
    leaves = _leaves(writable, GRID)
    start = writable.current_generation()
    before = _subtree_state(writable, start, GRID)
    editing.update_area(planner, leaves[0], name="改过")
    shrunk = writable.area(leaves[1]).geometry.buffer(-0.00005)
    editing.update_area(planner, leaves[1], geometry=shapely.geometry.mapping(shrunk))
    editing.retire_area(planner, leaves[2])
    changed = editing.publish(planner)
    assert _subtree_state(writable, changed, GRID) != before
    with pytest.raises(OutOfScopeError):
        change_sets.rollback(planner, start, OTHER_GRID)
    with pytest.raises(InvalidInputError):
        change_sets.rollback(planner, start)  # the whole registry: administrators only
    answer = change_sets.rollback(planner, start, GRID)
    assert answer["redrawn"] == sorted(leaves[:2]) and answer["restored"] == [leaves[2]] and answer["removed"] == []
    rolled = editing.publish(planner)
    assert rolled > changed and _subtree_state(writable, rolled, GRID) == before
    assert _subtree_state(writable, changed, GRID) != before  # the generation in between is kept as it was
    with pytest.raises(ConflictError, match="already as in generation"):
        change_sets.rollback(planner, start, GRID)
