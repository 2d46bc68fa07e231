"""Behind a reverse proxy, `python server.py serve` (waitress) lets the per-address limits see each client."""

from __future__ import annotations

import http.client

from bench.http_load import served
from tests.conftest import copy_demo


def _remaining(port: int, forwarded: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", "/api/v1/areas?level=street", headers={"X-Forwarded-For": forwarded})
        response = conn.getresponse()
        response.read()
        return int(response.getheader("X-RateLimit-Remaining"))
    finally:
        conn.close()


def test_anonymous_quota_is_per_client_address_through_waitress(demo_db, tmp_path):
    """Waitress drops X-Forwarded-For unless told otherwise: every client behind nginx then shared one quota."""
    url = copy_demo(demo_db, tmp_path)
    settings = {"API_RATE_LIMIT": "50 per minute", "RATELIMIT_PROXY_HOPS": 1}
    with served(url, tmp_path, settings) as port:
        first = [_remaining(port, "10.1.1.1") for _ in range(3)]
        other = _remaining(port, "10.1.1.2")
        forged = _remaining(port, "6.6.6.6, 10.1.1.1")  # what the client wrote is left of what the proxy added
    assert first == [49, 48, 47]
    assert other == 49  # a second client has its own quota
    assert forged == 46  # still counted as 10.1.1.1
