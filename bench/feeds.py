"""Feed benchmark: every feed of a publication with 50 entries, and answering a 304.

The publication has 50 published editions of two briefings each, so the briefings
and editions feeds are full (50 entries) and two topic feeds hold 50 each too.
Prints one line per figure; the 304 is timed through the feed view's response
function (build, hash, compare), as the web app answers it.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from bench.render import edition
from newsletter.digests.edition import Edition
from newsletter.feeds.catalog import Source, all_feeds, feed_for
from newsletter.feeds.conditional import etag_of
from newsletter.feeds.views import feed_response

EDITIONS = 50
RUNS = 20


def source(editions: int = EDITIONS) -> Source:
    """A publication with ``editions`` published editions of two briefings each."""
    template = edition(2)
    start = date(2026, 1, 1)
    published: list[Edition] = []
    for n in range(editions):
        day = start + timedelta(days=n)
        at = datetime(day.year, day.month, day.day, 7, tzinfo=UTC)
        published.append(replace(template, id=n + 1, edition_date=day, published_at=at))
    return Source(
        publication=template.publication,
        editions=tuple(published),
        created_at=datetime(2025, 12, 1, tzinfo=UTC),
        hub_url="https://hub.example.net/",
    )


def _median_ms(work: Callable[[], object], runs: int) -> float:
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        timings.append((time.perf_counter() - start) * 1000)
    return statistics.median(timings)


def _build_all(src: Source) -> int:
    return sum(len(feed.render(fmt)) for feed in all_feeds(src) for fmt in ("rss", "atom", "json"))


def run(scale: float = 1.0) -> dict[str, float]:
    """Median milliseconds to build every feed of a 50-entry publication, and to answer a 304."""
    runs = max(3, round(RUNS * scale))
    src = source()
    total_bytes = _build_all(src)  # warm up: templates compile once
    feed = feed_for(src, "briefings")
    headers = {"if-none-match": etag_of(feed.render("atom"))}

    def answer_304() -> None:
        response = feed_response(feed_for(src, "briefings"), "atom", headers, src.hub_url)
        assert response.status_code == 304

    figures = {
        "all_feeds_ms": _median_ms(lambda: _build_all(src), runs),
        "not_modified_ms": _median_ms(answer_304, runs),
        "all_feeds_kb": total_bytes / 1000,
    }
    count = sum(1 for _ in all_feeds(src)) * 3
    print(
        f"all {count} feeds of a publication with {EDITIONS} editions: "
        f"{figures['all_feeds_ms']:.1f} ms median of {runs} runs, {figures['all_feeds_kb']:.0f} KB"
    )
    print(f"304 Not Modified for a 50-entry Atom feed: {figures['not_modified_ms']:.2f} ms median")
    return figures
