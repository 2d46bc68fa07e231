"""Form bodies decoded strictly: bytes that are not valid in the form's charset are a 400, never mojibake.

Werkzeug decodes form fields forgivingly: a URL-encoded byte that is not UTF-8 stays as a literal ``%ED`` in the
text, a multipart field's bad bytes become U+FFFD, and a declared ``charset=GBK`` is ignored. Reports would then
be stored garbled without anyone noticing. :class:`StrictRequest` (the app's request class) parses both kinds
of form itself: every field is decoded with the charset the ``Content-Type`` declares — UTF-8 when none is
declared; GBK, GB2312 and GB18030 are read as GB18030, their superset — and a field whose bytes are not valid in
it is refused with ``400 bad_encoding`` naming the field; any other declared charset is ``415
unsupported_charset``. What the text may then hold (no control characters, length limits) is the business of
the schema that loads it (``web.issues_api.IssueCreate``).
"""

from __future__ import annotations

import codecs
from urllib.parse import unquote_to_bytes

from flask import Request
from werkzeug.formparser import FormDataParser, MultiPartParser

from web.errors import ApiError

__all__ = ["CHARSETS", "StrictFormDataParser", "StrictRequest", "decode_field"]

#: Declared charsets accepted (Python's codec name) and the codec each is read with.
CHARSETS = {"utf-8": "utf-8", "ascii": "ascii", "gbk": "gb18030", "gb2312": "gb18030", "gb18030": "gb18030"}


def _codec(options: dict) -> str:
    """The codec for the charset of a ``Content-Type``'s parameters (UTF-8 when none is declared)."""
    declared = options.get("charset", "").strip().strip('"')
    if not declared:
        return "utf-8"
    try:
        name = codecs.lookup(declared).name
    except LookupError:
        name = None
    if name not in CHARSETS:
        raise ApiError(
            f"不支持的字符集 unsupported charset {declared[:40]!r}: send UTF-8 (or GBK / GB18030)",
            "unsupported_charset",
            415,
        )
    return CHARSETS[name]


def decode_field(data: bytes, codec: str, name: str) -> str:
    """``data`` decoded with ``codec``, or :class:`ApiError` ``400 bad_encoding`` naming the field.

    Parameters
    ----------
    data : bytes
        The field's bytes (percent-escapes already undone).
    codec : str
        A Python codec name.
    name : str
        The field's name, for the message.

    Returns
    -------
    str
    """
    try:
        return data.decode(codec)
    except UnicodeDecodeError as exc:
        shown = "UTF-8" if codec == "utf-8" else codec.upper()
        raise ApiError(
            f"表单字段 {name[:40]!r} 不是有效的 {shown} 编码 form field {name[:40]!r} is not valid {shown} "
            f"(byte {exc.start}): send UTF-8, or declare the charset in the Content-Type",
            "bad_encoding",
        ) from exc


class _BytePreservingMultiPartParser(MultiPartParser):
    """Werkzeug's multipart parser, reading every field as ISO-8859-1 (byte for byte) to be decoded strictly after."""

    def get_part_charset(self, headers) -> str:
        return "iso-8859-1"


class StrictFormDataParser(FormDataParser):
    """Werkzeug's form parser with strict decoding (see the module text)."""

    def _parse_urlencoded(self, stream, mimetype, content_length, options):
        codec = _codec(options)
        items = []
        for pair in stream.read().split(b"&"):
            if not pair:
                continue
            raw_key, _, raw_value = pair.partition(b"=")
            key = decode_field(unquote_to_bytes(raw_key.replace(b"+", b" ")), codec, "(name)")
            items.append((key, decode_field(unquote_to_bytes(raw_value.replace(b"+", b" ")), codec, key)))
        return stream, self.cls(items), self.cls()

    def _parse_multipart(self, stream, mimetype, content_length, options):
        codec = _codec(options)
        parser = _BytePreservingMultiPartParser(
            stream_factory=self.stream_factory,
            max_form_memory_size=self.max_form_memory_size,
            max_form_parts=self.max_form_parts,
            cls=self.cls,
        )
        boundary = options.get("boundary", "").encode("ascii")
        if not boundary:
            raise ValueError("Missing boundary")
        form, files = parser.parse(stream, boundary, content_length)
        fields = [(key, decode_field(value.encode("iso-8859-1"), codec, key)) for key, value in form.items(multi=True)]
        return stream, self.cls(fields), files


class StrictRequest(Request):
    """The app's request class: forms are decoded strictly (:class:`StrictFormDataParser`)."""

    form_data_parser_class = StrictFormDataParser
