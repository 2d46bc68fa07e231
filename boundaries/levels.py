"""The hierarchy of areas and the kinds of grid."""

__all__ = ["LEVELS", "LEVEL_NAMES_ZH", "KINDS", "parent_level", "child_level", "check_level", "check_kind"]

from core.errors import InvalidInputError

#: Levels from the top down; each area lies inside one area of the level above.
LEVELS = ("district", "street", "community", "grid", "micro_grid")
LEVEL_NAMES_ZH = {
    "district": "区县",
    "street": "街道",
    "community": "社区",
    "grid": "网格",
    "micro_grid": "微网格",
}
#: ``general`` is a 一般网格; the others are 专属网格 (dedicated grids) of the named unit.
KINDS = {
    "general": "一般网格",
    "school": "专属网格·学校",
    "hospital": "专属网格·医院",
    "market": "专属网格·市场",
    "industrial_park": "专属网格·园区",
    "construction_site": "专属网格·工地",
}


def check_level(level: str) -> str:
    """Return ``level`` if it is one of :data:`LEVELS`, else raise :class:`InvalidInputError`."""
    if level not in LEVELS:
        raise InvalidInputError(f"未知层级 unknown level {level!r}; expected one of {', '.join(LEVELS)}")
    return level


def check_kind(kind: str) -> str:
    """Return ``kind`` if it is one of :data:`KINDS`, else raise :class:`InvalidInputError`."""
    if kind not in KINDS:
        raise InvalidInputError(f"未知网格类型 unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    return kind


def parent_level(level: str) -> str | None:
    """The level above ``level`` (``None`` for districts)."""
    i = LEVELS.index(check_level(level))
    return LEVELS[i - 1] if i > 0 else None


def child_level(level: str) -> str | None:
    """The level below ``level`` (``None`` for micro-grids)."""
    i = LEVELS.index(check_level(level))
    return LEVELS[i + 1] if i + 1 < len(LEVELS) else None
