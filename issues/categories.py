"""Issue categories and their time limits per stage, in working hours.

The defaults follow DOMAIN.md (one city's rules: exposed rubbish 4 working hours, road cleaning 2, green-space
upkeep 5 working days); a deployment replaces or extends them with a JSON file (config ``ISSUE_CATEGORIES``)::

    {"exposed_rubbish": {"name_zh": "暴露垃圾", "name_en": "Exposed rubbish", "group": "环境卫生",
                         "limits": {"in_progress": 4}}}

Stage limits not given fall back to :data:`DEFAULT_STAGE_LIMITS`.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import InvalidInputError

__all__ = ["Category", "Catalog", "DEFAULT_STAGE_LIMITS", "DEFAULT_CATEGORIES", "load_catalog"]

#: Working hours allowed in each stage (the state an issue is in) unless its category says otherwise.
DEFAULT_STAGE_LIMITS = {
    "reported": 1.0,  # to accept
    "accepted": 1.0,  # to file
    "filed": 1.0,  # to dispatch
    "dispatched": 2.0,  # to start handling
    "in_progress": 16.0,  # to handle (category-specific)
    "checked": 4.0,  # to close after the on-site check
}


@dataclass(frozen=True)
class Category:
    """One kind of issue: its Open311 service code is ``code``."""

    code: str
    name_zh: str
    name_en: str
    group: str
    limits: dict = field(default_factory=dict)

    def limit(self, stage: str) -> float | None:
        """Working hours allowed in ``stage`` (``None``: the stage has no clock)."""
        return self.limits.get(stage, DEFAULT_STAGE_LIMITS.get(stage))

    def as_dict(self) -> dict:
        """JSON-ready description, with every stage's limit."""
        return {
            "code": self.code,
            "name_zh": self.name_zh,
            "name_en": self.name_en,
            "group": self.group,
            "limits_working_hours": {s: self.limit(s) for s in DEFAULT_STAGE_LIMITS},
        }


_DEFAULTS = [
    ("dispute", "矛盾纠纷", "Dispute", "矛盾纠纷", 24),
    ("gas_hazard", "燃气安全隐患", "Gas safety hazard", "安全隐患", 2),
    ("fire_hazard", "消防安全隐患", "Fire safety hazard", "安全隐患", 4),
    ("exposed_rubbish", "暴露垃圾", "Exposed rubbish", "环境卫生", 4),
    ("road_cleaning", "道路保洁", "Road cleaning", "环境卫生", 2),
    ("green_space", "绿地养护", "Green-space upkeep", "环境卫生", 40),
    ("street_order", "市容秩序", "Street order", "市容", 8),
    ("damaged_facility", "设施损坏", "Damaged facility", "设施损坏", 16),
    ("resident_request", "民生诉求", "Resident's request", "民生诉求", 24),
]

#: The built-in categories (handling limits in working hours; 8 working hours = one working day).
DEFAULT_CATEGORIES = {
    code: Category(code, zh, en, group, {"in_progress": float(hours)}) for code, zh, en, group, hours in _DEFAULTS
}


class Catalog:
    """The categories in use, looked up by code with a clear error for unknown ones."""

    def __init__(self, categories: dict[str, Category] | None = None):
        self.categories = dict(categories or DEFAULT_CATEGORIES)

    def __iter__(self):
        return iter(self.categories.values())

    def __contains__(self, code) -> bool:
        return code in self.categories

    def get(self, code: str) -> Category:
        """The category ``code``, or :class:`InvalidInputError` listing the known ones."""
        try:
            return self.categories[code]
        except (KeyError, TypeError):
            known = ", ".join(self.categories)
            raise InvalidInputError(f"未知事件类别 unknown category {code!r}; expected one of {known}") from None


def _limits(code: str, limits) -> dict[str, float]:
    """A category's stage limits: known stages, positive finite numbers of working hours."""
    if not isinstance(limits, dict):
        raise InvalidInputError(
            f"类别 {code} 的 limits 应为对象 category {code!r}: limits must be an object of stage → hours"
        )
    out = {}
    for stage, hours in limits.items():
        if stage not in DEFAULT_STAGE_LIMITS:
            raise InvalidInputError(
                f"类别 {code} 的环节未知 category {code!r}: unknown stage {stage!r} in limits; "
                f"stages: {', '.join(DEFAULT_STAGE_LIMITS)}"
            )
        if isinstance(hours, bool) or not isinstance(hours, int | float) or not math.isfinite(hours) or hours <= 0:
            raise InvalidInputError(
                f"类别 {code} 的时限无效 category {code!r}: the limit of {stage} must be a positive number of "
                f"working hours, not {hours!r}"
            )
        out[stage] = float(hours)
    return out


def _category(code: str, spec) -> Category:
    if not isinstance(spec, dict):
        raise InvalidInputError(
            f"类别 {code} 应为对象 category {code!r} must be an object "
            '({"name_zh", "name_en", "group", "limits"}), not ' + repr(spec)[:40]
        )
    unknown = sorted(set(spec) - {"name_zh", "name_en", "group", "limits"})
    if unknown:
        raise InvalidInputError(
            f"类别 {code} 含未知键 category {code!r}: unknown key(s) {', '.join(unknown)}; "
            "known: name_zh, name_en, group, limits"
        )
    names = {key: spec.get(key, code if key != "group" else "") for key in ("name_zh", "name_en", "group")}
    for key, value in names.items():
        if not isinstance(value, str):
            raise InvalidInputError(f"类别 {code} 的 {key} 应为文本 category {code!r}: {key} must be text")
    return Category(code, names["name_zh"], names["name_en"], names["group"], _limits(code, spec.get("limits", {})))


def load_catalog(path: str | Path | None) -> Catalog:
    """The default categories, replaced or extended by those in a JSON file.

    Parameters
    ----------
    path : str or Path, optional
        A JSON object of category code → ``{"name_zh", "name_en", "group", "limits"}``.

    Returns
    -------
    Catalog

    Raises
    ------
    InvalidInputError
        When the file cannot be read, or a category is not an object, has an unknown key or stage, or a limit
        that is not a positive number (the message names the category).
    """
    categories = dict(DEFAULT_CATEGORIES)
    if path:
        try:
            data = json.loads(Path(path).read_text("utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidInputError(f"事件类别文件错误 cannot read categories {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise InvalidInputError(f"事件类别文件应为 JSON 对象 categories {path} must hold one JSON object")
        for code, spec in data.items():
            if not re.fullmatch(r"[A-Za-z0-9_-]{1,32}", code):  # it appears in URLs (Open311 service codes)
                raise InvalidInputError(
                    f"类别编码无效 category code {code!r} must be 1 to 32 ASCII letters, digits, '_' or '-'"
                )
            categories[code] = _category(code, spec)
    return Catalog(categories)
