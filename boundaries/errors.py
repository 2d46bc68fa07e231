"""Temporary shim: the errors moved to :mod:`core.errors` (issue 13, item 1); import them from there.

Still imported from here by modules being edited elsewhere at the time of the move: ``boundaries/fixing.py``,
``boundaries/suggest.py``, ``boundaries/rule_waivers.py``, ``boundaries/registry.py``,
``tests/boundaries/test_fixing.py`` and ``tests/boundaries/test_suggest.py``. Delete this module once they import
:mod:`core.errors`.
"""

from core.errors import (
    ChangeSetConflictError,
    ConflictError,
    InvalidInputError,
    NoGenerationError,
    NotFoundError,
    OutOfScopeError,
    RegistryError,
)

__all__ = [
    "RegistryError",
    "NotFoundError",
    "ConflictError",
    "ChangeSetConflictError",
    "InvalidInputError",
    "NoGenerationError",
    "OutOfScopeError",
]
