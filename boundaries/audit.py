"""Temporary shim: the audit log moved to :mod:`core.audit` (issue 13, item 1); import it from there.

Still imported from here by modules being edited elsewhere at the time of the move: ``boundaries/suggest.py``,
``boundaries/rule_waivers.py``, ``boundaries/registry.py`` and ``tests/boundaries/test_suggest.py``. Delete this
module once they import :mod:`core.audit`.
"""

from core.audit import SYSTEM, Actor, entries, jsonable, record

__all__ = ["Actor", "SYSTEM", "record", "entries", "jsonable"]
