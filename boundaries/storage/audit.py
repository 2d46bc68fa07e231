"""Temporary shim for the move to :mod:`core.storage.audit` (removed with the next commit)."""

from core.storage.audit import entry_page, insert_entry

__all__ = ["insert_entry", "entry_page"]
