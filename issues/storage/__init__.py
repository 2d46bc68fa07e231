"""Every SQL statement of issues, their history events and photos (SQLAlchemy Core, SQLite / PostgreSQL).

The domain modules (:mod:`issues.queries`, :mod:`issues.desk`, :mod:`issues.escalation`, :mod:`issues.photos`,
:mod:`issues.bulk`, :mod:`issues.area_figures`, :mod:`issues.area_history`) call these functions and hold no SQL.
Each function works in the connection it is given, so the caller decides what one transaction holds (a change,
its history event and its audit entry commit together). Rows come back as plain dicts, times as stored.

- :mod:`issues.storage.queries`: visibility, one issue, queue pages, figures;
- :mod:`issues.storage.workflow`: intake, steps, assignment, escalation;
- :mod:`issues.storage.photos`: photos by hash;
- :mod:`issues.storage.bulk`: imports in bulk, and clearing every issue (the demo rebuild).
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from issues.storage.bulk import (
    imported_external_ids,
    insert_event_rows,
    insert_issue_rows,
    open_issues_by_token_prefix,
    wipe,
)
from issues.storage.photos import photo_data, store_photos
from issues.storage.queries import (
    IssueFilter,
    finished_stages,
    issue_counts,
    issue_events,
    issue_frame,
    issue_id_by_token,
    issue_page,
    issue_photo_links,
    last_notes,
    visible,
    visible_issue,
)
from issues.storage.workflow import (
    first_escalation_due,
    insert_event,
    insert_issue,
    issue_by_id,
    issue_id_by_external_id,
    overdue_issues,
    report_photos,
    update_issue,
)

__all__ = [
    "IntegrityError",
    "IssueFilter",
    "visible",
    "visible_issue",
    "issue_events",
    "issue_photo_links",
    "issue_page",
    "issue_frame",
    "last_notes",
    "issue_id_by_token",
    "finished_stages",
    "issue_counts",
    "insert_issue",
    "insert_event",
    "issue_id_by_external_id",
    "issue_by_id",
    "report_photos",
    "update_issue",
    "first_escalation_due",
    "overdue_issues",
    "store_photos",
    "photo_data",
    "imported_external_ids",
    "insert_issue_rows",
    "open_issues_by_token_prefix",
    "insert_event_rows",
    "wipe",
]
