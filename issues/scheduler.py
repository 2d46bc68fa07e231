"""Escalation on a schedule inside the service: a daemon thread runs :meth:`IssueDesk.escalate_overdue`.

One periodic, idempotent job needs no job store or cron syntax, so a thread waiting on an event is used rather
than a scheduler library; the job is safe to run from several processes at once (each move is a conditional
update), so a deployment with several workers needs no coordination either.
"""

from __future__ import annotations

import logging
import threading

__all__ = ["EscalationThread"]

log = logging.getLogger("weige.escalation")


class EscalationThread(threading.Thread):
    """Runs ``desk.escalate_overdue()`` every ``interval`` seconds until :meth:`stop`."""

    def __init__(self, desk, interval: float = 60.0):
        super().__init__(name="weige-escalation", daemon=True)
        self.desk, self.interval = desk, interval
        self._stopped = threading.Event()
        self.runs = 0

    def run(self) -> None:
        """Loop until stopped; errors are logged and the next run tries again."""
        while not self._stopped.wait(self.interval):
            try:
                moved = self.desk.escalate_overdue()
                self.runs += 1
                if moved:
                    log.info("escalated %d overdue issue(s)", moved)
            except Exception:  # noqa: BLE001 - a failed run must not end the schedule
                log.exception("escalation run failed")

    def stop(self) -> None:
        """End the loop."""
        self._stopped.set()
