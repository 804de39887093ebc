"""Conditional GET and content coding for feeds: ETags, Last-Modified, 304, gzip.

Feed bytes are deterministic, so a hash of the bytes is a strong validator: the same
feed always has the same ETag, and any change in any byte changes it. The gzip
representation has its own strong ETag (the same hash, marked ``-gzip``).
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


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether an ``Accept-Encoding`` header lets us send gzip (RFC 9110 §12.5.3).

    ``gzip`` (or ``x-gzip``) with a non-zero quality, or ``*`` with one when gzip is
    not itself refused with ``q=0``.
    """
    if not accept_encoding:
        return False
    qualities: dict[str, float] = {}
    for part in accept_encoding.split(","):
        coding, _, params = part.partition(";")
        quality = 1.0
        name, _, value = params.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                quality = float(value)
            except ValueError:
                quality = 0.0
        qualities[coding.strip().lower()] = quality
    for name in ("gzip", "x-gzip"):
        if name in qualities:
            return qualities[name] > 0
    return qualities.get("*", 0.0) > 0


def shows_last_modified(last_modified: datetime, now: datetime) -> bool:
    """Whether ``Last-Modified`` may be sent: never a date after the response's own
    (RFC 9110 §8.8.2.1); a date that ran ahead of the clock is left out until then."""
    return last_modified.replace(microsecond=0) <= now


def not_modified(
    headers: Mapping[str, str],
    *,
    etag: str,
    last_modified: datetime,
    now: datetime | None = None,
) -> bool:
    """Whether a GET with these request headers may be answered 304 Not Modified.

    ``If-None-Match`` wins when present (RFC 9110 §13.2.2); otherwise a valid
    ``If-Modified-Since`` at or after the last change (to the second) matches, unless
    that change is dated after ``now`` (then no date was sent, and none is trusted).
    Header names are looked up in lower case (as Starlette's ``Headers`` allow).
    """
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        return _etag_matches(if_none_match, etag)
    if_modified_since = headers.get("if-modified-since")
    if if_modified_since is None:
        return False
    if now is not None and not shows_last_modified(last_modified, now):
        return False
    since = _parse_http_date(if_modified_since)
    if since is None:
        return False
    return last_modified.replace(microsecond=0) <= since
