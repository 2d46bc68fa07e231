"""How geometries are stored: WKB (EPSG:4326) with a bounding box in four columns.

The repositories take and give shapely geometries; only this module knows the encoding. A row to write may
carry ``geometry`` as a shapely geometry (encoded here, with ``minx`` … ``maxy`` filled in) or as WKB already
encoded with its box (rows read back and written again, or built by a benchmark); rows read are decoded in one
vectorised call per read.
"""

from __future__ import annotations

import numpy as np
import shapely

__all__ = ["encode", "encode_rows", "decode_rows", "decode"]

_BOX = ("minx", "miny", "maxx", "maxy")


def encode(geometry) -> dict:
    """The stored columns of one geometry: ``geometry`` (WKB) and its bounding box."""
    minx, miny, maxx, maxy = shapely.bounds(geometry)
    return {"geometry": shapely.to_wkb(geometry), "minx": minx, "miny": miny, "maxx": maxx, "maxy": maxy}


def encode_rows(rows: list[dict]) -> list[dict]:
    """``rows`` with every shapely ``geometry`` encoded (new dicts; rows without one, or with WKB, as they are)."""
    at = [i for i, row in enumerate(rows) if isinstance(row.get("geometry"), shapely.Geometry)]
    if not at:
        return rows
    geoms = np.array([rows[i]["geometry"] for i in at], dtype=object)
    wkb, boxes = shapely.to_wkb(geoms), shapely.bounds(geoms)
    out = list(rows)
    for k, i in enumerate(at):
        out[i] = {**rows[i], "geometry": wkb[k], **dict(zip(_BOX, map(float, boxes[k]), strict=True))}
    return out


def decode(values) -> np.ndarray:
    """Stored WKB values as an object array of shapely geometries."""
    return (
        shapely.from_wkb(np.asarray([bytes(v) for v in values], dtype=object)) if len(values) else np.empty(0, object)
    )


def decode_rows(rows: list[dict]) -> list[dict]:
    """``rows`` (dicts read from a table) with ``geometry`` decoded in place; returns them."""
    if rows and "geometry" in rows[0]:
        for row, geom in zip(rows, decode([r["geometry"] for r in rows]), strict=True):
            row["geometry"] = geom
    return rows
