"""Hierarchical grid codes: a configurable layout of digit widths per level.

The default follows Beijing DB11/T 2157-2023: 6 digits county (GB/T 2260) + 3 street + 3 community + 3 grid
(15 digits), and a micro-grid adds 3 more. Codes of published areas never change meaning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import shapely

from boundaries.levels import LEVELS, check_level, parent_level
from core.errors import InvalidInputError

__all__ = [
    "CodeLayout",
    "DEFAULT_LAYOUT",
    "CODE_PATTERN",
    "RESERVED_CODES",
    "check_code",
    "is_addressable",
    "order_west_east_north_south",
]

#: An area code: 1 to 32 ASCII letters, digits, ``-``, ``_`` or ``.``, starting with a letter or digit. Codes
#: appear in URLs (``/api/v1/areas/{code}``), so nothing that a URL would split, escape or normalise
#: (``/``, ``?``, ``#``, ``%``, whitespace, control characters, ``..``) is allowed. Hong Kong's ``A01`` and the
#: 15- to 18-digit codes of the default layout both fit.
CODE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}")
#: Codes that would collide with fixed routes (``/api/v1/areas/tree``).
RESERVED_CODES = frozenset({"tree"})


def is_addressable(code) -> bool:
    """Whether ``code`` can be an area code (see :data:`CODE_PATTERN`)."""
    return isinstance(code, str) and CODE_PATTERN.fullmatch(code) is not None and code not in RESERVED_CODES


def check_code(code: str) -> str:
    """Return ``code`` if it is an addressable area code (:data:`CODE_PATTERN`), else raise an error.

    Raises :class:`InvalidInputError` for codes a URL could not carry as one path segment, and for ``tree``.

    Examples
    --------
    >>> check_code("A01"), check_code("510104001001001")
    ('A01', '510104001001001')
    >>> check_code("a/b")
    Traceback (most recent call last):
    ...
    core.errors.InvalidInputError: 编码格式错误 code 'a/b' ...
    """
    if not is_addressable(code):
        raise InvalidInputError(
            f"编码格式错误 code {code!r} is not addressable: use 1-32 letters, digits, '-', '_' or '.', "
            "starting with a letter or digit (no '/', '?', '#', '%', spaces or control characters)"
            + ("; 'tree' is reserved" if code in RESERVED_CODES else "")
        )
    return code


@dataclass(frozen=True)
class CodeLayout:
    """Digit widths of each level's segment of the code, from district down to micro-grid."""

    widths: tuple[int, ...] = (6, 3, 3, 3, 3)

    def __post_init__(self):
        if len(self.widths) != len(LEVELS) or any(w <= 0 for w in self.widths):
            raise InvalidInputError(f"code layout needs {len(LEVELS)} positive widths, got {self.widths}")

    def length(self, level: str) -> int:
        """Total number of digits of a code at ``level``."""
        return sum(self.widths[: LEVELS.index(check_level(level)) + 1])

    def child_code(self, parent_code: str, level: str, sequence: int) -> str:
        """Code of the ``sequence``-th (1-based) child at ``level`` under ``parent_code``."""
        width = self.widths[LEVELS.index(check_level(level))]
        if not 1 <= sequence < 10**width:
            raise InvalidInputError(f"sequence {sequence} does not fit in {width} digits at level {level}")
        return f"{parent_code}{sequence:0{width}d}"

    def follows(self, code, level: str) -> bool:
        """Whether ``code`` is a code of this layout at ``level`` (only ASCII digits, of the level's length)."""
        return isinstance(code, str) and code.isascii() and code.isdigit() and len(code) == self.length(level)

    def child_problem(self, code: str, level: str, parent_code: str | None) -> str | None:
        """Why ``code`` cannot be the code of an area at ``level`` under ``parent_code``, or ``None`` if it can.

        Under a parent whose code follows the layout (at the level above), a code must extend it: the parent's
        code followed by this level's digits. Under a parent outside the layout (Hong Kong's ``A``) or no parent,
        any addressable code is kept as given.

        Examples
        --------
        >>> DEFAULT_LAYOUT.child_problem("510104001001002", "grid", "510104001001") is None
        True
        >>> DEFAULT_LAYOUT.child_problem("A01", "street", "A") is None
        True
        >>> problem = DEFAULT_LAYOUT.child_problem("510104001002777", "grid", "510104001001")
        >>> "code '510104001002777' must extend its parent's code '510104001001'" in problem
        True
        """
        above = parent_level(check_level(level))
        if not parent_code or above is None or not self.follows(parent_code, above):
            return None
        if self.follows(code, level) and code.startswith(parent_code):
            return None
        width = self.widths[LEVELS.index(level)]
        return (
            f"编码 {code} 须以上级编码 {parent_code} 开头并加 {width} 位数字 code {code!r} must extend its parent's "
            f"code {parent_code!r} ({self.length(level)} digits at level {level}: {parent_code} followed by "
            f"{width} digits)"
        )

    def check_child(self, code: str, level: str, parent_code: str | None) -> None:
        """Raise :class:`InvalidInputError` when :meth:`child_problem` finds one."""
        problem = self.child_problem(code, level, parent_code)
        if problem:
            raise InvalidInputError(problem)

    def check(self, code: str, level: str, parent_code: str | None = None) -> None:
        """Raise :class:`InvalidInputError` unless ``code`` is well formed for ``level`` (and ``parent_code``)."""
        if not code.isdigit() or len(code) != self.length(level):
            raise InvalidInputError(f"编码格式错误 code {code!r} must be {self.length(level)} digits at level {level}")
        if parent_code and not code.startswith(parent_code):
            raise InvalidInputError(f"编码 {code} does not start with its parent's code {parent_code}")


DEFAULT_LAYOUT = CodeLayout()


def order_west_east_north_south(geoms, row_height: float | None = None) -> np.ndarray:
    """Order areas for numbering: north to south in rows, west to east within a row.

    Parameters
    ----------
    geoms : array_like of shapely geometries
    row_height : float, optional
        Height of a row in the geometries' units; defaults to the median height of the areas.

    Returns
    -------
    numpy.ndarray
        Indices into ``geoms`` in numbering order.
    """
    geoms = np.asarray(geoms, dtype=object)
    if len(geoms) == 0:
        return np.empty(0, dtype="int64")
    pts = shapely.point_on_surface(geoms)
    x, y = shapely.get_x(pts), shapely.get_y(pts)
    if row_height is None:
        b = shapely.bounds(geoms)
        row_height = float(np.median(b[:, 3] - b[:, 1])) or 1.0
    row = np.floor((y.max() - y) / row_height)
    return np.lexsort((x, row))
