"""Escalation up the ladder 微网格 → 网格 → 社区 → 街道, by a handler or on a schedule, and stage deadlines.

An escalation moves the issue one level up and starts the new level's clock (``due_at``), but it does not move
the *stage's* deadline: the escalation event records the stage's outcome so far (its deadline, and whether it
was still on time), and the step that finally ends the stage is scored against that same deadline
(:func:`stage_deadline`). So a stage due on 23 Nov and ended three days later is late however often it climbed.

Imported history is not escalated retroactively: an imported open issue carries an ``import`` event at the
moment it entered the system, and the schedule escalates a stage only when its deadline passed after that.
Escalation by a handler stays possible.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

from boundaries.scope import ScopedRegistry
from core.audit import Actor, record
from core.errors import ConflictError, InvalidInputError, OutOfScopeError
from issues import storage as st
from issues.queries import get_issue, issue_row
from issues.text import text_problem
from issues.workflow import next_level

if TYPE_CHECKING:
    import sqlalchemy as sa

__all__ = ["Escalation", "SCHEDULER", "stage_deadline", "IMPORT_ACTION"]

#: The actor of scheduled escalations.
SCHEDULER = Actor(None, "scheduler", "escalation")
#: The history action marking when an imported issue entered the system.
IMPORT_ACTION = "import"
#: History actions that do not start a new stage.
_WITHIN_STAGE = ("escalate", "assign")


def _aware(value: datetime | None) -> datetime | None:
    return None if value is None else (value if value.tzinfo else value.replace(tzinfo=timezone.utc))


def stage_deadline(conn: sa.Connection, issue: dict) -> datetime | None:
    """The deadline the issue's current stage started with (aware UTC), whatever escalations did since.

    It is the ``stage_due_at`` recorded by the first escalation of the stage, else the issue's ``due_at``.
    """
    first = st.first_escalation_due(conn, issue["id"], issue["state"], _WITHIN_STAGE)
    return _aware(first if first else issue["due_at"])


class Escalation:
    """The escalation part of :class:`~issues.desk.IssueDesk` (uses its registry, clock, ``due`` and routing)."""

    def escalate(self, view: ScopedRegistry, issue_id: int, reason: str, can=None) -> dict:
        """A handler sends the issue one level up the ladder, with the reason recorded."""
        if can is not None and not can("issues:handle"):
            raise OutOfScopeError("您的角色不能上报上级 your role may not escalate issues")
        if not str(reason).strip():
            raise InvalidInputError("上报上级需要填写原因 escalation needs a note giving the reason")
        problem = text_problem(str(reason))
        if problem:
            raise InvalidInputError(f"note 文本无效 note {problem}")
        issue = issue_row(view, issue_id)
        self.check_allowed(issue, "escalate", can)
        if not self._escalate(issue, view.actor, reason, self.clock()):
            raise ConflictError("事件刚被他人处理 the issue changed meanwhile; reload it and try again")
        return get_issue(view, issue["id"])

    def _escalate(self, issue: dict, actor: Actor, reason: str, now: datetime, overdue_only: bool = False) -> bool:
        step = next_level(issue)
        if step is None:
            return False
        level, code = step
        values = {
            "level": level,
            "handler_code": code,
            **self._assignee(code),
            "escalations": issue["escalations"] + 1,
            "updated_at": now,
            "due_at": self.due(issue["category"], issue["state"], now),
        }
        expected = {"level": issue["level"], "state": issue["state"]}
        with self.registry.store.transaction() as conn:
            if not st.update_issue(conn, issue["id"], expected, values, due_before=now if overdue_only else None):
                return False
            due = stage_deadline(conn, issue)
            stage = (issue["state"], due, None if due is None else now <= due)
            self._event(
                conn, issue["id"], actor, "escalate", (issue["state"],) * 2, (issue["level"], level), reason, now, stage
            )
            record(
                conn,
                actor,
                "escalate",
                "issue",
                issue["id"],
                {"level": issue["level"], "handler_code": issue["handler_code"]},
                {"level": level, "handler_code": code, "reason": reason},
            )
        return True

    def escalate_overdue(self, now: datetime | None = None, limit: int = 1000) -> int:
        """Move every overdue open issue one level up (once per level; running it again changes nothing).

        Stages whose deadline passed before the issue was imported are history and stay where they are.
        """
        now = now or self.clock()
        with self.registry.store.engine.connect() as conn:
            rows = st.overdue_issues(conn, now, limit, IMPORT_ACTION)
        moved = 0
        for issue in rows:
            due = _aware(issue["due_at"])
            reason = f"逾期自动上报 overdue: stage {issue['state']} was due {due.isoformat()}"
            moved += self._escalate(issue, SCHEDULER, reason, now, overdue_only=True)
        return moved
