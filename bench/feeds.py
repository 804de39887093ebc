"""Feed benchmark: building feeds, their cost as the archive grows, and serving them.

1. Every feed of a publication with 50 published editions of two briefings each
   (the briefings and editions feeds full, two topic feeds of 50), built from plain
   values; and a 304 through ``serve_feed`` on SQLite, rebuilding each time and
   from the feed server's memory.
2. Per-feed build cost (what a cache miss costs: load, render three formats) at 50
   and at 2,000 editions with 1,000 topics: the briefings, editions, a broad topic
   (full at both sizes) and a niche topic feed, plus the topic index from scratch and
   its update when the data version moves (``topic_index_step``); then a sweep of
   every topic feed through one feed server, cold then warm, and its cache's bytes.
3. With wrk installed and ``--scale`` at least 0.5: the web app's feed 200 (plain,
   gzip) and 304 under wrk against Python's static file server for the same bytes,
   with the app's CPU per request (``bench/_feedhttp.py``).

Runs on SQLite, or on a scratch PostgreSQL database when a server is named.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from bench import _feedhttp
from bench.render import edition
from newsletter import migrate
from newsletter.briefings.models import Briefing, BriefingState
from newsletter.content.briefing import Topic
from newsletter.content.edition import Edition
from newsletter.db import Database
from newsletter.digests.models import Digest, DigestItem, DigestState
from newsletter.feeds.cache import FeedCache
from newsletter.feeds.catalog import Source, all_feeds
from newsletter.feeds.loading import (
    build_topic_index,
    load_feed,
    read_topic_names,
    topic_index,
)
from newsletter.feeds.serving import FeedServer
from newsletter.feeds.views import serve_feed
from newsletter.publications.models import Publication
from newsletter.publications.services import get_publication
from newsletter.publications.topics import topic_slugs
from tests.scratchdb import fresh_postgres

EDITIONS = 50
RUNS = 20
HUB = "https://hub.example.net/"
ARCHIVE = 2000  # editions in the large archive
TOPICS = 1000  # niche topics, each briefing carries one
BROAD = ("Economy", "Politics")  # every briefing carries one: full feeds at any size
FORMATS = ("rss", "atom", "json")


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
    """Median ms of a 304 for the briefings Atom feed: rebuilding each time, then from a
    feed server's memory (what a web worker keeps)."""

    def answer(headers: dict[str, str], server: FeedServer | None) -> str:
        response = serve_feed(
            database,
            headers,
            publication=slug,
            kind="briefings",
            filename="atom.xml",
            hub_url=HUB,
            cache=None if server is not None else FeedCache(),
            server=server,
        )
        assert response.status_code == (304 if headers else 200), response.status_code
        return response.headers["etag"]

    server = FeedServer(database)
    try:
        headers = {"if-none-match": answer({}, server)}  # also warms the server
        uncached = _median_ms(lambda: answer(headers, None), runs)
        cached = _median_ms(lambda: answer(headers, server), runs)
    finally:
        server.close()
    return uncached, cached


def seed_archive(database: Database, editions: int, topics: int) -> None:
    """A publication ``bench`` with ``editions`` published editions of two briefings each;
    briefing ``i`` carries a broad topic (alternating) and niche topic ``i % topics``."""
    template = edition(2)
    start = date(2020, 1, 1)
    with database.session() as session:
        publication = Publication(
            slug="bench",
            name="Bench Daily",
            from_name="Bench Daily",
            from_email="bench@example.org",
            base_url=template.publication.base_url,
            postal_address="1 Test Road, Testville",
            created_at=datetime(2019, 12, 1, tzinfo=UTC),
        )
        session.add(publication)
        session.flush()
        for n in range(editions):
            day = start + timedelta(days=n)
            at = datetime(day.year, day.month, day.day, 7, tzinfo=UTC)
            briefings = [
                Briefing(
                    slug=f"{day.isoformat()}-{k}",
                    state=BriefingState.APPROVED,
                    latest_revision=1,
                    approved_revision=1,
                )
                for k in range(2)
            ]
            session.add_all(briefings)
            session.flush()
            items = []
            for k, (briefing, item) in enumerate(zip(briefings, template.items, strict=True)):
                number = 2 * n + k
                content = item.content.model_copy(
                    update={
                        "slug": briefing.slug,
                        "title": f"Briefing {number}: regulators defend the rules",
                        "topics": (Topic(name=BROAD[k]), Topic(name=f"Niche {number % topics}")),
                    }
                )
                items.append(
                    DigestItem(
                        publication_id=publication.id,
                        briefing_id=briefing.id,
                        revision=1,
                        position=k,
                        approved_at=at - timedelta(hours=2, minutes=k),
                        title=content.title,
                        content=content.model_dump(mode="json"),
                    )
                )
            session.add(
                Digest(
                    publication=publication,
                    edition_date=day,
                    state=DigestState.SENT,
                    cutoff_at=at,
                    published_at=at,
                    items=items,
                )
            )
            if n % 200 == 199:
                session.flush()


@contextmanager
def scratch_database(database_url: str | None, db_prefix: str) -> Iterator[Database]:
    """A migrated scratch database: PostgreSQL on ``database_url``, else SQLite."""
    with tempfile.TemporaryDirectory(prefix="bench-feeds-") as folder:
        if database_url:
            with fresh_postgres(database_url, db_prefix) as url:
                database = Database(url)
                try:
                    migrate.upgrade(database.engine)
                    yield database
                finally:
                    database.dispose()
        else:
            database = Database(f"sqlite:///{Path(folder) / 'feeds.sqlite3'}")
            try:
                migrate.upgrade(database.engine)
                yield database
            finally:
                database.dispose()


def _build_costs(database: Database, runs: int, niche: str) -> dict[str, float]:
    """Median ms to load and render (three formats) each kind of feed, and the topic index."""
    with database.session() as session:
        publication = get_publication(session, "bench")
        registry = topic_slugs(session, publication)
        index = build_topic_index(session, publication, registry)

    def feed_ms(kind: str) -> float:
        def work() -> None:
            with database.session() as session:
                pub = get_publication(session, "bench")
                feed = load_feed(session, pub, kind, index=lambda _: index)
                for fmt in FORMATS:
                    feed.render(fmt)

        return _median_ms(work, runs)

    def index_ms() -> float:
        def work() -> None:
            with database.session() as session:
                pub = get_publication(session, "bench")
                build_topic_index(session, pub, registry)

        return _median_ms(work, runs)

    with database.session() as session:
        known = read_topic_names(session, get_publication(session, "bench"))

    def index_step_ms() -> float:
        # What a feed server does when the version moves: list the editions, read the
        # items of new or changed ones (none here), regroup.
        def work() -> None:
            with database.session() as session:
                pub = get_publication(session, "bench")
                topic_index(read_topic_names(session, pub, known), registry)

        return _median_ms(work, runs)

    return {
        "briefings": feed_ms("briefings"),
        "editions": feed_ms("editions"),
        "broad_topic": feed_ms("topics/economy"),
        "niche_topic": feed_ms(f"topics/{niche}"),
        "topic_index": index_ms(),
        "topic_index_step": index_step_ms(),
    }


def _sweep(database: Database, topics: int) -> dict[str, float]:
    """Every topic feed (Atom) through one feed server: cold, then warm; its cache bytes."""
    server = FeedServer(database)
    kinds = [f"topics/niche-{n}" for n in range(topics)]
    try:
        timings = []
        for _ in range(2):
            start = time.process_time()
            for kind in kinds:
                server.get("bench", kind, "atom")
            timings.append(time.process_time() - start)
        return {
            "sweep_cold_s": timings[0],
            "sweep_warm_s": timings[1],
            "sweep_builds": float(server.builds),
            "cache_mb": server.cache.bytes / 1e6,
        }
    finally:
        server.close()


def scaling(scale: float, database_url: str | None, db_prefix: str, runs: int) -> dict[str, float]:
    """Per-feed build cost at 50 and at 2,000 editions (1,000 topics), and the topic sweep.

    Both archives exist side by side and are measured in turns (small, large, small,
    large), keeping each figure's lower median: on a shared machine the load moves
    over minutes, and measuring one size long after the other would compare loads.
    """
    topics = max(10, round(TOPICS * scale))
    sizes = {"small": EDITIONS, "large": max(EDITIONS + 10, round(ARCHIVE * scale))}
    figures: dict[str, float] = {}
    with (
        scratch_database(database_url, db_prefix) as small,
        scratch_database(database_url, db_prefix) as large,
    ):
        databases = {"small": small, "large": large}
        for size, editions in sizes.items():
            seed_archive(databases[size], editions, topics)
        for _ in range(2):
            for size, database in databases.items():
                costs = _build_costs(database, runs, niche="niche-1")
                for name, value in costs.items():
                    key = f"{size}_{name}_ms"
                    figures[key] = min(value, figures.get(key, value))
        figures.update(_sweep(large, topics))
    for size, editions in sizes.items():
        names = ("briefings", "editions", "broad_topic", "niche_topic", "topic_index")
        print(
            f"per-feed build (load + 3 formats), {editions} editions, {topics} topics: "
            + ", ".join(f"{name} {figures[f'{size}_{name}_ms']:.1f} ms" for name in names)
            + f", topic_index_step {figures[f'{size}_topic_index_step_ms']:.1f} ms"
        )
    per_feed = figures["sweep_cold_s"] / topics * 1000
    print(
        f"all {topics} topic feeds through one feed server, {sizes['large']} editions: "
        f"cold {figures['sweep_cold_s']:.2f} s CPU ({per_feed:.1f} ms a feed, "
        f"{figures['sweep_builds']:.0f} builds of 3 formats), warm "
        f"{figures['sweep_warm_s'] * 1000:.0f} ms; cache {figures['cache_mb']:.1f} MB"
    )
    return figures


def http(scale: float, database_url: str | None, db_prefix: str) -> dict[str, float]:
    """The web app against a static file server for the same feed, under wrk."""
    if not _feedhttp.wrk_found() or scale < 0.5:
        print("HTTP: skipped (needs wrk and --scale >= 0.5)")
        return {}
    with scratch_database(database_url, db_prefix) as database:
        seed(database, source())
        url = database.engine.url.render_as_string(hide_password=False)
        path = f"/p/{source().publication.slug}/feeds/briefings/rss.xml"
        found = _feedhttp.measure(url, path, seconds=5 * scale)
    share = found["app_200_rps"] / found["static_200_rps"] * 100
    print(
        f"HTTP, {found['feed_kb']:.0f} KB RSS feed, wrk {_feedhttp.CONNECTIONS} connections: "
        f"static server {found['static_200_rps']:.0f} req/s; app 200 "
        f"{found['app_200_rps']:.0f} req/s ({share:.0f} % of static, "
        f"{found['app_200_cpu_ms']:.2f} ms CPU), gzip {found['app_200_gzip_rps']:.0f} req/s "
        f"({found['app_200_gzip_cpu_ms']:.2f} ms), 304 {found['app_304_rps']:.0f} req/s "
        f"({found['app_304_cpu_ms']:.2f} ms CPU)"
    )
    return {f"http_{name}": value for name, value in found.items()}


def run(
    scale: float = 1.0, database_url: str | None = None, db_prefix: str = "newsletter_bench_"
) -> dict[str, float]:
    """Build every feed, the per-feed cost at two archive sizes, and (with wrk) HTTP."""
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
    figures.update(scaling(scale, database_url, db_prefix, runs))
    figures.update(http(scale, database_url, db_prefix))
    return figures
