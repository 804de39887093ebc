"""Conditional GET rules: strong ETags, HTTP dates, If-None-Match before If-Modified-Since."""

from __future__ import annotations

from datetime import UTC, datetime

from newsletter.feeds.conditional import etag_of, http_date, not_modified

CHANGED = datetime(2026, 3, 4, 7, 0, 30, 123456, tzinfo=UTC)
TAG = etag_of(b"feed")


def test_etag_is_a_quoted_hash_of_the_bytes() -> None:
    """The ETag is strong, quoted and changes with any byte."""
    assert TAG.startswith('"')
    assert TAG.endswith('"')
    assert len(TAG) == 66
    assert etag_of(b"feed") == TAG != etag_of(b"feeD")


def test_http_date_is_gmt_to_the_second() -> None:
    """HTTP dates are IMF-fixdate in GMT without fractions."""
    assert http_date(CHANGED) == "Wed, 04 Mar 2026 07:00:30 GMT"


def test_if_none_match_matches_listed_weak_or_star() -> None:
    """If-None-Match matches the tag in a list, its weak form, or ``*``; not others."""
    assert not_modified({"if-none-match": f'"x", {TAG}'}, etag=TAG, last_modified=CHANGED)
    assert not_modified({"if-none-match": f"W/{TAG}"}, etag=TAG, last_modified=CHANGED)
    assert not_modified({"if-none-match": "*"}, etag=TAG, last_modified=CHANGED)
    assert not not_modified({"if-none-match": '"x"'}, etag=TAG, last_modified=CHANGED)


def test_if_none_match_wins_over_if_modified_since() -> None:
    """A stale If-None-Match means 200 even when If-Modified-Since would match."""
    headers = {"if-none-match": '"x"', "if-modified-since": http_date(CHANGED)}
    assert not not_modified(headers, etag=TAG, last_modified=CHANGED)


def test_if_modified_since_compares_whole_seconds() -> None:
    """If-Modified-Since at or after the change (to the second) matches; earlier, bad or
    absent dates do not."""
    at = {"if-modified-since": "Wed, 04 Mar 2026 07:00:30 GMT"}
    assert not_modified(at, etag=TAG, last_modified=CHANGED)
    before = {"if-modified-since": "Wed, 04 Mar 2026 07:00:29 GMT"}
    assert not not_modified(before, etag=TAG, last_modified=CHANGED)
    assert not not_modified({"if-modified-since": "yesterday"}, etag=TAG, last_modified=CHANGED)
    assert not not_modified({}, etag=TAG, last_modified=CHANGED)
    naive = {"if-modified-since": "Wed, 04 Mar 2026 07:00:30 -0000"}
    assert not_modified(naive, etag=TAG, last_modified=CHANGED)


def test_gzip_is_sent_only_when_the_client_accepts_it() -> None:
    """gzip with a non-zero quality (or ``*`` without gzip refused) allows it; q=0 or its
    absence does not."""
    from newsletter.feeds.conditional import accepts_gzip

    assert accepts_gzip("gzip")
    assert accepts_gzip("br, gzip;q=0.5, deflate")
    assert accepts_gzip("x-gzip")
    assert accepts_gzip("*")
    assert not accepts_gzip(None)
    assert not accepts_gzip("")
    assert not accepts_gzip("identity")
    assert not accepts_gzip("gzip;q=0")
    assert not accepts_gzip("gzip;q=0, *")
    assert not accepts_gzip("gzip;q=nonsense")
    assert not accepts_gzip("br, deflate")


def test_a_date_ahead_of_the_clock_is_neither_sent_nor_trusted() -> None:
    """A Last-Modified later than now is left out, and If-Modified-Since cannot match it
    (If-None-Match still can)."""
    from datetime import UTC, datetime, timedelta

    from newsletter.feeds.conditional import http_date, not_modified, shows_last_modified

    now = datetime(2026, 3, 4, 7, 0, 0, 400_000, tzinfo=UTC)
    ahead = now.replace(microsecond=0) + timedelta(seconds=1)
    assert shows_last_modified(now.replace(microsecond=0), now)
    assert not shows_last_modified(ahead, now)
    since = {"if-modified-since": http_date(ahead)}
    assert not not_modified(since, etag='"e"', last_modified=ahead, now=now)
    assert not_modified(since, etag='"e"', last_modified=ahead, now=ahead)
    assert not_modified({"if-none-match": '"e"'}, etag='"e"', last_modified=ahead, now=now)
