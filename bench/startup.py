"""How long a web worker takes from its start to its first answer: ``python server.py serve`` on the demo street.

    python bench/startup.py [--runs 5] [--db sqlite:///path/weige.db] [--path /login]

Without ``--db`` the demo street is built once in a temporary folder (not timed). Each run starts
``server.py --db … serve`` on a free port and asks ``GET <path>`` every 20 ms until it answers 200; the time
from ``Popen`` to that answer is printed per run, then the median and the fastest. The worker is stopped after
each run.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

__all__ = ["time_to_first_response", "main"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def time_to_first_response(db_url: str, path: str = "/login", timeout: float = 120.0) -> float:
    """Seconds from starting ``server.py serve`` on ``db_url`` to its first 200 answer to ``GET path``."""
    port = _free_port()
    started = time.perf_counter()
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "server.py"), "--db", db_url, "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        while time.perf_counter() - started < timeout:
            if server.poll() is not None:
                raise SystemExit(f"the server stopped: {server.stderr.read().decode(errors='replace')[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
                    if answer.status == 200:
                        return time.perf_counter() - started
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.02)
        raise SystemExit(f"no answer within {timeout:.0f} s")
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def main(argv=None) -> None:
    """Time ``--runs`` starts of a worker and print each, the median and the fastest."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--db", default=None, help="a database with data (default: the demo street, built once)")
    p.add_argument("--path", default="/login", help="the page asked for (default /login)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="weige-startup-") as folder:
        db = args.db
        if db is None:
            db = f"sqlite:///{Path(folder) / 'weige.db'}"
            subprocess.run([sys.executable, str(ROOT / "server.py"), "--db", db, "demo"], check=True,
                           stdout=subprocess.DEVNULL)  # fmt: skip
        times = []
        for run in range(args.runs):
            times.append(time_to_first_response(db, args.path))
            print(f"run {run + 1}: first response after {times[-1]:.2f} s", flush=True)
    print(f"median {statistics.median(times):.2f} s, fastest {min(times):.2f} s over {len(times)} starts")


if __name__ == "__main__":
    main()
