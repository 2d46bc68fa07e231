"""Lineage and figures over time through many published generations (issue 14): building-level work runs only
for the pairs of generations where a followed area changed, answers equal the uncached computation (every pair
linked building by building, household counts per generation), and a second call does no building-level work."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from boundaries import assets, lineage
from boundaries.editing import create_area, publish, retire_area, update_area
from boundaries.scope import ScopedRegistry
from core.audit import SYSTEM
from core.scope import Scope
from geo.crs import geometries_to_wgs84
from issues import area_history

X0, Y0 = 500_000.0, 3_392_000.0  # EPSG:4544, near 105.0 E, 30.65 N
METRIC = "EPSG:4544"
MICRO = {"A": (0, 100), "B": (100, 200), "C": (200, 300), "D": (300, 400), "E": (400, 500)}
BUILDINGS = [(25, 40), (50, 30), (75, 35), (150, 60), (180, 5), (250, 45), (275, 50), (350, 70), (450, 55)]
#: Areas renamed in turn, one per generation, when nothing else happens.
OTHERS = ["S", "G", "K", "P", "Q", "D", "E"]
GENERATIONS = 40


def _box(x0, x1, y0=0, y1=100):
    return geometries_to_wgs84(np.array([shapely.box(X0 + x0, Y0 + y0, X0 + x1, Y0 + y1)], dtype=object), METRIC)[0]


def _view(registry, roots=None):
    return ScopedRegistry(registry, Scope.everything() if roots is None else Scope(frozenset(roots)), SYSTEM)


@pytest.fixture
def many(registry):
    """A street published 41 times: generation by generation one other area renamed, A split into A and A2 at the
    10th, C merged into B at the 20th, B renamed at the 30th and A2 at the 35th. Returns the registry, the
    published generations and, per generation, the codes edited in it."""
    view = _view(registry)
    create_area(view, "S", "community", "街道", None, _box(0, 500, 0, 200))
    create_area(view, "G", "grid", "网格G", "S", _box(0, 500))
    create_area(view, "K", "grid", "网格K", "S", _box(0, 500, 100, 200))
    for code, (x0, x1) in MICRO.items():
        create_area(view, code, "micro_grid", f"微网格{code}", "G", _box(x0, x1))
    create_area(view, "P", "micro_grid", "微网格P", "K", _box(0, 250, 100, 200))
    create_area(view, "Q", "micro_grid", "微网格Q", "K", _box(250, 500, 100, 200))
    rows = []
    for i, (x, households) in enumerate(BUILDINGS):
        foot = shapely.box(*_box(x - 2, x + 2, 48, 52).bounds)
        point = shapely.centroid(foot)
        rows.append({"name": f"楼{i}", "address": f"路{i}号", "households": households, "lon": point.x, "lat": point.y})
        rows[-1] |= {
            "geometry": shapely.to_wkb(foot),
            **dict(zip(("minx", "miny", "maxx", "maxy"), foot.bounds, strict=True)),
        }
    with registry.store.transaction() as conn:
        registry.store.insert_rows(conn, "buildings", rows)
    published, edited = [publish(view)], {}
    for i in range(1, GENERATIONS + 1):
        if i == 10:
            update_area(view, "A", geometry=_box(0, 60))
            create_area(view, "A2", "micro_grid", "微网格A2", "G", _box(60, 100))
            codes = {"A", "A2"}
        elif i == 20:
            retire_area(view, "C")
            update_area(view, "B", geometry=_box(100, 300))
            codes = {"B", "C"}
        elif i in (30, 35):
            codes = {"B" if i == 30 else "A2"}
            update_area(view, *codes, name=f"改名{i}")
        else:
            codes = {OTHERS[i % len(OTHERS)]}
            update_area(view, *codes, name=f"名称{i}")
        published.append(publish(view))
        edited[published[-1]] = codes
    return registry, published, edited


def _followed(found) -> dict[tuple[int, int], set[str]]:
    """(older, newer) → the codes the lineage followed across that pair (on the side it came from)."""
    out, codes, g = {}, {found["code"]}, found["generation"]
    for step in found["ancestors"]:
        out[(step["generation"], g)] = codes
        codes, g = {a["code"] for a in step["areas"]}, step["generation"]
    codes, g = {found["code"]}, found["generation"]
    for step in found["descendants"]:
        out[(g, step["generation"])] = codes
        codes, g = {a["code"] for a in step["areas"]}, step["generation"]
    return out


def _spy(monkeypatch, module, name) -> list:
    calls, real = [], getattr(module, name)

    def spy(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, spy)
    return calls


@pytest.mark.parametrize(("code", "start"), [("B", None), ("A", 0), ("A2", None)])
def test_links_are_computed_only_for_pairs_where_a_followed_area_changed(many, monkeypatch, code, start):
    registry, published, edited = many
    view = _view(registry)
    generation = None if start is None else published[start]
    calls = _spy(monkeypatch, lineage, "_links")
    found = lineage.lineage(view, code, generation)
    linked = {(old, new) for _registry, old, new, _level in calls}
    expected = {pair for pair, codes in _followed(found).items() if codes & edited[pair[1]]}
    assert expected and linked == expected
    assert len(found["ancestors"]) + len(found["descendants"]) == GENERATIONS  # followed through every one
    calls.clear()
    assert lineage.lineage(view, code, generation) == found and calls == []  # warm: no building-level work
    assert found == lineage.lineage(view, code, generation, cached=False)
    assert len(calls) == GENERATIONS  # the uncached computation links every pair


def test_lineage_follows_the_split_and_the_merge(many):
    registry, published, _edited = many
    found = lineage.lineage(_view(registry), "B")
    merge = next(s for s in found["ancestors"] if s["generation"] == published[19])
    assert [(a["code"], a["share"]) for a in merge["areas"]] == [("B", 1.0), ("C", 1.0)]
    oldest = found["ancestors"][-1]
    assert oldest["generation"] == published[0] and [a["name"] for a in oldest["areas"]] == ["微网格B", "微网格C"]
    a = lineage.lineage(_view(registry), "A", published[0])
    split = a["descendants"][9]
    assert split["generation"] == published[10] and [x["code"] for x in split["areas"]] == ["A", "A2"]
    assert [x["links"] for x in split["areas"]] == [
        [{"code": "A", "share": pytest.approx(70 / 105)}],
        [{"code": "A", "share": pytest.approx(35 / 105)}],
    ]
    assert a["descendants"][-1]["areas"][1]["name"] == "改名35"


def test_a_restricted_caller_gets_the_uncached_answer(many):
    registry, published, _edited = many
    view = _view(registry, ["K"])
    for code, generation in (("P", None), ("Q", published[3])):
        assert lineage.lineage(view, code, generation) == lineage.lineage(view, code, generation, cached=False)
    found = lineage.lineage(_view(registry, ["A"]), "A", published[0])
    assert {x["code"] for s in found["descendants"] for x in s["areas"]} == {"A", ""}  # A2 is not the caller's
    assert found == lineage.lineage(_view(registry, ["A"]), "A", published[0], cached=False)
    figures = area_history.figures_over_time(_view(registry, ["A"]), "A")
    assert figures == area_history.figures_over_time(_view(registry, ["A"]), "A", cached=False)
    assert {a["code"] for f in figures["figures"] for a in f["areas"]} == {"A"}


@pytest.mark.parametrize("code", ["B", "A2", "G", "K"])
def test_figures_over_time_equal_the_household_counts_of_every_generation(many, monkeypatch, code):
    registry, published, edited = many
    view = _view(registry)
    calls = _spy(monkeypatch, area_history, "_located_counts")
    found = area_history.figures_over_time(view, code)
    reference = area_history.figures_over_time(view, code, cached=False)
    assert found == reference
    assert [f["generation"] for f in found["figures"]] == published
    for f in found["figures"]:
        counts = assets.household_counts(registry, f["generation"]).reindex([a["code"] for a in f["areas"]]).sum()
        assert (f["buildings"], f["households"]) == (counts["buildings"], counts["households"])
    assert (sum(f["households"] for f in found["figures"]) > 0) is (code != "K")  # K holds no building
    # counted by locating buildings only where the followed areas (or an area below them) changed
    located = {g for _registry, g, _codes in calls}
    previous, needed = None, set()
    for f in found["figures"]:
        areas = {a["code"] for a in f["areas"]}
        below = {c for c in edited.get(f["generation"], set()) if c in areas or registry.chain(c, f["generation"])}
        touched = {p["code"] for c in below for p in registry.chain(c, f["generation"])}
        if areas and (areas != previous or areas & touched):
            needed.add(f["generation"])
        previous = areas
    assert located == needed and len(located) < len(published)
    if code in MICRO or code == "A2":  # a micro-grid: counted again only where it changed
        assert len(located) <= 5
    calls.clear()
    assert area_history.figures_over_time(view, code)["figures"] == found["figures"] and calls == []
