"""Refresh the page catalogs: extract the messages, update the Chinese catalog, merge new translations, compile.

Usage::

    python scripts/translations.py           # extract, update, merge web/translations/pending/*.json, compile
    python scripts/translations.py --check   # exit 1 listing every message without a Chinese translation

``web/translations/pending/<topic>.json`` holds ``{"English message id": "中文"}`` written with new page text;
its entries fill the catalog's empty translations and the file is removed once every entry is merged.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
TRANSLATIONS = ROOT / "web" / "translations"
POT = TRANSLATIONS / "messages.pot"
PO = TRANSLATIONS / "zh" / "LC_MESSAGES" / "messages.po"
PENDING = TRANSLATIONS / "pending"
KEYWORDS = ["-k", "_l", "-k", "lazy_gettext"]


def pybabel(*args: str) -> None:
    """Run a ``pybabel`` command from this interpreter's Babel."""
    command = [sys.executable, "-c", "from babel.messages.frontend import main; main()", *args]
    subprocess.run(command, check=True, cwd=ROOT)


def untranslated(po: Path = PO) -> list[str]:
    """Message ids of ``po`` with no translation, or a fuzzy one."""
    with po.open("rb") as fh:
        catalog = read_po(fh)
    return [str(m.id) for m in catalog if m.id and (not m.string or m.fuzzy)]


def merge_pending() -> int:
    """Fill empty translations from ``pending/*.json``; remove the files whose entries are all in. Returns count."""
    with PO.open("rb") as fh:
        catalog = read_po(fh)
    merged = 0
    for path in sorted(PENDING.glob("*.json")):
        entries = json.loads(path.read_text("utf-8"))
        for msgid, text in entries.items():
            message = catalog.get(msgid)
            if message is not None and (not message.string or message.fuzzy):
                message.string, merged = text, merged + 1
                message.flags.discard("fuzzy")
        if all(catalog.get(m) is not None for m in entries):
            path.unlink()
    with PO.open("wb") as fh:
        write_po(fh, catalog, width=120, sort_output=True)
    return merged


def main(argv=None) -> int:
    """Refresh, or with ``--check`` only report, the Chinese page catalog."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only list messages without a translation")
    args = parser.parse_args(argv)
    if not args.check:
        pybabel("extract", "-F", "babel.cfg", *KEYWORDS, "--no-location", "--sort-output", "-o", str(POT), ".")
        if PO.exists():
            pybabel(
                "update",
                "-i",
                str(POT),
                "-d",
                str(TRANSLATIONS),
                "-l",
                "zh",
                "--no-fuzzy-matching",
                "--ignore-obsolete",
            )
        else:
            pybabel("init", "-i", str(POT), "-d", str(TRANSLATIONS), "-l", "zh")
        print(f"merged {merge_pending()} translations from {PENDING.relative_to(ROOT)}")
        pybabel("compile", "-d", str(TRANSLATIONS), "--statistics")
    missing = untranslated()
    for msgid in missing:
        print(f"untranslated: {msgid}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
