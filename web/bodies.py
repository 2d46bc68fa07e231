r"""Request bodies checked once, at the edge: JSON that Python would parse but nothing downstream can handle.

Python's :func:`json.loads` accepts things that later fail deep inside the app: lone UTF-16 surrogates
(``"a\ud800b"``: the database cannot encode them), nesting a thousand levels deep (``RecursionError``),
integers of thousands of digits (``ValueError`` past Python's 4,300-digit limit), ``NaN``/``Infinity`` and
numbers that overflow to infinity, NUL characters (PostgreSQL cannot store them), and bytes that are not
UTF-8. :func:`loads` refuses each with :class:`web.errors.ApiError` ``400 malformed_json``, saying what is
wrong. :func:`init_bodies` checks every JSON request body this way in one ``before_request`` hook (after the
access check), so views parsed by flask-smorest/webargs and those reading the raw body with
:func:`web.errors.parse_json` are covered alike.
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
from flask import Flask, g, request

from web.errors import ApiError

__all__ = ["MAX_DEPTH", "MAX_NUMBER_CHARS", "loads", "check_json_body", "init_bodies"]

#: Deepest nesting of arrays and objects accepted (GeoJSON needs 8 at most).
MAX_DEPTH = 64
#: Longest number accepted, in characters.
MAX_NUMBER_CHARS = 100

_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'"[]{}')
_STRING = re.compile(rb'"[^"]*"')  # a string once escapes are gone and only quotes and brackets remain
_OPEN = np.zeros(256, dtype=np.int8)
_OPEN[list(b"[{")] = 1
_OPEN[list(b"]}")] = -1
_SUSPECT_ESCAPE = re.compile(rb"\\u(?:[dD][89a-fA-F]|0000)")
_BAD_CHAR = re.compile("[\ud800-\udfff\x00]")
_CHUNK = 1 << 20


def _malformed(message: str) -> ApiError:
    return ApiError(message, "malformed_json")


def _depth(raw: bytes) -> int:
    """The deepest nesting of arrays and objects in ``raw`` (strings skipped), in bounded memory."""
    # Drop escaped backslashes, then escaped quotes (pairing left to right as JSON does), keep only quotes and
    # brackets, and drop what is left between quotes: the brackets outside strings remain.
    structure = raw.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _NOT_STRUCTURE)
    brackets = _STRING.sub(b"", structure)
    deepest = level = 0
    for start in range(0, len(brackets), _CHUNK):
        steps = _OPEN[np.frombuffer(brackets, dtype=np.uint8, count=min(_CHUNK, len(brackets) - start), offset=start)]
        levels = np.cumsum(steps, dtype=np.int64) + level
        deepest = max(deepest, int(levels.max()))
        level = int(levels[-1])
    return deepest


def _int(text: str) -> int:
    if len(text) > MAX_NUMBER_CHARS:
        raise _malformed(f"JSON 数字过长 a JSON number is longer than {MAX_NUMBER_CHARS} characters")
    return int(text)


def _float(text: str) -> float:
    if len(text) > MAX_NUMBER_CHARS:
        raise _malformed(f"JSON 数字过长 a JSON number is longer than {MAX_NUMBER_CHARS} characters")
    value = float(text)
    if not math.isfinite(value):
        raise _malformed(f"JSON 数字超出范围 a JSON number is out of range: {text[:20]}")
    return value


def _constant(text: str):
    raise _malformed(f"JSON 不允许 {text} NaN and Infinity are not JSON")


def _check_text(value) -> None:
    """Refuse lone surrogates and NUL characters in any key or string of a parsed document."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            found = _BAD_CHAR.search(item)
            if found and found.group() == "\x00":
                raise _malformed("JSON 字符串含 NUL 字符 a JSON string holds a NUL character (\\u0000)")
            if found:
                raise _malformed(
                    "JSON 字符串含孤立的 UTF-16 代理项 a JSON string holds a lone UTF-16 surrogate "
                    f"(\\u{ord(found.group()):04x} not in a pair)"
                )


def loads(raw: bytes | str):
    """Parse a JSON request body, refusing what the app cannot handle (see the module docstring).

    Parameters
    ----------
    raw : bytes or str
        The body; bytes must be UTF-8.

    Returns
    -------
    The parsed value.

    Raises
    ------
    web.errors.ApiError
        ``malformed_json`` (400), with a bilingual message naming the problem.
    """
    if isinstance(raw, str):
        try:
            raw = raw.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise _malformed("JSON 文本含孤立的 UTF-16 代理项 the JSON text holds a lone UTF-16 surrogate") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _malformed(f"请求体不是 UTF-8 编码 the JSON body is not UTF-8 (byte {exc.start})") from exc
    if _depth(raw) > MAX_DEPTH:
        raise _malformed(f"JSON 嵌套超过 {MAX_DEPTH} 层 JSON nested deeper than {MAX_DEPTH} levels")
    try:
        value = json.loads(text, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except json.JSONDecodeError as exc:
        raise _malformed(f"JSON 格式错误 malformed JSON: {exc}") from exc
    except RecursionError as exc:  # pragma: no cover - the depth check comes first
        raise _malformed(f"JSON 嵌套过深 JSON nested too deeply (at most {MAX_DEPTH} levels)") from exc
    if _SUSPECT_ESCAPE.search(raw):  # only escapes can make surrogates or NUL (raw ones are not valid UTF-8/JSON)
        _check_text(value)
    return value


def check_json_body() -> None:
    """``before_request``: parse a non-empty JSON body once with :func:`loads` (400 on anything hostile)."""
    if not request.is_json:
        return
    raw = request.get_data(cache=True)
    if raw.strip():
        g.weige_json = (raw, loads(raw))


def parsed_body(raw: bytes):
    """The body already parsed by :func:`check_json_body` when ``raw`` is that body, else :func:`loads` it."""
    cached = g.get("weige_json")
    if cached is not None and cached[0] is raw:
        return cached[1]
    return loads(raw)


def init_bodies(app: Flask) -> None:
    """Check every JSON request body (register after the access check, so anonymous callers get 401 first)."""
    app.before_request(check_json_body)
