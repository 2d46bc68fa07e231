"""Shared by the HTTP benchmarks: the service in its own process (as ``serve`` runs it) and client threads.

Every client-thread error is counted and printed: a benchmark whose clients failed reports nothing.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def served(db_url: str, folder: Path, settings: dict | None = None):
    """``python server.py serve`` on a free port over ``db_url`` (waitress, 8 threads); yields the port."""
    with served_process(db_url, folder, settings) as (port, _pid):
        yield port


@contextlib.contextmanager
def served_process(db_url: str, folder: Path, settings: dict | None = None):
    """As :func:`served`, yielding ``(port, pid)``: the pid names the worker (a lease holder is ``host:pid:…``)."""
    with served_workers(db_url, folder, 1, settings) as [worker]:
        yield worker


def _start(db_url: str, folder: Path, settings: dict | None):
    port = free_port()
    config = folder / f"bench-settings-{port}.json"
    limits = "100000000 per minute"
    config.write_text(
        json.dumps(
            {"INTAKE_RATE_LIMIT": limits, "API_RATE_LIMIT": limits, "ESCALATION_INTERVAL_S": 0, **(settings or {})}
        )
    )
    log = (folder / f"server-{port}.log").open("w")
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "server.py"), "--db", db_url, "--config", str(config), "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return port, server, log


def _wait_until_serving(port: int, server: subprocess.Popen, log) -> None:
    for _ in range(1200):
        if server.poll() is not None:
            raise SystemExit(f"the server stopped: see {log.name}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)


@contextlib.contextmanager
def served_workers(db_url: str, folder: Path, n: int = 2, settings: dict | None = None):
    """``n`` web workers (``server.py serve`` processes, one port each) over one database, as behind a reverse
    proxy; yields their ``(port, pid)``. They start at the same time: open the store once before (it migrates)."""
    started = []
    try:
        for _ in range(n):
            started.append(_start(db_url, folder, settings))
        for port, server, log in started:
            _wait_until_serving(port, server, log)
        yield [(port, server.pid) for port, server, _log in started]
    finally:
        for _port, server, _log in started:
            server.terminate()
        for _port, server, log in started:
            server.wait(20)
            log.close()


def request(port: int, token: str, method: str, path: str, body=None) -> tuple[int, dict]:
    """One request on a new connection; the status and the JSON answer."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    conn.request(method, path, body=body, headers={"Authorization": f"Bearer {token}"})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, json.loads(data) if data else {}


def hammer(port: int, token: str, n: int, concurrency: int, body_for):
    """Send ``n`` requests from ``concurrency`` threads (one keep-alive connection each).

    Returns latencies (s), the statuses of failed requests, client-thread errors, and the wall time.
    """
    return hammer_workers([port], token, n, concurrency, body_for)


def hammer_workers(ports: list[int], token: str, n: int, concurrency: int, body_for):
    """As :func:`hammer`, request ``i`` going to worker ``ports[i % len(ports)]`` (a round-robin proxy): each client
    thread keeps one keep-alive connection per worker. Returns latencies, failed statuses, client errors, wall time.
    """
    latencies, failures, lock = [], [], threading.Lock()
    counter = iter(range(n))

    def worker():
        conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=60) for port in ports]
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        try:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    break
                method, path, body = body_for(i)
                conn = conns[i % len(conns)]
                t = time.perf_counter()
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                elapsed = time.perf_counter() - t
                with lock:
                    latencies.append(elapsed)
                    if response.status >= 300:
                        failures.append(response.status)
        finally:
            for conn in conns:
                conn.close()

    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        futures = [pool.submit(worker) for _ in range(concurrency)]
    wall = time.perf_counter() - start
    errors = [repr(f.exception()) for f in futures if f.exception() is not None]
    return latencies, failures, errors, wall


def percentile_ms(values, q) -> float:
    return float(np.percentile(np.asarray(values) * 1000, q)) if len(values) else float("nan")


def print_rows(title: str, results) -> dict:
    """Print rows of ``(name, clients, latencies, failures, errors, wall)``; returns req/s by (name, clients)."""
    print(f"\n{title}")
    print("| request | clients | req/s | p50 ms | p99 ms | failed | client errors |")
    print("|---|---|---|---|---|---|---|")
    rates = {}
    for name, clients, latencies, failures, errors, wall in results:
        rates[(name, clients)] = len(latencies) / wall
        print(
            f"| {name} | {clients} | {len(latencies) / wall:,.0f} | {percentile_ms(latencies, 50):.2f} "
            f"| {percentile_ms(latencies, 99):.2f} | {len(failures)} | {len(errors)} |"
        )
        for error in errors[:3]:
            print(f"  client error: {error}")
    if any(r[3] or r[4] for r in results):
        raise SystemExit("requests failed or clients raised: the figures above are not valid")
    return rates
