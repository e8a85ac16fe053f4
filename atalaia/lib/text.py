"""Text that becomes one line: an e-mail subject or header, an incident's title.

People and alert sources write titles with line breaks ("Seller portal returns
503.\\nLB health checks failing."); a line break in a mail header is refused by
the mail library (and, where it is not, lets the text add headers of its own).
Every line break Unicode knows (CR, LF, VT, FF, NEL, U+2028, U+2029), NUL and the
other control characters become a space here, in one place.
"""

from __future__ import annotations

import re
import unicodedata

# Categories that must not reach a one-line field: controls (Cc, which holds CR, LF,
# NUL, NEL…), line and paragraph separators (Zl, Zp), and lone surrogates (Cs),
# which no encoder accepts.
_BREAKING = {"Cc", "Zl", "Zp", "Cs"}
_SPACES = re.compile(r"\s+")
_LINE_BREAK = re.compile(r"\r\n|[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]")


def one_line(text: str, limit: int | None = None) -> str:
    """TEXT as one line: every control character and line break becomes a space, runs
    of spaces one space, the ends trimmed; cut to LIMIT characters with an ellipsis."""
    cleaned = "".join(" " if unicodedata.category(c) in _BREAKING else c for c in text)
    line = _SPACES.sub(" ", cleaned).strip()
    if limit is not None and len(line) > limit:
        line = line[:max(limit - 1, 0)].rstrip() + "…"
    return line


def first_line(text: str, limit: int | None = None) -> tuple[str, str]:
    """(the first non-empty line of TEXT made one line, the rest of TEXT as written):
    a title and what goes under it. A first line longer than LIMIT is cut, and the
    whole of it is kept with the rest, so nothing written is lost."""
    lines = _LINE_BREAK.split(text.strip())
    first = next((n for n, line in enumerate(lines) if line.strip()), 0)
    whole = one_line(lines[first])
    title = one_line(whole, limit)
    rest = "\n".join(lines[first + 1:]).strip()
    if title != whole:
        rest = f"{whole}\n{rest}".strip()
    return title, rest


def as_title(text: str, limit: int) -> str:
    """TEXT (an alert's summary, say) ready to be declared as a title: its first line cut
    to LIMIT characters, then the rest (with the whole first line, if it was cut), which
    the declaration keeps in the summary."""
    title, rest = first_line(text, limit)
    return f"{title}\n{rest}" if rest else title
