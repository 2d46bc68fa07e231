import numpy as np
import pytest
import shapely
import shapely.affinity

from geo.errors import GeometryTypeError
from geo.locate import AMBIGUOUS, OUTSIDE, PolygonIndex, locate_exact


def brute_force(polys, x, y):
    """The reference: interior containment first, then the lowest-index polygon covering a boundary point."""
    pts = shapely.points(x, y)
    inside = np.array([shapely.contains(p, pts) for p in polys]).T  # (points, polys)
    cover = np.array([shapely.covers(p, pts) for p in polys]).T
    out = np.full(len(x), OUTSIDE)
    n = inside.sum(axis=1)
    out[n == 1] = inside[n == 1].argmax(axis=1)
    out[n >= 2] = AMBIGUOUS
    edge = (n == 0) & cover.any(axis=1)
    out[edge] = cover[edge].argmax(axis=1)
    return out, inside


def tessellation(n, seed, size=10.0):
    rng = np.random.default_rng(seed)
    frame = shapely.box(0, 0, size, size)
    cells = shapely.voronoi_polygons(shapely.multipoints(rng.uniform(0, size, (n, 2))), extend_to=frame)
    return np.asarray(shapely.intersection(shapely.get_parts(cells), frame))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_points_equal_brute_force(seed):
    polys = tessellation(300, seed)
    # punch a gap and add an overlapping polygon so both cases occur
    gap = polys[5].centroid.buffer(0.05)
    polys[5] = polys[5].difference(gap)
    polys = np.append(polys, shapely.box(4, 4, 4.6, 4.6))
    rng = np.random.default_rng(seed + 10)
    x, y = rng.uniform(-0.5, 10.5, 20_000), rng.uniform(-0.5, 10.5, 20_000)
    x = np.r_[x, gap.centroid.x]
    y = np.r_[y, gap.centroid.y]
    expected, inside = brute_force(polys, x, y)
    result = PolygonIndex(polys).locate(x, y)
    np.testing.assert_array_equal(result.index, expected)
    assert result.index[-1] == OUTSIDE  # the gap
    ambiguous = np.flatnonzero(expected == AMBIGUOUS)
    assert len(ambiguous) > 10
    for i in ambiguous:
        np.testing.assert_array_equal(result.ambiguous[int(i)], np.flatnonzero(inside[i]))
    assert (result.index == OUTSIDE).sum() > 100


def test_points_on_shared_edges_and_vertices_resolve_to_lowest_index():
    polys = [shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1), shapely.box(0, 1, 1, 2), shapely.box(1, 1, 2, 2)]
    x = np.array([1.0, 1.0, 0.5, 1.5, 0.0, 2.0, 1.0000001])
    y = np.array([0.5, 1.0, 1.0, 1.0, 0.0, 2.0, 0.5])
    result = PolygonIndex(polys, cells_per_polygon=4).locate(x, y)
    assert result.index.tolist() == [0, 0, 0, 1, 0, 3, 1]
    assert result.on_boundary.tolist() == [True] * 6 + [False]
    expected, _ = brute_force(polys, x, y)
    np.testing.assert_array_equal(result.index, expected)


def test_holes_and_multipolygons():
    donut = shapely.box(0, 0, 10, 10).difference(shapely.box(3, 3, 7, 7))
    multi = shapely.multipolygons([shapely.box(4, 4, 5, 5), shapely.box(20, 20, 21, 21)])
    polys = [donut, multi]
    rng = np.random.default_rng(0)
    x, y = rng.uniform(-1, 22, 50_000), rng.uniform(-1, 22, 50_000)
    expected, _ = brute_force(polys, x, y)
    result = PolygonIndex(polys).locate(x, y)
    np.testing.assert_array_equal(result.index, expected)
    assert {0, 1, OUTSIDE} <= set(result.index.tolist())


def test_city_like_tessellation_in_degrees_matches_exact():
    polys = tessellation(3000, 7, size=0.05)  # cells of about 100 m, like micro-grids
    polys = np.asarray([shapely.affinity.translate(p, 104.05, 30.62) for p in polys])
    rng = np.random.default_rng(8)
    x, y = rng.uniform(104.05, 104.10, 200_000), rng.uniform(30.62, 30.67, 200_000)
    fast = PolygonIndex(polys).locate(x, y)
    exact = locate_exact(polys, x, y)
    np.testing.assert_array_equal(fast.index, exact.index)


def test_rejects_non_polygons_and_handles_empty_input():
    with pytest.raises(GeometryTypeError):
        PolygonIndex([shapely.Point(0, 0)])
    index = PolygonIndex([shapely.box(0, 0, 1, 1)])
    assert index.locate([], []).index.tolist() == []
    assert index.locate([np.nan], [0.5]).index.tolist() == [OUTSIDE]


def wiggly_polygons(n_vertices: int, seed: int = 0) -> np.ndarray:
    """Three large star-shaped polygons with detailed, coastline-like outlines, and one inside another's hole."""
    rng = np.random.default_rng(seed)
    out = []
    for cx, cy, r in ((0.0, 0.0, 1.0), (2.6, 0.3, 1.1), (1.2, 2.4, 0.9)):
        theta = np.linspace(0, 2 * np.pi, n_vertices, endpoint=False)
        radius = r * (
            1 + 0.15 * np.sin(7 * theta) + 0.05 * rng.standard_normal(n_vertices).cumsum() / np.sqrt(n_vertices)
        )
        out.append(shapely.Polygon(np.column_stack([cx + radius * np.cos(theta), cy + radius * np.sin(theta)])))
    out[0] = out[0].difference(shapely.Point(0, 0).buffer(0.3, 64))
    out.append(shapely.Point(0, 0).buffer(0.2, 64))  # an island in the hole
    return np.asarray([shapely.make_valid(p) if not p.is_valid else p for p in out])


def test_few_large_detailed_polygons_equal_exact():
    polys = wiggly_polygons(20_000)
    rng = np.random.default_rng(3)
    x, y = rng.uniform(-1.5, 4.0, 100_000), rng.uniform(-1.5, 3.6, 100_000)
    # points on the outline itself, at vertices and on edges
    ring = shapely.get_coordinates(polys[1].exterior)[:50]
    x = np.r_[x, ring[:, 0], (ring[:-1, 0] + ring[1:, 0]) / 2]
    y = np.r_[y, ring[:, 1], (ring[:-1, 1] + ring[1:, 1]) / 2]
    index = PolygonIndex(polys)
    fast = index.locate(x, y)
    exact = locate_exact(polys, x, y)
    np.testing.assert_array_equal(fast.index, exact.index)
    np.testing.assert_array_equal(fast.on_boundary, exact.on_boundary)
    assert fast.on_boundary.sum() >= 50 and {0, 1, 2, 3, OUTSIDE} <= set(fast.index.tolist())
    # memory follows the edges, not a fixed number of cells per polygon
    coordinate_bytes = shapely.get_num_coordinates(polys).sum() * 16
    assert index.memory_bytes < 6 * coordinate_bytes


def test_vertices_exactly_on_grid_lines_and_corners():
    """Vertices on grid lines are where a scanline miscounts if its rule at vertices is wrong."""
    step = 0.125  # a power of two: cell coordinates of snapped vertices are exact integers
    polys = shapely.set_precision(tessellation(200, 4), step)
    polys = polys[~shapely.is_empty(polys) & (shapely.get_type_id(polys) == 3)]
    index = PolygonIndex(polys, cell=step)
    assert index.origin == (0.0, 0.0) and index.cell == step
    gx, gy = np.meshgrid(np.arange(index.nx + 1), np.arange(index.ny + 1))
    rng = np.random.default_rng(5)
    offsets = rng.uniform(0, 1, (2, 200_000))  # inside cells, all over the grid
    cx, cy = rng.integers(0, index.nx, 200_000), rng.integers(0, index.ny, 200_000)
    vertices = shapely.get_coordinates(polys)
    x = np.r_[vertices[:, 0], gx.ravel() * step, (cx + offsets[0]) * step]
    y = np.r_[vertices[:, 1], gy.ravel() * step, (cy + offsets[1]) * step]
    fast = index.locate(x, y)
    exact = locate_exact(polys, x, y)
    np.testing.assert_array_equal(fast.index, exact.index)


def test_a_saved_index_loads_and_answers_the_same(tmp_path):
    from geo.index_files import load_index, save_index

    polys = tessellation(500, 9)
    index = PolygonIndex(polys)
    save_index(index, tmp_path / "idx")
    loaded = load_index(polys, tmp_path / "idx")
    rng = np.random.default_rng(1)
    x, y = rng.uniform(-0.5, 10.5, 50_000), rng.uniform(-0.5, 10.5, 50_000)
    np.testing.assert_array_equal(loaded.locate(x, y).index, index.locate(x, y).index)
    assert isinstance(loaded.arrays["grid"], np.memmap)
    with pytest.raises(ValueError, match="polygons"):
        load_index(polys[:10], tmp_path / "idx")
    with pytest.raises(ValueError, match="no saved index"):
        load_index(polys, tmp_path / "elsewhere")


def test_an_index_saved_in_another_layout_is_refused_not_misread(tmp_path):
    import json

    from geo.index_files import load_index, save_index

    polys = tessellation(50, 4)
    save_index(PolygonIndex(polys), tmp_path / "idx")
    meta = json.loads((tmp_path / "idx" / "grid.json").read_text())
    meta["format"] = PolygonIndex.FORMAT - 1
    (tmp_path / "idx" / "grid.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="layout"):
        load_index(polys, tmp_path / "idx")


def test_ring_orientation_and_z_do_not_change_answers():
    """Exteriors clockwise or not, holes either way, and 3D outlines are read alike (the build reads WKB)."""
    holed = shapely.Polygon([(0, 0), (4, 0), (4, 4), (0, 4)], [[(1, 1), (2, 1), (2, 2), (1, 2)]])
    two = shapely.MultiPolygon([shapely.box(5, 0, 6, 1), shapely.box(7, 0, 8, 3)])
    base = [holed, two, shapely.box(1.2, 1.2, 1.8, 1.8)]
    flipped = [shapely.reverse(p) for p in base]  # every ring's direction reversed
    raised = [shapely.force_3d(p, 7.5) for p in base]
    rng = np.random.default_rng(3)
    x, y = rng.uniform(-0.5, 8.5, 20_000), rng.uniform(-0.5, 4.5, 20_000)
    expected, _ = brute_force(base, x, y)
    for polys in (base, flipped, raised):
        np.testing.assert_array_equal(PolygonIndex(polys).locate(x, y).index, expected)


def test_a_loaded_index_fetches_only_the_outlines_its_boundary_points_need(tmp_path):
    from geo.index_files import load_index, save_index
    from geo.locate import LazyPolygons

    polys = tessellation(400, 11)
    polys[7] = shapely.box(2, 2, 3, 3)  # overlaps its neighbours: ambiguous points go to GEOS
    index = PolygonIndex(polys)
    save_index(index, tmp_path / "idx")
    asked = []

    def fetch(positions):
        asked.extend(positions.tolist())
        return polys[positions]

    lazy = LazyPolygons(shapely.bounds(polys), fetch)
    loaded = load_index(lazy, tmp_path / "idx")
    rng = np.random.default_rng(3)
    x, y = rng.uniform(0.2, 9.8, 5_000), rng.uniform(0.2, 9.8, 5_000)
    interior = loaded.locate(x, y)
    expected = index.locate(x, y)
    np.testing.assert_array_equal(interior.index, expected.index)
    fetched_for_interior = lazy.fetched
    assert fetched_for_interior < 30  # the overlap's few polygons, not the 400
    # points exactly on shared edges and vertices, one at a time and in bulk: the same answers as GEOS
    ring = shapely.get_coordinates(shapely.boundary(polys[3]))
    assert locate_exact(polys, ring[:, 0], ring[:, 1]).on_boundary.all()
    mids = (ring[:-1] + ring[1:]) / 2
    for px, py in [*ring[:4], *mids[:4]]:
        one, exact = loaded.locate([px], [py]), locate_exact(polys, [px], [py])
        assert (one.index.tolist(), one.on_boundary.tolist()) == (exact.index.tolist(), exact.on_boundary.tolist())
    bulk = np.vstack([ring, mids])
    np.testing.assert_array_equal(
        loaded.locate(bulk[:, 0], bulk[:, 1]).index, locate_exact(polys, bulk[:, 0], bulk[:, 1]).index
    )
    assert lazy.fetched < 60
    assert len(asked) == lazy.fetched  # each outline fetched once


def test_outline_from_the_index_edges_equals_the_polygon_boundary():
    polys = tessellation(50, 4)
    polys[2] = shapely.box(0.1, 0.1, 0.9, 0.9).difference(shapely.box(0.3, 0.3, 0.5, 0.5))  # a hole
    index = PolygonIndex(polys)
    for i in (0, 2, 49):
        outline = index.outline(i)
        assert outline.length == pytest.approx(shapely.boundary(polys[i]).length, rel=1e-12)
        assert shapely.hausdorff_distance(outline, shapely.boundary(polys[i])) < 1e-12


def test_one_point_at_a_time_answers_as_in_bulk():
    polys = tessellation(200, 12)
    polys = np.delete(polys, [3, 50])  # gaps
    index = PolygonIndex(polys)
    rng = np.random.default_rng(5)
    x, y = rng.uniform(-1, 11, 2_000), rng.uniform(-1, 11, 2_000)
    x[:3], y[:3] = (0.0, 10.0, np.nextafter(10.0, 0)), (0.0, 10.0, 5.0)  # the grid's own edges
    bulk = index.locate(x, y)
    one = [index.locate([px], [py]) for px, py in zip(x, y, strict=True)]
    np.testing.assert_array_equal([r.index[0] for r in one], bulk.index)
    np.testing.assert_array_equal([r.on_boundary[0] for r in one], bulk.on_boundary)
    np.testing.assert_array_equal(bulk.index, brute_force(polys, x, y)[0])


def _saved(tmp_path, n=60, seed=5):
    from geo.index_files import save_index

    polys = tessellation(n, seed)
    index = PolygonIndex(polys)
    save_index(index, tmp_path / "idx")
    return polys, index


@pytest.mark.parametrize(
    "damage",
    [
        "short line_edge",  # a valid .npy, too short: the kernels would read past it (a segfault before)
        "edge out of range",  # pair_vertex pointing past the vertices, checksum updated to match
        "bytes overwritten",  # 50 bytes of noise inside grid.npy, header kept
        "float32 uv",  # the wrong dtype: the kernels would compile for it and answer wrongly
    ],
)
def test_a_damaged_saved_index_is_refused_before_the_kernels_read_it(tmp_path, damage):
    import json

    from geo.index_files import _crc32, load_index

    polys, index = _saved(tmp_path)
    folder = tmp_path / "idx"
    meta = json.loads((folder / "grid.json").read_text())
    if damage == "short line_edge":
        np.save(folder / "line_edge.npy", np.load(folder / "line_edge.npy")[:1])
    elif damage == "edge out of range":
        pairs = np.load(folder / "pair_vertex.npy")
        pairs[len(pairs) // 2] = len(np.load(folder / "uv.npy")) + 1000
        np.save(folder / "pair_vertex.npy", pairs)
    elif damage == "bytes overwritten":
        raw = bytearray((folder / "grid.npy").read_bytes())
        raw[200:250] = np.random.default_rng(1).integers(0, 256, 50, dtype=np.uint8).tobytes()
        (folder / "grid.npy").write_bytes(bytes(raw))
    else:
        np.save(folder / "uv.npy", np.load(folder / "uv.npy").astype("float32"))
    if damage != "bytes overwritten":  # checksums made to match: the array checks must catch it
        meta["crc32"] = {name: _crc32(folder / f"{name}.npy") for name in PolygonIndex.ARRAY_NAMES}
        (folder / "grid.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="no saved index|index|checksum"):
        load_index(polys, folder)


@pytest.mark.parametrize("meta", [[], {"format": 2}, {"cell": -1.0}, {"nx": "many"}])
def test_a_malformed_grid_json_is_refused(tmp_path, meta):
    import json

    from geo.index_files import load_index

    polys, _ = _saved(tmp_path)
    path = tmp_path / "idx" / "grid.json"
    saved = json.loads(path.read_text())
    path.write_text(json.dumps(meta if isinstance(meta, list) or "format" in meta else {**saved, **meta}))
    with pytest.raises(ValueError):
        load_index(polys, tmp_path / "idx")


def test_polygons_too_large_for_a_grid_are_refused_clearly():
    with pytest.raises(ValueError, match="too large"):
        PolygonIndex([shapely.box(-1e300, -1e300, 1e300, 1e300)])


def test_points_near_an_edge_are_decided_on_prepared_outlines():
    """GEOS decides points within a hair of an edge; a prepared outline makes that a lookup on a detailed one."""
    theta = np.linspace(0, 2 * np.pi, 20_000, endpoint=False)
    ring = np.column_stack([np.cos(theta), np.sin(theta)])
    polys = [shapely.Polygon(ring), shapely.box(-2, -2, 2, 2).difference(shapely.Polygon(ring))]
    index = PolygonIndex(polys)
    x, y = ring[::50, 0], ring[::50, 1]  # on vertices: on the boundary
    result = index.locate(x, y)
    assert result.on_boundary.all() and (result.index == 0).all()  # the lowest index covering them
    assert shapely.is_prepared(index.polygons).all()
