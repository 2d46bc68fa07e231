"""Copy the front-end files the pages use from ``node_modules/`` into ``web/static/vendor/`` and write a manifest.

Run from the repository root after ``npm install --ignore-scripts`` (or ``npm ci --ignore-scripts``)::

    python scripts/vendor_assets.py

Each package's files go to ``web/static/vendor/<package>/<version>/`` (the version in the folder lets the app
cache them for a year), with the package's licence and the licences of the packages its bundle includes
(``licences/<dependency>/...``). ``web/static/vendor/manifest.json`` lists every copied file with its package,
version, the lockfile's ``resolved`` URL and ``integrity``, the path inside the npm tarball, and its sha256;
``tests/web/test_vendor.py`` checks the copies against it and against the tarballs from the registry.
The vendor folder is rebuilt from scratch, so a removed package or file leaves nothing behind.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENDOR = ROOT / "web" / "static" / "vendor"
MANIFEST = "manifest.json"

#: package -> files the pages use, as paths inside the npm package (copied without the leading ``dist/``).
FILES: dict[str, list[str]] = {
    "leaflet": [
        "dist/leaflet.js",
        "dist/leaflet.css",
        "dist/images/layers.png",
        "dist/images/layers-2x.png",
        "dist/images/marker-icon.png",
        "dist/images/marker-icon-2x.png",
        "dist/images/marker-shadow.png",
    ],
    "@geoman-io/leaflet-geoman-free": ["dist/leaflet-geoman.min.js", "dist/leaflet-geoman.css"],
    # the "bundled" build carries pbf, vector-tile and topojson-client, so it needs nothing else
    "leaflet.vectorgrid": ["dist/Leaflet.VectorGrid.bundled.min.js"],
    "leaflet.markercluster": [
        "dist/leaflet.markercluster.js",
        "dist/MarkerCluster.css",
        "dist/MarkerCluster.Default.css",
    ],
    "leaflet.heat": ["dist/leaflet-heat.js"],
    # one self-contained UMD file (it bundles @kurkle/color)
    "chart.js": ["dist/chart.umd.min.js"],
}

_LICENCE_NAMES = ("LICENSE", "LICENSE.md", "LICENSE.txt", "LICENCE", "LICENCE.md", "MIT-LICENCE.txt", "LICENSE-MIT")
#: packages whose tarball has no licence file: their README carries the licence text
_LICENCE_IN_README = {"leaflet.vectorgrid"}


def sha256_of(path: Path) -> str:
    """Hex sha256 of the file at ``path``."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def locked(lock: dict, name: str, parent: str = "") -> tuple[str, dict]:
    """The lockfile entry (its key and value) that node resolves for ``name`` required from ``parent``.

    Parameters
    ----------
    lock : dict
        The parsed ``package-lock.json`` (lockfileVersion 2 or 3).
    name : str
        The package name.
    parent : str
        The lockfile key of the requiring package (``""`` for the root).

    Returns
    -------
    tuple of (str, dict)
        The ``node_modules/...`` key and its entry.
    """
    base = parent
    while True:
        key = f"{base}/node_modules/{name}" if base else f"node_modules/{name}"
        if key in lock["packages"]:
            return key, lock["packages"][key]
        if not base:
            raise SystemExit(f"{name} is not in package-lock.json; run npm install --ignore-scripts")
        base = base.rsplit("/node_modules/", 1)[0] if "/node_modules/" in base else ""


def licence_file(package_dir: Path, name: str) -> str | None:
    """The path of ``name``'s licence file inside its package, or ``None`` when it has none."""
    for candidate in _LICENCE_NAMES:
        if (package_dir / candidate).is_file():
            return candidate
    if name in _LICENCE_IN_README and (package_dir / "README.md").is_file():
        return "README.md"
    return None


def bundled(lock: dict, key: str) -> list[tuple[str, str]]:
    """Every package ``key`` depends on, directly or not, as (name, lockfile key), sorted by name."""
    seen: dict[str, str] = {}  # lockfile key -> name
    todo = [key]
    while todo:
        current = todo.pop()
        for dep in sorted(lock["packages"][current].get("dependencies", {})):
            dep_key, _entry = locked(lock, dep, current)
            if dep_key not in seen:
                seen[dep_key] = dep
                todo.append(dep_key)
    return sorted((name, dep_key) for dep_key, name in seen.items())


def _entry(lock: dict, key: str, name: str, source: str, target: Path) -> dict:
    meta = lock["packages"][key]
    for field in ("version", "resolved", "integrity"):
        if not meta.get(field):
            raise SystemExit(f"package-lock.json has no {field} for {name}")
    return {
        "path": target.relative_to(VENDOR).as_posix(),
        "package": name,
        "version": meta["version"],
        "resolved": meta["resolved"],
        "integrity": meta["integrity"],
        "source": source,
        "sha256": sha256_of(target),
    }


def _copy(node_modules: Path, key: str, source: str, target: Path) -> None:
    origin = node_modules.parent / key / source
    if not origin.is_file():
        raise SystemExit(f"{key}/{source} is missing; run npm install --ignore-scripts")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(origin, target)


def vendor(root: Path = ROOT) -> list[dict]:
    """Rebuild ``web/static/vendor/`` from ``node_modules/`` and return the manifest's file entries."""
    lock = json.loads((root / "package-lock.json").read_text(encoding="utf-8"))
    wanted = json.loads((root / "package.json").read_text(encoding="utf-8")).get("dependencies", {})
    if sorted(wanted) != sorted(FILES):
        raise SystemExit(f"package.json lists {sorted(wanted)} but this script copies {sorted(FILES)}")
    node_modules = root / "node_modules"
    if VENDOR.exists():
        shutil.rmtree(VENDOR)
    files: list[dict] = []
    unshipped: list[str] = []
    for name, sources in FILES.items():
        key, meta = locked(lock, name)
        if meta["version"] != wanted[name]:
            raise SystemExit(f"{name}: package.json wants {wanted[name]}, the lockfile has {meta['version']}")
        folder = VENDOR / name / meta["version"]
        for source in sources:
            target = folder / source.removeprefix("dist/")
            _copy(node_modules, key, source, target)
            files.append(_entry(lock, key, name, source, target))
        licence = licence_file(root / key, name)
        if licence is None:
            raise SystemExit(f"{name} ships no licence file; add where its licence is to this script")
        _copy(node_modules, key, licence, folder / licence)
        files.append(_entry(lock, key, name, licence, folder / licence))
        for dep, dep_key in bundled(lock, key):
            dep_licence = licence_file(root / dep_key, dep)
            if dep_licence is None:  # say so rather than leave it out silently
                declared = lock["packages"][dep_key].get("license", "unknown")
                unshipped.append(f"{dep} (in {name}): licence {declared} per its package.json, no licence file")
                continue
            target = folder / "licences" / dep / dep_licence
            _copy(node_modules, dep_key, dep_licence, target)
            files.append(_entry(lock, dep_key, dep, dep_licence, target))
    manifest = {
        "about": "Written by scripts/vendor_assets.py from package-lock.json; do not edit by hand.",
        "files": files,
        "licences_without_file": unshipped,
    }
    (VENDOR / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return files


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: copy the files and print what was written."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    files = vendor()
    print(f"copied {len(files)} files of {len(FILES)} packages into {VENDOR.relative_to(ROOT)}/ (see {MANIFEST})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
