"""The shared storage pieces: tables, the migrations that create them, and the audit log's SQL.

:mod:`core.storage.tables` defines every table; :mod:`core.storage.schema` upgrades a database with the Alembic
migrations in the folder ``migrations``; :mod:`core.storage.audit` writes and reads the audit log. Each table
belongs to one aggregate (:data:`core.storage.tables.OWNERS`): only that aggregate's storage module writes or
reads it. The repositories themselves live with their packages (``boundaries/storage``, ``accounts/storage.py``,
``issues/storage``, ``patrols/storage.py``).
"""
