"""Feed benchmark: every feed of a publication with 50 entries, and answering a 304.

The publication has 50 published editions of two briefings each, so the briefings
and editions feeds are full (50 entries) and two topic feeds hold 50 each too.
Prints one line per figure. The 304 is timed through ``serve_feed`` (what the web
app's feed route runs) on a SQLite database holding the same 50 editions: first
without a feed cache (load, build, hash, compare on every request), then with the
app's cache warm (two small queries, no rebuild).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from bench.render import edition
from newsletter import migrate
from newsletter.briefings.models import Briefing, BriefingState
from newsletter.content.edition import Edition
from newsletter.db import Database
from newsletter.digests.models import Digest, DigestItem, DigestState
from newsletter.feeds.cache import FeedCache
from newsletter.feeds.catalog import Source, all_feeds
from newsletter.feeds.views import serve_feed
from newsletter.publications.models import Publication

EDITIONS = 50
RUNS = 20
HUB = "https://hub.example.net/"


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
        hub_url=HUB,
    )


def seed(database: Database, src: Source) -> None:
    """Store the source's publication and published editions as database rows."""
    info = src.publication
    with database.session() as session:
        publication = Publication(
            slug=info.slug,
            name=info.name,
            from_name=info.name,
            from_email="bench@example.org",
            base_url=info.base_url,
            postal_address=info.postal_address,
            created_at=src.created_at,
        )
        session.add(publication)
        for one in src.editions:
            assert one.published_at is not None
            # A briefing appears in one edition of a publication only: one row per item.
            briefings = [
                Briefing(
                    slug=f"{one.edition_date.isoformat()}-{item.content.slug}",
                    state=BriefingState.APPROVED,
                    latest_revision=1,
                    approved_revision=1,
                )
                for item in one.items
            ]
            session.add_all(briefings)
            session.flush()
            session.add(
                Digest(
                    publication=publication,
                    edition_date=one.edition_date,
                    state=DigestState.PUBLISHED,
                    cutoff_at=one.published_at,
                    published_at=one.published_at,
                    items=[
                        DigestItem(
                            publication_id=publication.id,
                            briefing_id=briefing.id,
                            revision=item.revision,
                            position=item.position,
                            approved_at=item.approved_at,
                            title=item.content.title,
                            content=item.content.model_dump(mode="json"),
                        )
                        for briefing, item in zip(briefings, one.items, strict=True)
                    ],
                )
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


def _time_304(database: Database, slug: str, runs: int) -> tuple[float, float]:
    """Median ms of a 304 for the briefings Atom feed: without a cache, then with one."""

    def answer(headers: dict[str, str], cache: FeedCache | None) -> str:
        response = serve_feed(
            database,
            headers,
            publication=slug,
            kind="briefings",
            filename="atom.xml",
            hub_url=HUB,
            cache=cache,
        )
        assert response.status_code == (304 if headers else 200), response.status_code
        return response.headers["etag"]

    cache = FeedCache()
    headers = {"if-none-match": answer({}, cache)}  # also warms the cache
    uncached = _median_ms(lambda: answer(headers, None), runs)
    cached = _median_ms(lambda: answer(headers, cache), runs)
    return uncached, cached


def run(scale: float = 1.0) -> dict[str, float]:
    """Median milliseconds to build every feed of a 50-entry publication, and to answer a 304."""
    runs = max(3, round(RUNS * scale))
    src = source()
    total_bytes = _build_all(src)  # warm up: templates compile once
    with tempfile.TemporaryDirectory() as folder:
        database = Database(f"sqlite:///{Path(folder) / 'bench.sqlite3'}")
        try:
            migrate.upgrade(database.engine)
            seed(database, src)
            uncached, cached = _time_304(database, src.publication.slug, runs)
        finally:
            database.dispose()
    figures = {
        "all_feeds_ms": _median_ms(lambda: _build_all(src), runs),
        "not_modified_uncached_ms": uncached,
        "not_modified_ms": cached,
        "all_feeds_kb": total_bytes / 1000,
    }
    count = sum(1 for _ in all_feeds(src)) * 3
    print(
        f"all {count} feeds of a publication with {EDITIONS} editions: "
        f"{figures['all_feeds_ms']:.1f} ms median of {runs} runs, {figures['all_feeds_kb']:.0f} KB"
    )
    print(
        f"304 Not Modified for a 50-entry Atom feed (SQLite): {cached:.2f} ms median "
        f"with the feed cache, {uncached:.2f} ms rebuilding"
    )
    return figures
