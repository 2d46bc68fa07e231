"""``GET /healthz``: whether this worker serves and its database answers, for a load balancer or systemd.

Public, outside ``/api/`` (so never rate-limited) and sessionless: a probe every few seconds must neither count
against anyone's quota nor create sessions. The database is asked :meth:`boundaries.storage.Store.snapshot` (one
trivial query: the current generation and the revisions) on a thread of its own with a deadline of
:data:`TIMEOUT_S`, so a database that hangs (a lost network, a lock) answers 503 as quickly as one that refuses.
While a check that timed out is still waiting, later checks answer 503 at once instead of piling up more threads
and connections. What went wrong is logged on the server; the client sees no exception text (it can hold the
connection string).
"""

from __future__ import annotations

import threading

from flask import Blueprint, current_app, jsonify

from web.access import anonymous

__all__ = ["health", "TIMEOUT_S", "database_status"]

#: Seconds the database has to answer the check.
TIMEOUT_S = 2.0

health = Blueprint("health", __name__)


class _Probe:
    """One check of the database on a daemon thread; ``done`` is set when it answered or failed."""

    def __init__(self, store):
        self.done = threading.Event()
        self.snapshot: dict | None = None
        self.error: BaseException | None = None
        threading.Thread(target=self._run, args=(store,), name="healthz", daemon=True).start()

    def _run(self, store) -> None:
        try:
            self.snapshot = store.snapshot()
        except Exception as exc:  # noqa: BLE001 - any failure means "unavailable"; logged by the caller
            self.error = exc
        finally:
            self.done.set()


_lock = threading.Lock()
_pending: dict[int, _Probe] = {}  # id(store) → a check that timed out and has not answered yet


def database_status(store, timeout_s: float = TIMEOUT_S) -> tuple[dict | None, str]:
    """The store's snapshot and ``"ok"``, or ``None`` and why not (``"timeout"`` or ``"error"``).

    Parameters
    ----------
    store : boundaries.storage.Store
    timeout_s : float
        Seconds to wait for the answer.
    """
    with _lock:
        waiting = _pending.get(id(store))
        if waiting is not None and not waiting.done.is_set():
            return None, "timeout"  # the previous check still hangs: do not start another
        _pending.pop(id(store), None)
        probe = _Probe(store)
    if not probe.done.wait(timeout_s):
        with _lock:
            _pending[id(store)] = probe
        current_app.logger.warning("healthz: the database did not answer within %.1f s", timeout_s)
        return None, "timeout"
    if probe.error is not None:
        current_app.logger.warning("healthz: the database check failed: %r", probe.error)
        return None, "error"
    return probe.snapshot, "ok"


@health.get("/healthz")
@anonymous
def healthz():
    """Liveness and readiness: 200 when the database answers, else 503 (no details of the failure)."""
    snapshot, state = database_status(current_app.extensions["weige.registry"].store, TIMEOUT_S)
    if snapshot is None:
        body = {
            "status": "unavailable",
            "database": state,
            "error": {"code": "database_unavailable", "message": "数据库无应答 the database does not answer"},
        }
        response = jsonify(body)
        response.status_code = 503
    else:
        revision = {"areas": snapshot["areas"], "assets": snapshot["assets"]}
        response = jsonify({"status": "ok", "database": "ok", "generation": snapshot["current"], "revision": revision})
    response.headers["Cache-Control"] = "no-store"
    return response
