"""Idempotent imports of buildings, service points and roads: match, then add, update, leave or remove.

Each feature is matched to a stored row; then it is added, updated or left, and (with ``replace``) stored rows
no feature matched are removed.

Matching rules, in one write transaction:

- With a source id field (``--id-field``), a feature matches the stored row carrying the same id (``ref``); a
  feature whose id is not stored yet adopts a stored row *without* an id that has the same geometry (an earlier
  import without ids), so switching to ids does not duplicate anything. Ids must be non-empty; features sharing an
  id are pieces of one thing (buildings and roads clipped at tile edges) and are merged first.
- Without an id field, a feature matches a stored row with the same geometry: coordinates rounded to 1e-8 degrees
  (about 1 mm), then normalised (ring start and orientation do not matter); a service point also needs the same
  kind (a police post and a clinic may share a building).
- With an id field, stored rows without an id that no feature matched but that a feature covers are pieces of it
  (an earlier import without ids stored each piece clipped at a tile edge): a stored building is covered when its
  representative point lies in the feature's footprint and at least half its area does; a stored road when at
  least half its length lies within 1e-7 degrees (about 1 cm) of the feature's line. The feature takes them
  over: it keeps the first one's row (and id) if it matched none, and the others are removed (``taken_over``).
- A matched row whose values differ is updated in place (its id stays); an unmatched feature is added. With
  ``replace``, stored rows of the set (all buildings, all roads, or the service points of the imported kinds) that
  no feature matched are removed, which also clears duplicates left by earlier imports; without it they are kept
  and counted (``left``), so the report says they are there.

Importing the same file twice therefore leaves the same rows: the second run reports every feature unchanged.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from core.errors import InvalidInputError

#: How near a stored road piece must lie to an imported line to count as part of it (degrees, about 1 cm).
_LINE_TOLERANCE_DEG = 1e-7

__all__ = ["AssetImportReport", "geometry_key", "merge_pieces", "source_ids", "sync_rows"]


@dataclass
class AssetImportReport:
    """What an import of buildings, service points or roads did."""

    object_type: str  # building | service_point | road
    count: int = 0  # features in the file, after merging pieces that share an id
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    merged: int = 0  # pieces merged into features sharing an id
    taken_over: int = 0  # stored pieces without an id that a feature with an id covers: removed, it holds them
    left: int = 0  # stored rows of the set no feature matched, kept (without replace)
    matched_by: str = "geometry"  # "geometry", or "id field NAME"
    replace: bool = False

    def as_dict(self) -> dict:
        """The report as a JSON-ready dict."""
        return asdict(self)


def _blank(value) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)) or not str(value).strip()


def source_ids(gdf: gpd.GeoDataFrame, id_field: str) -> np.ndarray:
    """The source ids of ``id_field`` as text; refuses a missing field or blank ids, naming the features."""
    if id_field not in gdf.columns:
        fields = ", ".join(str(c) for c in gdf.columns if c != gdf.geometry.name)
        raise InvalidInputError(f"字段不存在 id field {id_field!r} is not in the file; fields: {fields}")
    values = gdf[id_field].to_numpy(dtype=object)
    blank = [i for i, v in enumerate(values) if _blank(v)]
    if blank:
        listed = ", ".join(f"#{i + 1}" for i in blank[:20]) + (" …" if len(blank) > 20 else "")
        raise InvalidInputError(f"编号为空 {len(blank)} feature(s) have no {id_field} ({listed}); nothing was imported")
    text = [str(int(v)) if isinstance(v, float) and v.is_integer() else str(v).strip() for v in values]
    if any(len(t) > 64 for t in text):
        raise InvalidInputError(f"编号过长 ids of {id_field!r} must be at most 64 characters")
    return np.array(text, dtype=object)


def merge_pieces(gdf: gpd.GeoDataFrame, ids: np.ndarray, lines: bool = False) -> tuple[gpd.GeoDataFrame, int]:
    """Merge features sharing an id into one: the union of their geometries, each attribute's first value given.

    Returns the merged frame (in the order ids first appear, with ``ids`` in column ``__ref``) and the number of
    pieces merged away.
    """
    frame = pd.DataFrame(gdf.drop(columns=gdf.geometry.name)).assign(__ref=ids)
    if len(set(ids)) == len(ids):
        return gpd.GeoDataFrame(frame, geometry=gdf.geometry.values, crs=gdf.crs), 0
    groups = pd.Series(np.arange(len(ids))).groupby(ids, sort=False)
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    merged = []
    for _, members in groups:
        union = shapely.union_all(geoms[members.to_numpy()])
        merged.append(shapely.line_merge(union) if lines and union.geom_type == "MultiLineString" else union)
    attrs = frame.groupby("__ref", sort=False).first().reset_index()
    out = gpd.GeoDataFrame(attrs, geometry=merged, crs=gdf.crs)
    return out, len(ids) - len(out)


def geometry_key(geometry) -> str:
    """A key equal for geometries equal up to 1e-8 degrees and vertex order (see the module docstring)."""
    rounded = shapely.transform(geometry, lambda xy: np.round(xy, 8))
    return hashlib.sha256(shapely.to_wkb(shapely.normalize(rounded))).hexdigest()


def _same(old: dict, new: dict) -> bool:
    for key, value in new.items():
        stored = old.get(key)
        if isinstance(stored, memoryview):
            stored = stored.tobytes()
        if stored != value and not (stored is None and value is None):
            return False
    return True


def _covers(feature, stored) -> bool:
    """Whether an imported feature covers a stored piece (see the module docstring)."""
    if stored.geom_type in ("Polygon", "MultiPolygon"):
        inside = shapely.area(shapely.intersection(stored, feature))
        return feature.covers(shapely.point_on_surface(stored)) and inside >= 0.5 * stored.area
    near = shapely.buffer(feature, _LINE_TOLERANCE_DEG)
    return shapely.length(shapely.intersection(stored, near)) >= 0.5 * stored.length


def _covered_pieces(rows, geometries, candidates) -> dict[int, int]:
    """For stored rows without an id (``candidates``), the feature (index into ``rows``) that covers each."""
    with_id = [i for i, row in enumerate(rows) if row.get("ref") is not None]
    if not candidates or not with_id:
        return {}
    features = np.asarray([geometries[i] for i in with_id], dtype=object)
    stored = np.asarray(np.asarray([row["geometry"] for row in candidates], dtype=object), dtype=object)
    found: dict[int, int] = {}
    hits = shapely.STRtree(features).query(stored, predicate="intersects")
    for c, f in zip(*hits, strict=True):
        if int(c) not in found and _covers(features[f], stored[c]):
            found[int(c)] = with_id[int(f)]
    return found


def sync_rows(store, conn, table_name: str, rows: list[dict], keys: list, existing_key, replace: bool, report,
              kinds=None, geometries=None) -> None:  # fmt: skip
    """Match ``rows`` (new values, ``ref`` set or ``None``) to stored rows in ``conn`` and write the difference.

    Parameters
    ----------
    store : boundaries.storage.Store
    conn : sqlalchemy.Connection
        The import's write transaction.
    table_name : str
        ``buildings``, ``service_points`` or ``roads``.
    rows, keys : list
        New rows, and the geometry key of each.
    existing_key : callable
        The geometry key of a stored row.
    replace : bool
        Remove stored rows of the set that no new row matched.
    report : AssetImportReport
        Counts are added to it.
    kinds : iterable of str, optional
        The set of service points an import covers (its kinds).
    geometries : list of shapely geometries, optional
        The new rows' footprints or lines (WGS84): with ids, stored pieces without an id that a feature covers
        are taken over by it (buildings and roads; service points are not merged, so they pass none).
    """
    existing = store.asset_rows(conn, table_name, kinds=kinds)
    by_ref, by_key = {}, {}
    for row in existing:
        if row["ref"] is not None:
            by_ref.setdefault(row["ref"], []).append(row)
        by_key.setdefault(existing_key(row), []).append(row)
    claimed: set[int] = set()

    def take(candidates, want_no_ref=False):
        for row in candidates or ():
            if row["id"] not in claimed and not (want_no_ref and row["ref"] is not None):
                claimed.add(row["id"])
                return row
        return None

    rows = [row if row["ref"] is not None else {k: v for k, v in row.items() if k != "ref"} for row in rows]
    matched = []
    for row, key in zip(rows, keys, strict=True):
        if row.get("ref") is not None:
            matched.append(take(by_ref.get(row["ref"])) or take(by_key.get(key), want_no_ref=True))
        else:
            matched.append(take(by_key.get(key)))  # a geometry match keeps the stored id
    taken = []
    if geometries is not None:
        pieces = [row for row in existing if row["id"] not in claimed and row["ref"] is None]
        for c, i in sorted(_covered_pieces(rows, geometries, pieces).items()):
            claimed.add(pieces[c]["id"])
            if matched[i] is None:
                matched[i] = pieces[c]  # the merged feature keeps the first piece's row (and its id)
            else:
                taken.append(pieces[c]["id"])
    inserts, updates = [], []
    for row, old in zip(rows, matched, strict=True):
        if old is None:
            inserts.append(row)
        elif _same(old, row):
            report.unchanged += 1
        else:
            updates.append({**row, "id": old["id"]})
    report.added, report.updated, report.taken_over = len(inserts), len(updates), len(taken)
    store.update_rows(conn, table_name, updates)
    store.insert_rows(conn, table_name, inserts)
    gone = [row["id"] for row in existing if row["id"] not in claimed]
    if replace:
        store.delete_rows(conn, table_name, gone)
        report.removed = len(gone)
    else:
        report.left = len(gone)
    store.delete_rows(conn, table_name, taken)
