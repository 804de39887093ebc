"""Conditional GET for feeds: strong ETags, Last-Modified, and the 304 decision.

Feed bytes are deterministic, so a hash of the bytes is a strong validator: the same
feed always has the same ETag, and any change in any byte changes it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime

# Feeds change when an edition is published (at most a few times a day): readers may
# reuse a copy for ten minutes, then must revalidate (and usually get a 304).
CACHE_CONTROL = "public, max-age=600, must-revalidate"


def etag_of(body: bytes) -> str:
    """The strong ETag (quoted SHA-256 of the bytes) of a response body."""
    return '"' + hashlib.sha256(body).hexdigest() + '"'


def http_date(moment: datetime) -> str:
    """An HTTP date (RFC 9110 IMF-fixdate) in GMT."""
    return format_datetime(moment.astimezone(UTC).replace(microsecond=0), usegmt=True)


def _etag_matches(header: str, etag: str) -> bool:
    # If-None-Match uses weak comparison (RFC 9110 §13.1.2): W/"x" matches "x".
    tags = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return "*" in tags or etag.removeprefix("W/") in tags


def _parse_http_date(value: str) -> datetime | None:
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def not_modified(headers: Mapping[str, str], *, etag: str, last_modified: datetime) -> bool:
    """Whether a GET with these request headers may be answered 304 Not Modified.

    ``If-None-Match`` wins when present (RFC 9110 §13.2.2); otherwise a valid
    ``If-Modified-Since`` at or after the last change (to the second) matches.
    Header names are looked up in lower case (as Starlette's ``Headers`` allow).
    """
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        return _etag_matches(if_none_match, etag)
    if_modified_since = headers.get("if-modified-since")
    if if_modified_since is None:
        return False
    since = _parse_http_date(if_modified_since)
    if since is None:
        return False
    return last_modified.replace(microsecond=0) <= since
