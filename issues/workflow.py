"""The closed loop: states, the actions that move an issue between them, and who may take each action.

上报 reported → 受理 accepted → 立案 filed → 派遣 dispatched → 处置 in_progress → 核查 checked → 结案 closed,
plus 作废 void and 挂账 parked. A failed on-site check sends the issue back to handling; a closed issue can be
reopened with a reason; escalation moves it up the ladder 微网格 → 网格 → 社区 → 街道 without changing state.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = [
    "STATES",
    "STATE_NAMES_ZH",
    "ACTIVE_STATES",
    "OPEN311_STATUS",
    "LADDER",
    "Action",
    "ACTIONS",
    "action_for",
    "permission_for",
    "next_level",
    "allowed_actions",
]

STATES = ("reported", "accepted", "filed", "dispatched", "in_progress", "checked", "closed", "void", "parked")

STATE_NAMES_ZH = {
    "reported": "上报",
    "accepted": "受理",
    "filed": "立案",
    "dispatched": "派遣",
    "in_progress": "处置",
    "checked": "核查",
    "closed": "结案",
    "void": "作废",
    "parked": "挂账",
}

#: States whose stage runs against a time limit (parked, closed and void stop the clock).
ACTIVE_STATES = ("reported", "accepted", "filed", "dispatched", "in_progress", "checked")

#: Open311 GeoReport v2 knows only open and closed.
OPEN311_STATUS = {state: ("closed" if state in ("closed", "void") else "open") for state in STATES}

#: The escalation ladder, from the bottom; districts do not handle issues.
LADDER = ("micro_grid", "grid", "community", "street")


@dataclass(frozen=True)
class Action:
    """One step of the workflow: from which states, to which, with which permission, and what it needs."""

    name: str
    name_zh: str
    sources: tuple[str, ...]
    target: str | None  # None: back to the state the issue was parked from
    permission: str
    needs_note: bool = False


ACTIONS = {
    a.name: a
    for a in (
        Action("accept", "受理", ("reported",), "accepted", "issues:dispatch"),
        Action("file", "立案", ("accepted",), "filed", "issues:dispatch"),
        Action("dispatch", "派遣", ("filed",), "dispatched", "issues:dispatch"),
        Action("start", "开始处置", ("dispatched",), "in_progress", "issues:handle"),
        Action("check", "核查", ("in_progress",), "checked", "issues:handle"),
        Action("close", "结案", ("checked",), "closed", "issues:dispatch"),
        Action("reject", "核查不通过", ("checked",), "in_progress", "issues:dispatch", needs_note=True),
        Action("void", "作废", ("reported", "accepted", "filed"), "void", "issues:dispatch", needs_note=True),
        Action("park", "挂账", ("filed", "dispatched", "in_progress"), "parked", "issues:dispatch", needs_note=True),
        Action("unpark", "取消挂账", ("parked",), None, "issues:dispatch"),
        Action("reopen", "重新打开", ("closed",), "dispatched", "issues:dispatch", needs_note=True),
    )
}


def action_for(name: str) -> Action:
    """The action ``name`` or ``KeyError`` listing the known ones."""
    if name not in ACTIONS:
        raise KeyError(f"未知操作 unknown action {name!r}; expected one of {', '.join(ACTIONS)} or escalate")
    return ACTIONS[name]


#: Permissions of the moves that are not state changes.
_OTHER_PERMISSIONS = {"escalate": "issues:handle", "assign": "issues:dispatch"}


def permission_for(name: str) -> str:
    """The permission the action ``name`` (a step, ``escalate`` or ``assign``) needs."""
    return _OTHER_PERMISSIONS[name] if name in _OTHER_PERMISSIONS else action_for(name).permission


def next_level(issue: Mapping) -> tuple[str, str] | None:
    """The next level up the ladder with an area for this issue, and that area's code (``None`` at the top)."""
    for level in LADDER[LADDER.index(issue["level"]) + 1 :]:
        code = issue.get(f"{level}_code")
        if code:
            return level, code
    return None


def allowed_actions(issue: Mapping, user=None) -> list[str]:
    """Every action ``user`` may take on ``issue`` now: the one rule the desk enforces and the pages offer.

    Parameters
    ----------
    issue : mapping
        At least ``state``, ``level`` and the ``*_code`` columns of the ladder.
    user : object with ``can(permission)``, or a callable ``can(permission)``, optional
        ``None`` allows every permission (the command line, the scheduler).

    Returns
    -------
    list of str
        Workflow steps whose source is the issue's state and whose permission the user has, then
        ``escalate`` (an open issue below the top of its ladder) and ``assign`` (an open issue).
    """
    can: Callable[[str], bool] = (lambda _: True) if user is None else getattr(user, "can", user)
    state = issue["state"]
    out = [a.name for a in ACTIONS.values() if state in a.sources and can(a.permission)]
    if state in ACTIVE_STATES and can(_OTHER_PERMISSIONS["escalate"]) and next_level(issue) is not None:
        out.append("escalate")
    if state in ACTIVE_STATES and can(_OTHER_PERMISSIONS["assign"]):
        out.append("assign")
    return out
