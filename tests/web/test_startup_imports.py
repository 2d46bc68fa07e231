"""A web worker starts without importing the libraries only some requests need (mapclassify took 3–9 s).

The app is created in a fresh interpreter, so ``sys.modules`` shows what a start of ``server.py serve`` imports.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: Imported where used: the choropleth's classes (mapclassify), the walking network (networkx), the maximal
#: covering suggestions (spopt).
LAZY = ("mapclassify", "networkx", "spopt")

_SCRIPT = """
import json, sys
from web import create_app
app = create_app({"DATABASE_URL": sys.argv[1], "ESCALATION_INTERVAL_S": 0, "TESTING": True})
client = app.test_client()
status = client.get("/login").status_code
print(json.dumps({"status": status, "loaded": [m for m in sys.argv[2:] if m in sys.modules]}))
"""


@pytest.mark.parametrize("module", LAZY)
def test_a_started_worker_has_not_imported(module, started):
    assert started["status"] == 200
    assert module not in started["loaded"]


@pytest.fixture(scope="module")
def started(tmp_path_factory) -> dict:
    """What a freshly created app (on a new SQLite file) has imported once it answered ``GET /login``."""
    db = f"sqlite:///{tmp_path_factory.mktemp('startup') / 'weige.db'}"
    done = subprocess.run([sys.executable, "-c", _SCRIPT, db, *LAZY], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, check=True)  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_choropleth_classes_still_come_from_mapclassify():
    from issues.area_figures import classify

    classes, index = classify([1.0, 2.0, 2.5, 7.0, 8.0, 9.0, 30.0, None], scheme="natural_breaks", k=3)
    assert [c["upper"] for c in classes] == [2.5, 9.0, 30.0]
    assert index == [0, 0, 0, 1, 1, 1, 2, None]
