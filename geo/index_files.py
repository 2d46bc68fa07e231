"""Saving a built :class:`~geo.locate.PolygonIndex` to files and memory-mapping it again.

A new process (the command line, a second web worker, a restart) loads a saved index in a fraction of the
time it takes to build one, and processes that map the same files share their pages.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np

from geo.locate import PolygonIndex, _polygons

__all__ = ["save_index", "load_index"]


def save_index(index: PolygonIndex, folder) -> None:
    """Write a built index's arrays to ``folder`` (one ``.npy`` file each, plus ``grid.json``).

    Parameters
    ----------
    index : PolygonIndex
    folder : str or os.PathLike
        Created when missing; files already there are replaced.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in index.arrays.items():
        np.save(folder / f"{name}.npy", np.ascontiguousarray(array), allow_pickle=False)
    meta = {"format": PolygonIndex.FORMAT, "origin": index.origin, "cell": index.cell}
    meta.update(nx=index.nx, ny=index.ny, n=len(index.polygons))
    meta["crc32"] = {name: _crc32(folder / f"{name}.npy") for name in index.arrays}
    (folder / "grid.json").write_text(json.dumps(meta), "utf-8")


def load_index(polygons, folder) -> PolygonIndex:
    """An index saved by :func:`save_index`, its arrays memory-mapped (read-only, shared between processes).

    Parameters
    ----------
    polygons : array_like of shapely Polygon or MultiPolygon
        The polygons the index was built on, in the same order.
    folder : str or os.PathLike

    Returns
    -------
    PolygonIndex

    Raises
    ------
    ValueError
        When files are missing, damaged (checksums, then :mod:`geo.index_check`), of another layout
        (:attr:`PolygonIndex.FORMAT`), or do not match ``polygons``.
    """
    folder = Path(folder)
    try:
        meta = json.loads((folder / "grid.json").read_text("utf-8"))
        if not isinstance(meta, dict) or meta.get("format") != PolygonIndex.FORMAT:
            found = meta.get("format") if isinstance(meta, dict) else meta
            raise ValueError(f"saved index has layout {found!r}, not {PolygonIndex.FORMAT}")
        sums = meta.get("crc32")
        if not isinstance(sums, dict):
            raise ValueError("saved index has no checksums")
        for name in PolygonIndex.ARRAY_NAMES:  # a damaged file is refused before anything reads it
            if _crc32(folder / f"{name}.npy") != sums.get(name):
                raise ValueError(f"{name}.npy does not match its checksum")
        arrays = {n: np.load(folder / f"{n}.npy", mmap_mode="r") for n in PolygonIndex.ARRAY_NAMES}
        n, grid = int(meta["n"]), (meta["origin"], meta["cell"], (meta["nx"], meta["ny"]))
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise ValueError(f"no saved index in {folder}: {exc}") from exc
    polygons = _polygons(polygons)
    if n != len(polygons):
        raise ValueError(f"saved index is for {n} polygons, not {len(polygons)}")
    return PolygonIndex.from_arrays(polygons, *grid, arrays)


def _crc32(path: Path) -> int:
    """CRC-32 of a file, read in 16 MiB blocks (a damaged file, not a forged one, is what it catches)."""
    crc = 0
    with open(path, "rb") as f:
        while block := f.read(16 << 20):
            crc = zlib.crc32(block, crc)
    return crc
