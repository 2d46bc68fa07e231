"""Text an issue may hold, and text made safe for a spreadsheet.

Reports are written into Excel, CSV and XML files, read by Open311 clients and shown on pages, so stored text
must be plain: no control characters but tab and line breaks (Excel files and XML 1.0 cannot hold them, and
PostgreSQL cannot store NUL), no lone UTF-16 surrogates (no encoding can write them) and no U+FFFE / U+FFFF.
:func:`text_problem` says what is wrong with a value; intake refuses such text. :func:`spreadsheet_cell` makes
any stored value (including text stored before these checks) safe for a spreadsheet cell: characters a workbook
cannot hold become U+FFFD, and text that a spreadsheet would run as a formula — starting with ``=``, ``+``,
``-``, ``@``, tab or carriage return (OWASP, "CSV Injection") — is prefixed with ``'`` so it stays text.
"""

from __future__ import annotations

import re

__all__ = ["FORBIDDEN_CHARACTERS", "FORMULA_PREFIXES", "TEXT_LIMITS", "text_problem", "spreadsheet_cell", "xml_text"]

#: Longest text of each field of an issue, in characters (intake over the API and Open311, and bulk import).
TEXT_LIMITS = {"description": 5000, "address": 500, "reporter_name": 100, "reporter_phone": 32, "external_id": 64}

#: Characters refused in reports: C0 controls but tab, LF and CR; lone surrogates; the non-characters U+FFFE/F.
FORBIDDEN_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
#: First characters that make a spreadsheet read a cell as a formula.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def text_problem(value: str) -> str | None:
    r"""What makes ``value`` unfit to store (bilingual), or ``None`` when it is plain text.

    Parameters
    ----------
    value : str

    Returns
    -------
    str or None

    Examples
    --------
    >>> text_problem("楼道堆物\n三楼") is None
    True
    >>> text_problem("nul\x00x")
    '含控制字符 U+0000 holds the control character U+0000'
    """
    found = FORBIDDEN_CHARACTERS.search(value)
    if found is None:
        return None
    char = ord(found.group())
    if 0xD800 <= char <= 0xDFFF:
        return f"含孤立的 UTF-16 代理项 U+{char:04X} holds a lone UTF-16 surrogate U+{char:04X}"
    if char >= 0xFFFE:
        return f"含非字符 U+{char:04X} holds the non-character U+{char:04X}"
    return f"含控制字符 U+{char:04X} holds the control character U+{char:04X}"


def xml_text(value: str) -> str:
    """``value`` with the characters XML 1.0 cannot hold replaced by U+FFFD."""
    return FORBIDDEN_CHARACTERS.sub("\ufffd", value)


def spreadsheet_cell(value):
    r"""A value safe for an Excel or CSV cell: text cleaned and kept from running as a formula; others as they are.

    Examples
    --------
    >>> spreadsheet_cell("=1+1")
    "'=1+1"
    >>> spreadsheet_cell("nul\x00x"), spreadsheet_cell(3.5)
    ('nul�x', 3.5)
    """
    if not isinstance(value, str):
        return value
    value = FORBIDDEN_CHARACTERS.sub("\ufffd", value)
    return "'" + value if value.startswith(FORMULA_PREFIXES) else value
