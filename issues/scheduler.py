"""Escalation on a schedule inside the service: a daemon thread runs :meth:`IssueDesk.escalate_overdue`.

One periodic, idempotent job needs no job store or cron syntax, so a thread waiting on an event is used rather
than a scheduler library. Every web worker starts the thread; only the holder of the database lease
``escalation`` does the work (:meth:`~boundaries.storage.leases.LeaseStore.acquire_lease`, renewed each run and
valid for three intervals), so a deployment of several workers escalates once per interval, and another worker
takes over within three intervals when the holder stops. (Each move is a conditional update as well, so even two
runs at once would not move an issue twice.)
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid

__all__ = ["EscalationThread"]

log = logging.getLogger("weige.escalation")


class EscalationThread(threading.Thread):
    """Runs ``desk.escalate_overdue()`` every ``interval`` seconds until :meth:`stop`."""

    #: The lease's name in the database.
    LEASE = "escalation"

    def __init__(self, desk, interval: float = 60.0, holder: str | None = None):
        super().__init__(name="weige-escalation", daemon=True)
        self.desk, self.interval = desk, interval
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._stopped = threading.Event()
        self.runs = 0

    def run(self) -> None:
        """Loop until stopped; errors are logged and the next run tries again."""
        while not self._stopped.wait(self.interval):
            self.run_once()

    def run_once(self) -> bool:
        """Escalate once if this process holds (or now takes) the lease; whether it ran."""
        try:
            if not self.desk.registry.store.acquire_lease(self.LEASE, self.holder, 3 * self.interval):
                return False
            moved = self.desk.escalate_overdue()
            self.runs += 1
            if moved:
                log.info("escalated %d overdue issue(s)", moved)
            return True
        except Exception:  # noqa: BLE001 - a failed run must not end the schedule
            log.exception("escalation run failed")
            return False

    def stop(self) -> None:
        """End the loop."""
        self._stopped.set()
