"""Filter forms and paged tables shared by the list pages (audit log, issue queue)."""

from __future__ import annotations

from flask import render_template, request
from marshmallow import Schema, ValidationError

__all__ = ["page_filters", "render_paged"]


def page_filters(schema: Schema) -> tuple[dict, object]:
    """The query string loaded with ``schema`` (empty fields ignored), and the errors (``None`` if none).

    On bad input the schema's defaults are used and the page shows the errors instead of failing.
    """
    try:
        return schema.load({k: v for k, v in request.args.items() if v != ""}), None
    except ValidationError as exc:
        return schema.load({}), exc.messages


def render_paged(template: str, rows: list, total: int, args: dict, filter_keys, **context):
    """Render a paged table: page numbers and the filters to carry into the paging links."""
    return render_template(
        template,
        rows=rows,
        total=total,
        page=args["page"],
        pages_total=max(1, -(-total // args["per_page"])),
        filters={k: request.args.get(k, "") for k in filter_keys},
        **context,
    )
