"""Temporary shim for the move to :mod:`core.storage.tables` (removed with the next commit)."""

from core.storage.tables import *  # noqa: F403
from core.storage.tables import __all__  # noqa: F401
