"""Storage of the registry behind one small interface (:class:`boundaries.storage.store.Store`).

``open_store(url)`` returns a store for a SQLAlchemy URL; SQLite (the embedded default) is configured in
:mod:`boundaries.storage.sqlite`, the only module that knows SQLite. Geometries are stored as WKB in
WGS84 (EPSG:4326) with bounding-box columns, so the same SQL runs on SQLite and PostgreSQL; where PostgreSQL has
PostGIS, generated geometry columns with GiST indexes narrow the windows (:mod:`boundaries.storage.postgis`).
"""

from boundaries.storage.store import Store, open_store

__all__ = ["Store", "open_store"]
