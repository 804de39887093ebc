"""Size limits on everything that comes in, and the JSON depth check they share.

``Limits`` carries the values of the ``NEWSLETTER_MAX_*`` settings (``Settings.limits``)
to the code that enforces them, so domain modules never read settings themselves. The
defaults here are the settings' defaults; docs/limits.md lists each with its reason.

``json_too_deep`` is the one depth check for JSON: the web app's body middleware runs it
on every JSON body before any view parses it (Python's ``json`` recurses, and a body of
50,000 ``[`` would otherwise end in a ``RecursionError``), and the briefing JSON form runs
it on files. It scans the raw bytes without building anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import accumulate

KIB = 1024
MIB = 1024 * KIB

# A JSON string, escapes included; what is inside a string never nests.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_OPEN = frozenset(b"[{")
_CLOSE = frozenset(b"]}")
_BRACKETS = bytes(sorted(_OPEN | _CLOSE))
_NOT_BRACKETS = bytes(byte for byte in range(256) if byte not in _BRACKETS)
# Each byte's step in depth: +1 for [ and {, -1 for ] and }; only brackets are left.
_STEP = [1 if byte in _OPEN else -1 if byte in _CLOSE else 0 for byte in range(256)]


@dataclass(frozen=True)
class Limits:
    """The size limits, one per ``NEWSLETTER_MAX_*`` setting (see ``newsletter.settings``)."""

    json_bytes: int = 2 * MIB
    json_depth: int = 32
    briefing_bytes: int = 256 * KIB
    paragraph_bytes: int = 20_000
    briefing_topics: int = 25
    folder_files: int = 1000
    csv_rows: int = 2_000_000
    csv_bytes: int = 512 * MIB


DEFAULT_LIMITS = Limits()


def json_depth(raw: bytes) -> int:
    """How deeply arrays and objects nest in ``raw`` (0 for a scalar), strings skipped.

    Brackets inside strings do not count. For text that is not valid JSON the answer is
    still a bound the parser would meet, which is all a limit needs.
    """
    brackets = _STRING.sub(b"", raw).translate(None, delete=_NOT_BRACKETS)
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def json_too_deep(raw: bytes | str, limit: int) -> str | None:
    """Why ``raw`` nests too deeply for ``limit`` levels, or ``None`` when it does not."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    depth = json_depth(data)
    if depth <= limit:
        return None
    return f"JSON nested {depth} levels deep; at most {limit} levels are accepted"


def looks_like_json(content_type: str, body: bytes) -> bool:
    """Whether a request body is JSON: its type says so, or it opens with ``[`` or ``{``.

    Form bodies never start with a bracket (browsers percent-encode it), so a JSON body
    sent with another type, or none, is still checked.
    """
    if "json" in content_type.lower():
        return True
    return body.lstrip(b" \t\r\n")[:1] in (b"[", b"{")
