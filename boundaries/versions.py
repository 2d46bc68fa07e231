"""Versions of editable things, for optimistic concurrency (HTTP ``ETag`` / ``If-Match``, RFC 9110).

A version is a digest of the stored record: an area's row (its id, the generation it is valid from, code,
level, name, kind, parent and boundary), a building's or service point's row. Every write changes the record,
so it changes the version; two reads of the same state give the same version. Writers pass the versions the
caller last saw (``If-Match``); the check runs inside the write transaction, so a stale version is refused
(:class:`PreconditionFailedError`) instead of silently overwriting someone else's change.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping

import shapely

from core.errors import ConflictError

__all__ = ["ANY", "PreconditionFailedError", "area_version", "row_version", "check_version"]

#: ``If-Match: *``: any current version matches (the thing must exist).
ANY = "*"
_AREA_FIELDS = ("id", "generation_low", "code", "level", "name", "kind", "parent_code")
_SKIPPED = ("geometry", "minx", "miny", "maxx", "maxy")


class PreconditionFailedError(ConflictError):
    """The caller's version (``If-Match``) is not the current one; ``current`` and ``version`` describe it."""

    code = "precondition_failed"

    def __init__(self, message: str, current: dict, version: str):
        super().__init__(message)
        self.current, self.version = current, version


def _digest(values) -> str:
    text = json.dumps(values, ensure_ascii=False, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _plain(key: str, value):
    """A stored value as Python has it (rows from data frames carry numpy integers and NaN for NULL)."""
    if key in ("id", "generation_low"):
        return int(value)
    return None if value is None or (isinstance(value, float) and value != value) else str(value)


def area_version(row: Mapping) -> str:
    """The version of a stored area row (a mapping or a data-frame row; ``geometry`` as WKB or shapely).

    Examples
    --------
    >>> row = {"id": 1, "generation_low": 1, "code": "A01", "level": "grid", "name": "a", "kind": "general",
    ...        "parent_code": None, "geometry": shapely.box(0, 0, 1, 1)}
    >>> area_version(row) == area_version({**row, "geometry": shapely.box(0, 0, 1, 1.0)})
    True
    >>> area_version(row) == area_version({**row, "name": "b"})
    False
    """
    geometry = row["geometry"]  # as the store gives it: shapely
    values = {k: _plain(k, row[k]) for k in _AREA_FIELDS}
    return _digest({**values, "geometry": shapely.to_wkb(geometry, hex=True, output_dimension=2)})


def row_version(row: Mapping) -> str:
    """The version of a stored building or service-point row (every column but the footprint)."""
    return _digest({k: v for k, v in row.items() if k not in _SKIPPED})


def check_version(if_match: Collection[str] | None, version: str, current: dict, what: tuple[str, str]) -> None:
    """Refuse a write whose ``If-Match`` versions do not include the current ``version``.

    Parameters
    ----------
    if_match : collection of str or None
        The versions the caller accepts (strong entity tags, unquoted), :data:`ANY`, or ``None`` when the
        caller sent no ``If-Match`` (then the write goes ahead: the condition is optional).
    version : str
        The current version, read in the write transaction.
    current : dict
        The current state, returned to the caller with the refusal.
    what : (str, str)
        The thing's name in Chinese and English, for the message.

    Raises
    ------
    PreconditionFailedError
        When ``if_match`` is given and matches neither ``version`` nor ``*``.
    """
    if if_match is None or ANY in if_match or version in if_match:
        return
    raise PreconditionFailedError(
        f"{what[0]}已被他人修改 the {what[1]} was changed since you read it (If-Match does not match the current "
        "version); "
        "read it again, apply your change and send it with the new ETag",
        current,
        version,
    )
