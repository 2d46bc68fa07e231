"""Filter forms and paged tables shared by the list pages (audit log, issue queue)."""

from __future__ import annotations

from collections.abc import Mapping

from flask import render_template, request
from marshmallow import Schema, ValidationError

__all__ = ["filter_error", "page_filters", "render_paged"]

#: What a page says about a query parameter it does not know.
_UNKNOWN = "未知参数 unknown parameter {name}"
#: ... and about one it knows but cannot use, when the page has no sentence of its own for it.
_INVALID = "参数无效 invalid parameter {name}"


def filter_error(fields, messages: Mapping[str, str] | None = None, known=()) -> str:
    """One readable bilingual sentence per field the validator refused (never the validator's raw messages).

    Parameters
    ----------
    fields : iterable of str
        The names of the refused fields (the keys of a ``ValidationError``'s messages).
    messages : mapping, optional
        The page's own sentence per field.
    known : iterable of str
        The fields the page's schema has; any other is named as an unknown parameter.
    """
    messages, known = messages or {}, set(known) | set(messages or {})
    said = []
    for name in sorted(map(str, fields)):
        shown = name if len(name) <= 32 else name[:32] + "…"
        if name in messages:
            said.append(messages[name])
        else:
            said.append((_INVALID if name in known else _UNKNOWN).format(name=shown))
    return "；".join(said)


def page_filters(schema: Schema, messages: Mapping[str, str] | None = None) -> tuple[dict, str | None]:
    """The query string loaded with ``schema`` (empty fields ignored), and what is wrong with it (``None``).

    On bad input the schema's defaults are returned with a readable sentence per refused field (see
    :func:`filter_error`); a page lists nothing then, rather than more than was asked for.
    """
    try:
        return schema.load({k: v for k, v in request.args.items() if v != ""}), None
    except ValidationError as exc:
        fields = exc.messages if isinstance(exc.messages, dict) else {"": exc.messages}
        return schema.load({}), filter_error(fields, messages, schema.fields)


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
