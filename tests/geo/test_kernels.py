"""The compiled kernels' readers (geo/kernels.py, geo/locate.py)."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from geo import kernels


def test_simple_polygons_are_read_without_wkb_exactly_as_through_it():
    """The fast path of ``geo.locate._rings`` (one ring per polygon) gives the general (WKB) path's arrays."""
    from geo.locate import _rings

    rng = np.random.default_rng(3)
    seeds = shapely.multipoints(rng.uniform(0, 100, (300, 2)))
    simple = np.asarray(shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=shapely.box(0, 0, 100, 100))))
    simple[::7] = shapely.reverse(simple[::7])  # clockwise exteriors too
    wkb = shapely.to_wkb(simple, output_dimension=2, byte_order=1, include_srid=False)
    starts = np.r_[0, np.cumsum([len(w) for w in wkb])]
    coords, ring_len, ring_poly, exterior = kernels.wkb_rings(np.frombuffer(b"".join(wkb), "uint8"), starts)
    fast = _rings(simple)
    np.testing.assert_array_equal(fast[0], coords.view("float64").reshape(-1, 2))
    for got, want in zip(fast[1:], (ring_len, ring_poly, exterior), strict=True):
        np.testing.assert_array_equal(got, want)
        assert got.dtype == want.dtype
    with_hole = np.append(simple, shapely.box(0, 0, 9, 9).difference(shapely.box(3, 3, 6, 6)))
    assert len(_rings(with_hole)[1]) == len(simple) + 2  # the general path: a hole is a ring of its own


def test_the_build_in_two_threads_gives_the_arrays_of_one_pass_over_all_cells():
    """The build splits the references and the packing between two threads by halves of the cells: the arrays
    must be those of each kernel run once over every cell."""
    from geo.locate import PolygonIndex

    rng = np.random.default_rng(5)
    seeds = shapely.multipoints(rng.uniform(0, 100, (2_000, 2)))
    cells = np.asarray(shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=shapely.box(0, 0, 100, 100))))
    index = PolygonIndex(shapely.intersection(cells, shapely.box(0, 0, 100, 100)))
    u, v, poly, side = index._vertices()
    corners = kernels.corner_labels(u, v, poly, side, index.nx, index.ny)
    mixed, ptr, edges = kernels.cell_pairs(u, v, poly, index.nx, index.ny)
    ref, ref_poly, other_poly = kernels.references(mixed, ptr, edges, u, v, corners, index.nx)
    line = np.flatnonzero(ref == kernels.LINE_LEFT)
    crossing = np.flatnonzero((ref >= 0) & (ref != kernels.LINE_LEFT))
    packed, pair_vertex = kernels.pack(crossing, ptr, edges, poly)
    assert len(line) > 100 and len(crossing) > 100  # both halves had work of both kinds
    arrays = index.arrays
    for name, want in (("line_edge", edges[ptr[line]]), ("line_left", ref_poly[line]),
                       ("line_right", other_poly[line]), ("ref", ref[crossing]), ("ref_poly", ref_poly[crossing]),
                       ("ptr", packed), ("pair_vertex", pair_vertex)):  # fmt: skip
        np.testing.assert_array_equal(arrays[name], want, err_msg=name)


def test_a_large_batch_located_in_two_halves_answers_as_one_pass():
    """Batches of at least ``_SPLIT_POINTS`` points are located in two threads: the answers must be the kernel's
    over the whole batch."""
    from geo import locate

    rng = np.random.default_rng(6)
    seeds = shapely.multipoints(rng.uniform(0, 100, (500, 2)))
    cells = shapely.intersection(
        np.asarray(shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=shapely.box(0, 0, 100, 100)))),
        shapely.box(0, 0, 100, 100),
    )
    index = locate.PolygonIndex(cells)
    x, y = rng.uniform(-5, 105, locate._SPLIT_POINTS + 7), rng.uniform(-5, 105, locate._SPLIT_POINTS + 7)
    a = index.arrays
    whole = kernels.locate(x, y, index.origin[0], index.origin[1], index.cell, index.nx, index.ny, a["grid"],
                           a["line_edge"], a["line_left"], a["line_right"], a["ptr"], a["pair_vertex"], a["ref"],
                           a["ref_poly"], a["uv"], a["ring_start"], a["ring_poly"])  # fmt: skip
    found = index.locate(x, y).index
    pure = whole != kernels.FALLBACK
    np.testing.assert_array_equal(found[pure], whole[pure])
    exact = shapely.contains_xy(cells[np.clip(found, 0, None)], x, y) | (found < 0)
    assert exact.all()


def test_an_index_over_no_polygons_answers_outside():
    """Outside test: ``PolygonIndex([])`` raised a bare IndexError while labelling its (absent) rings."""
    from geo.locate import OUTSIDE, PolygonIndex

    index = PolygonIndex([])
    assert index.locate([0.5, 2.0], [0.5, 3.0]).index.tolist() == [OUTSIDE, OUTSIDE]


def test_coordinates_of_different_lengths_are_refused():
    """Outside test: 60,000 x against 30,000 y gave 60,000 answers, half read from memory past the end of y."""
    from geo.locate import PolygonIndex

    index = PolygonIndex([shapely.box(0, 0, 1, 1)])
    for n, m in ((60_000, 30_000), (10, 5), (1, 2)):
        with pytest.raises(ValueError, match="differ in length"):
            index.locate(np.full(n, 0.5), np.full(m, 0.5))


def test_an_index_is_built_and_a_large_batch_located_while_the_interpreter_shuts_down(tmp_path):
    """Outside test: once the interpreter was shutting down (atexit, daemon threads such as waitress's), no thread
    could start, and every build or large batch failed with "cannot schedule new futures"."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent("""
        import atexit
        import numpy as np
        import shapely
        from geo.locate import PolygonIndex

        def at_exit():
            cells = [shapely.box(i, 0, i + 1, 1) for i in range(50)]
            index = PolygonIndex(cells)
            found = index.locate(np.full(60_000, 7.5), np.full(60_000, 0.5)).index
            print("answers", sorted(set(found.tolist())))

        atexit.register(at_exit)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "answers [7]" in done.stdout, done.stderr[-2000:]
