"""Caches of derived values (point indexes, hierarchies, counts) that stay right across processes.

Every key includes what the value depends on: a published generation never changes, so its values are keyed by
the generation alone; a draft's values are keyed by the database's ``areas`` revision, which triggers bump on
every write by any process (migration 0007). :class:`Cache` is a bounded LRU that builds each value once, even
when many threads ask for it at the same moment. :class:`IndexFolder` keeps published generations' point
indexes as memory-mapped files, so a new process loads them instead of building them.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from geo.exact import LazyPolygons
from geo.index_files import load_index, save_index
from geo.locate import PolygonIndex

__all__ = ["AreaNodes", "Cache", "IndexFolder"]

#: Bump when the layout of PolygonIndex's arrays changes: older saved indexes are then ignored.
INDEX_FORMAT = 2


class Cache:
    """A thread-safe LRU cache of at most ``size`` values, each built once per key.

    Parameters
    ----------
    size : int
        Values kept; the least recently used one goes first.
    """

    def __init__(self, size: int = 16):
        self._items: OrderedDict = OrderedDict()
        self._size = size
        self._lock = threading.Lock()
        self._building: dict = {}
        self.builds = 0  # how many values were built (for tests and diagnostics)

    def get(self, key):
        """The value of ``key``, or ``None``."""
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key, value) -> None:
        """Keep ``value`` under ``key``, dropping the least recently used value when full."""
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def get_or_build(self, key, build: Callable[[], object]):
        """The value of ``key``; built by ``build()`` in one thread while others asking for it wait."""
        value = self.get(key)
        if value is not None:
            return value
        with self._lock:
            key_lock = self._building.setdefault(key, threading.Lock())
        try:
            with key_lock:
                value = self.get(key)
                if value is None:
                    value = build()
                    self.builds += 1
                    self.put(key, value)
        finally:
            with self._lock:
                if self._building.get(key) is key_lock:
                    del self._building[key]
        return value

    def clear(self) -> None:
        """Forget every value."""
        with self._lock:
            self._items.clear()


class AreaNodes(Mapping):
    """Every area of a generation as code → ``{code, name, level, kind, parent_code}``, kept as columns.

    A read-only mapping built from one lean read of the areas (no geometry): a node's dict is made when it is
    asked for, so the first request after a start does not build 126,000 dicts to walk one chain.

    Parameters
    ----------
    columns : dict of list
        ``id``, ``code``, ``name``, ``level``, ``kind`` and ``parent_code`` of every area, ordered by code.
    """

    KEYS = ("code", "name", "level", "kind", "parent_code")

    def __init__(self, columns: dict[str, list]):
        self.columns = {name: np.asarray(values, dtype=object) for name, values in columns.items()}
        self._row = {code: i for i, code in enumerate(columns["code"])}

    def __getitem__(self, code):
        i = self._row[code]
        return {key: self.columns[key][i] for key in self.KEYS}

    def __contains__(self, code) -> bool:
        return code in self._row

    def __iter__(self):
        return iter(self._row)

    def __len__(self) -> int:
        return len(self._row)

    def parent(self, code: str) -> str | None:
        """The parent code of an area (``KeyError`` for an unknown code)."""
        return self.columns["parent_code"][self._row[code]]


class IndexFolder:
    """Saved point indexes of published generations, one folder each, named by what they index.

    A folder's name holds the level, the generation, when it was created and a digest of the area codes, so a
    database rebuilt with the same generation numbers never meets an index of its predecessor.

    Parameters
    ----------
    root : str or os.PathLike
        Where the folders live (created when needed).
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def path(self, level: str, generation: int, stamp: str, codes) -> Path:
        """The folder of one level's index in one generation."""
        digest = hashlib.sha256("\n".join([str(INDEX_FORMAT), stamp, *codes]).encode()).hexdigest()[:16]
        return self.root / f"{level}-g{generation}-{digest}"

    def load_or_build(self, folder: Path, polygons) -> PolygonIndex:
        """The index saved in ``folder``, or one built now and saved there (atomically) for other processes.

        ``polygons`` may be :class:`~geo.exact.LazyPolygons` (outlines fetched on demand): a saved index needs
        only the few a point near an edge asks for, a build needs them all, and fetches them.
        """
        if folder.exists():
            try:
                return load_index(polygons, folder)
            except ValueError:
                shutil.rmtree(folder, ignore_errors=True)  # a damaged, partial or foreign folder: build it again
        if isinstance(polygons, LazyPolygons):
            polygons = polygons.take(np.arange(len(polygons)))
        index = PolygonIndex(polygons)
        tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}-{threading.get_ident()}")
        try:
            save_index(index, tmp)
            os.replace(tmp, folder)  # atomic; if another process got there first, keep theirs
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
        return index
