"""JSON from outside (API bodies, intake events, uploads), parsed within limits.

Python's parser recurses once per level of nesting: a 10 KB body of nested
brackets raises RecursionError deep inside a request, which ends as a 500 and
makes well-behaved clients (Alertmanager) send it again forever. The depth is
therefore counted before parsing, with no recursion at all. Text that no
database column can hold (NUL on PostgreSQL, lone UTF-16 surrogates anywhere)
is refused here too, so that an event that can never be stored gets a 400
rather than a "try again later".
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from typing import Any

# Deep enough for any real payload (Alertmanager and PagerDuty nest under ten
# levels), far below Python's recursion limit for the code that walks the result.
MAX_DEPTH = 100
NUL_MESSAGE = "NUL characters (\\u0000) are not allowed in any field"
JSON_NUL = re.compile(rb"\\u0000", re.IGNORECASE)

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKETS = bytes(range(256)).translate(None, b"[]{}")  # every byte but brackets
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class JSONInputError(ValueError):
    """A body refused before or while parsing; `status` is the HTTP answer it deserves."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def parse(raw: bytes, *, max_bytes: int, max_depth: int = MAX_DEPTH,
          allow_nul: bool = False, parse_float: Callable[[str], Any] | None = None) -> Any:
    """The JSON value of `raw`, or JSONInputError saying what is wrong with it.
    `parse_float` reads number literals with a fraction or exponent, as in json.loads."""
    if len(raw) > max_bytes:
        raise JSONInputError(f"the body is larger than {max_bytes} bytes", 413)
    if not allow_nul and (b"\x00" in raw or JSON_NUL.search(raw)):
        raise JSONInputError(NUL_MESSAGE)
    if depth(raw) > max_depth:
        raise JSONInputError(f"the JSON is nested more than {max_depth} levels deep")
    try:
        value = json.loads(raw, parse_float=parse_float)
    except (ValueError, UnicodeDecodeError):
        raise JSONInputError("the body is not valid JSON") from None
    if _SURROGATE_ESCAPE.search(raw):
        _refuse_lone_surrogates(value)
    return value


def depth(raw: bytes) -> int:
    """How deeply brackets nest outside strings; for a body with few brackets, just
    their number (a bound below the limit is all that matters)."""
    brackets = raw.translate(None, _BRACKETS)
    if len(brackets) <= MAX_DEPTH:  # the usual small body: no need to look closer
        return len(brackets)
    brackets = _STRING.sub(b"", raw).translate(None, _BRACKETS)
    return max(itertools.accumulate(_STEP[b] for b in brackets), default=0)


def _refuse_lone_surrogates(value: Any) -> None:
    """A \\uD800-style escape not paired with its other half decodes to text that
    cannot be encoded as UTF-8, so no database can store it: name where it is."""
    pending: list[tuple[str, Any]] = [("", value)]
    while pending:
        path, item = pending.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                where = f"{path}.{key}" if path else str(key)
                if _SURROGATE.search(key):
                    raise JSONInputError(f"a key in {path or 'the body'} contains a lone "
                                         "UTF-16 surrogate (\\ud800-\\udfff), which is "
                                         "not text")
                pending.append((where, child))
        elif isinstance(item, list):
            pending.extend((f"{path}[{i}]", child) for i, child in enumerate(item))
        elif isinstance(item, str) and _SURROGATE.search(item):
            where = path or "the body"
            raise JSONInputError(f"{where} contains a lone UTF-16 surrogate "
                                 "(\\ud800-\\udfff), which is not text")
