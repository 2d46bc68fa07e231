"""Issue categories and their time limits per stage, in working hours.

The defaults follow DOMAIN.md (one city's rules: exposed rubbish 4 working hours, road cleaning 2, green-space
upkeep 5 working days); a deployment replaces or extends them with a JSON file (config ``ISSUE_CATEGORIES``)::

    {"exposed_rubbish": {"name_zh": "暴露垃圾", "name_en": "Exposed rubbish", "group": "环境卫生",
                         "limits": {"in_progress": 4}}}

Stage limits not given fall back to :data:`DEFAULT_STAGE_LIMITS`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from boundaries.errors import InvalidInputError

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


def load_catalog(path: str | Path | None) -> Catalog:
    """The default categories, replaced or extended by those in a JSON file."""
    categories = dict(DEFAULT_CATEGORIES)
    if path:
        try:
            data = json.loads(Path(path).read_text("utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise InvalidInputError(f"事件类别文件错误 cannot read categories {path}: {exc}") from exc
        for code, spec in data.items():
            limits = {k: float(v) for k, v in spec.get("limits", {}).items() if k in DEFAULT_STAGE_LIMITS}
            categories[code] = Category(
                code, spec.get("name_zh", code), spec.get("name_en", code), spec.get("group", ""), limits
            )
    return Catalog(categories)
