"""The shared core every domain package may use: errors, the audit log, scope, settings, tables and migrations.

``core`` imports no domain package (``accounts``, ``boundaries``, ``issues``, ``patrols``, ``serving``, ``web``);
``tests/test_layering.py`` keeps it so.

- :mod:`core.errors`: the error classes every package raises (each with a stable ``code``);
- :mod:`core.audit`: the audit log (:class:`~core.audit.Actor`, :func:`~core.audit.record`);
- :mod:`core.scope`: :class:`~core.scope.Scope`, the areas a caller may see;
- :mod:`core.settings`: the table of the deployment's settings and their defaults;
- :mod:`core.storage`: every table (each owned by one aggregate), the Alembic migrations and the audit log's SQL.
"""
