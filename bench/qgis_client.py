"""QGIS itself as an OGC API – Features client: it lists Weige's collections and pages through 100,000 buildings.

    apt-get install -y --no-install-recommends python3-qgis qgis-providers   # once: QGIS's Python (Debian 12: 3.22)
    python bench/qgis_client.py [--features 100000] [--page-size 1000]

1. A private demo database gets ``--features`` more buildings and four issues, made by the helpers of
   ``tests/web/test_ogc_api.py`` (the GDAL client's test data), and ``python server.py`` serves it (waitress,
   its own process, as ``bench/http_load.served`` starts it).
2. This same file then runs under Debian's ``/usr/bin/python3`` (``QT_QPA_PLATFORM=offscreen``, a throwaway HOME
   and QGIS profile): ``qgis.core`` lists the collections the way the QGIS browser does (a "WFS / OGC API –
   Features" connection's layer items), opens ``QgsVectorLayer("url='…/ogc' typename='buildings'
   pageSize=N", …, "OAPIF")`` as the administrator and reads every feature (QGIS pages itself, following the
   ``next`` links), then opens the scoped ``issues`` collection as the staff user.
3. Back here every feature QGIS read is matched to the served one by its place and name (QGIS 3.22 numbers features
   itself, 1…n, and does not expose the served ``id``), and the run stops unless QGIS read exactly the
   collection: count == numberMatched, every served id once, coordinates in CRS84's order (QGIS says EPSG:4326).

Bearer tokens: QGIS 3.22 has no "API header" authentication method (3.24 added it) and no ``http-header:`` URI key,
and its Basic method sends ``Authorization: Basic …``, which Weige refuses (401, even on the public landing page;
the run shows it). So the client adds ``Authorization: Bearer <token>`` with
``QgsNetworkAccessManager.setRequestPreprocessor``, which is what a script or plugin in QGIS 3.22 can do.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: QGIS's Python: Debian's python3-qgis installs ``qgis`` for the system interpreter only.
QGIS_PYTHON = "/usr/bin/python3"
#: The property that names a feature, per collection: with its place it identifies the served feature.
LABELS = {
    "areas-street": "code",
    "areas-community": "code",
    "areas-grid": "code",
    "areas-micro_grid": "code",
    "buildings": "name",
    "service-points": "name",
    "issues": "description",
}
#: How QGIS 3.22 names the storage CRS it reads (it reads CRS84 and calls it EPSG:4326, longitude first).
QGIS_CRS = {"http://www.opengis.net/def/crs/OGC/1.3/CRS84": "EPSG:4326"}


# -- the QGIS side (runs under /usr/bin/python3: the standard library and qgis only) --------------------------
def _client(spec_path: str, out_path: str) -> None:
    """Read what ``spec_path`` asks for with qgis.core; write the findings as JSON to ``out_path``."""
    from qgis.core import (
        Qgis,
        QgsApplication,
        QgsAuthMethodConfig,
        QgsNetworkAccessManager,
        QgsSettings,
        QgsVectorLayer,
    )
    from qgis.PyQt.QtCore import QVariant
    from qgis.PyQt.QtNetwork import QNetworkRequest

    spec = json.loads(Path(spec_path).read_text())
    QgsApplication.setPrefixPath("/usr", True)
    app = QgsApplication([], False, spec["profile"])
    app.initQgis()
    bearer, requests = {"token": None}, []

    def add_bearer(request):
        requests.append(request.url().toString())
        if bearer["token"]:
            request.setRawHeader(b"Authorization", f"Bearer {bearer['token']}".encode())

    QgsNetworkAccessManager.setRequestPreprocessor(add_bearer)
    base, out = spec["base"], {"qgis": Qgis.QGIS_VERSION}

    # the collections, as the browser's "WFS / OGC API - Features" connection lists them
    bearer["token"] = spec["tokens"]["admin"]
    settings = QgsSettings()
    settings.setValue("qgis/connections-wfs/weige/url", base)
    settings.setValue("qgis/connections-wfs/weige/version", "OGC_API_FEATURES")
    t = time.perf_counter()
    root = QgsApplication.dataItemProviderRegistry().provider("WFS").createDataItem("", None)
    connection = next(item for item in root.createChildren() if item.name() == "weige")
    out["collections"] = [{"title": item.name(), "uri": item.uri()} for item in connection.createChildren()]
    out["list_s"] = time.perf_counter() - t

    out["layers"] = []
    for wanted in spec["layers"]:
        bearer["token"] = spec["tokens"][wanted["user"]]
        first = len(requests)
        uri = f"url='{base}' typename='{wanted['typename']}'"
        if wanted.get("page_size"):
            uri += f" pageSize={wanted['page_size']}"
        t = time.perf_counter()
        layer = QgsVectorLayer(uri, wanted["typename"], "OAPIF")
        found = {**wanted, "uri": uri, "valid": layer.isValid(), "open_s": time.perf_counter() - t}
        if layer.isValid():
            t = time.perf_counter()
            keys, fids = [], set()
            for feature in layer.getFeatures():
                fids.add(feature.id())
                centre = feature.geometry().boundingBox().center()
                value = feature[LABELS[wanted["typename"]]]
                null = value is None or (isinstance(value, QVariant) and value.isNull())
                keys.append([centre.x(), centre.y(), None if null else str(value)])
            extent = layer.extent()
            found |= {
                "read_s": time.perf_counter() - t,
                "feature_count": layer.featureCount(),
                "keys": keys,
                "distinct_fids": len(fids),
                "crs": layer.crs().authid(),
                "extent": [extent.xMinimum(), extent.yMinimum(), extent.xMaximum(), extent.yMaximum()],
            }
        found["requests"] = requests[first:]
        out["layers"].append(found)

    # QGIS 3.22's own authentication for a token: the Basic method (user "token", the token as password)
    bearer["token"] = None
    manager = QgsApplication.authManager()
    manager.setMasterPassword("weige-bench", True)
    config = QgsAuthMethodConfig("Basic")
    config.setName("weige")
    config.setConfig("username", "token")
    config.setConfig("password", spec["tokens"]["staff"])
    manager.storeAuthenticationConfig(config)
    answers = []
    QgsNetworkAccessManager.instance().finished.connect(
        lambda reply: answers.append(reply.attribute(QNetworkRequest.HttpStatusCodeAttribute))
    )
    layer = QgsVectorLayer(f"url='{base}' typename='issues' authcfg='{config.id()}'", "issues", "OAPIF")
    app.processEvents()
    out["basic_authcfg"] = {"valid": layer.isValid(), "statuses": answers}
    Path(out_path).write_text(json.dumps(out, ensure_ascii=False))
    app.exitQgis()


# -- the Weige side (the project's virtual environment) ------------------------------------------------------
def _environment(folder: Path) -> dict:
    """The QGIS process's environment: headless, everything it writes under ``folder``, none of the venv."""
    home = folder / "qgis-home"
    (home / "run").mkdir(parents=True, exist_ok=True)
    (home / "run").chmod(0o700)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    return env | {
        "QT_QPA_PLATFORM": "offscreen",
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "XDG_RUNTIME_DIR": str(home / "run"),
        "TMPDIR": str(home),
    }


def qgis_missing(folder: Path | None = None) -> str | None:
    """Why QGIS cannot be the client here (``None`` when ``/usr/bin/python3`` imports ``qgis.core``)."""
    if not Path(QGIS_PYTHON).exists():
        return f"{QGIS_PYTHON} is missing"
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(
            [QGIS_PYTHON, "-c", "import qgis.core"],
            env=_environment(Path(folder or tmp)),
            capture_output=True,
            text=True,
            timeout=120,
        )
    if done.returncode:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return f"{QGIS_PYTHON} cannot import qgis.core ({last}): apt-get install python3-qgis qgis-providers"
    return None


def run_qgis(base: str, tokens: dict, layers: list[dict], folder: Path, timeout: float = 3600) -> dict:
    """Run the QGIS client against ``base`` (``http://host:port/ogc``); its findings (see :func:`_client`).

    ``layers``: ``{"typename", "user", "page_size"}`` each, ``user`` a key of ``tokens``.
    """
    spec, out = folder / "qgis-spec.json", folder / "qgis-out.json"
    profile = folder / "qgis-profile"
    profile.mkdir(exist_ok=True)
    spec.write_text(json.dumps({"base": base, "tokens": tokens, "layers": layers, "profile": str(profile)}))
    done = subprocess.run(
        [QGIS_PYTHON, str(Path(__file__).resolve()), "--client", str(spec), str(out)],
        env=_environment(folder),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode or not out.exists():
        raise RuntimeError(f"the QGIS client failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return json.loads(out.read_text())


def listed_typenames(found: dict) -> list[str]:
    """The collection ids (``typename``) of the layers QGIS's browser listed, in its order."""
    return [re.search(r"typename='([^']*)'", item["uri"]).group(1) for item in found["collections"]]


def _key(x: float, y: float, label) -> tuple:
    return round(x, 7), round(y, 7), None if label is None else str(label)


def served_ids(registry, user_name: str, layer: dict) -> dict:
    """Match the features QGIS read (``layer`` of :func:`run_qgis`) to those Weige serves ``user_name``.

    Returns ``{"stored": ids Weige serves, "ids": the served id of each feature QGIS read (None: no match),
    "bounds": the box of the served features}``; a feature is matched by the centre of its box (to 1e-7°) and
    its :data:`LABELS` property.
    """
    import shapely

    from accounts.users import find_user
    from boundaries.features import COLLECTIONS, features
    from boundaries.scope import ScopedRegistry

    user = find_user(registry, user_name)
    view = ScopedRegistry(registry, user.scope(), user.actor("qgis-bench"))
    collection = COLLECTIONS[layer["typename"]]
    matched = features(view, collection, limit=1).matched
    page = features(view, collection, limit=max(matched, 1))
    label = LABELS[layer["typename"]]
    by_key = defaultdict(list)
    for feature_id, properties, geometry in page.features:
        minx, miny, maxx, maxy = geometry.bounds
        by_key[_key((minx + maxx) / 2, (miny + maxy) / 2, properties[label])].append(feature_id)
    ids = []
    for x, y, name in layer["keys"]:
        candidates = by_key.get(_key(x, y, name))
        ids.append(candidates.pop() if candidates else None)
    bounds = shapely.total_bounds([f[2] for f in page.features]).tolist()
    return {"stored": [f[0] for f in page.features], "ids": ids, "bounds": bounds}


def check(registry, user_name: str, layer: dict) -> dict:
    """Stop unless QGIS read exactly what Weige serves ``user_name``; a summary of the layer otherwise."""
    if not layer["valid"]:
        raise SystemExit(f"QGIS could not open {layer['typename']}: requests {layer['requests'][:6]}")
    match = served_ids(registry, user_name, layer)
    ids, stored = match["ids"], match["stored"]
    summary = {
        "collection": layer["typename"],
        "count": len(ids),
        "distinct ids": len({i for i in ids if i is not None}),
        "unmatched": ids.count(None),
        "crs": layer["crs"],
        "extent": layer["extent"],
        "pages": sum("/items?" in url and not url.endswith("/items?limit=10") for url in layer["requests"]),
        "open s": round(layer["open_s"], 2),
        "read s": round(layer["read_s"], 2),
    }
    problems = []
    if not len(ids) == layer["feature_count"] == len(stored):
        problems.append(f"QGIS read {len(ids)}, says {layer['feature_count']}, Weige serves {len(stored)}")
    if summary["unmatched"] or sorted(i for i in ids if i is not None) != sorted(stored):
        problems.append(f"{summary['unmatched']} features unmatched, {len(ids) - summary['distinct ids']} repeated")
    if layer["crs"] != QGIS_CRS["http://www.opengis.net/def/crs/OGC/1.3/CRS84"]:
        problems.append(f"CRS {layer['crs']}")
    if not all(math.isclose(a, b, abs_tol=1e-9) for a, b in zip(layer["extent"], match["bounds"], strict=True)):
        problems.append(f"extent {layer['extent']}, served features' box {match['bounds']}")
    if problems:
        raise SystemExit(f"{layer['typename']}: " + "; ".join(problems))
    return summary


def _bench_database(features: int, folder: Path):
    """A demo database with ``features`` more buildings and the four issues of the GDAL test: (url, registry)."""
    sys.path.insert(0, str(ROOT))
    from accounts.demo import create_demo_users
    from boundaries.demo import load_demo
    from boundaries.registry import Registry
    from boundaries.storage import open_store
    from tests.web.test_ogc_api import _add_buildings, _add_issues

    url = f"sqlite:///{folder / 'weige.db'}"
    registry = Registry(open_store(url))
    load_demo(registry)
    create_demo_users(registry)
    _add_buildings(registry, features)
    _add_issues(registry)
    return url, registry


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=int, default=100_000, help="buildings added to the demo street")
    parser.add_argument("--page-size", type=int, default=1000, help="QGIS's pageSize (0: QGIS's own choice)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        reason = qgis_missing(folder)
        if reason:
            raise SystemExit(reason)
        t = time.perf_counter()
        url, registry = _bench_database(args.features, folder)
        from accounts.tokens import create_token
        from accounts.users import find_user
        from boundaries.features import COLLECTIONS

        sys.path.insert(0, str(ROOT / "bench"))
        from http_load import served

        tokens = {n: create_token(registry, find_user(registry, n).id, "qgis", 1)[0] for n in ("admin", "staff")}
        print(f"demo street + {args.features:,} buildings in {time.perf_counter() - t:.1f}s")
        layers = [
            {"typename": "buildings", "user": "admin", "page_size": args.page_size},
            {"typename": "issues", "user": "staff", "page_size": 0},
        ]
        with served(url, folder) as port:
            t = time.perf_counter()
            found = run_qgis(f"http://127.0.0.1:{port}/ogc", tokens, layers, folder)
            wall = time.perf_counter() - t
        print(f"QGIS {found['qgis']}: {len(found['collections'])} collections listed in {found['list_s']:.2f}s:")
        for item in found["collections"]:
            print(f"  {item['title']}:{item['uri']}")
        if listed_typenames(found) != list(COLLECTIONS):
            raise SystemExit(f"QGIS listed {listed_typenames(found)}, the administrator reads {list(COLLECTIONS)}")
        for layer in found["layers"]:
            summary = check(registry, layer["user"], layer)
            rate = summary["count"] / summary["read s"] if summary["read s"] else math.inf
            print(f"{layer['typename']} as {layer['user']} (pageSize {layer['page_size'] or 'not given'}):")
            print("  " + ", ".join(f"{k} {v}" for k, v in summary.items()) + f", {rate:,.0f} features/s")
        basic = found["basic_authcfg"]
        print(f"issues with QGIS's Basic authcfg (token as password): valid {basic['valid']}, {basic['statuses']}")
        print(f"QGIS process {wall:.1f}s in all (start, list, open, read)")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--client"]:
        _client(*sys.argv[2:4])
    else:
        main()
