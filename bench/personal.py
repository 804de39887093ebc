"""Personal digests benchmark: readers with 50 topic selections in 24 zones vs one edition for all.

The same dispatch (plan, claim, send, record, through the SendGrid test server) runs
twice on the same number of readers: once as a single variant (no topics, one
delivery instant), once with each reader in one of 24 zones (07:00 local, every
instant already past, so nothing waits) and one of 50 distinct topic selections, so
planning renders 50 variants and cuts 24 × 50 cells of batches. Target: the personal
run at >= 90 % of the single-variant rate. Rendering time per variant is printed.
N = 100k on SQLite, 1M on PostgreSQL when ``NEWSLETTER_TEST_DATABASE_URL`` (or
``NEWSLETTER_BENCH_DATABASE_URL``) names a server; ``scale`` multiplies N.
"""

from __future__ import annotations

import itertools
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from statistics import mean

from sqlalchemy import insert, text

from bench._stack import DEFAULT_PREFIX
from bench.dispatch import CHUNK, _postgres_url, analyze, measure, subscribe_everyone
from bench.render import edition
from newsletter.briefings.models import Briefing, BriefingState
from newsletter.db import Database
from newsletter.digests.models import Digest, DigestItem
from newsletter.digests.services import render_digest
from newsletter.digests.variants import item_topics, select_positions, variant_edition
from newsletter.localtime import local_instant
from newsletter.publications.models import Publication, TopicMode
from newsletter.render.email import render_email
from newsletter.schedules.models import EditionKind, EditionState, ScheduledEdition
from subscribers.models import Subscriber, Subscription, SubscriptionState
from subscribers.services import ensure_default_list
from tests.scratchdb import fresh_postgres

SQLITE_N = 100_000
POSTGRES_N = 1_000_000
TARGET = 0.90
TOPICS = tuple(f"Topic {n}" for n in range(1, 11))
# Ten single topics and forty pairs: fifty selections, each a different set of briefings.
PAIRS: tuple[tuple[str, ...], ...] = tuple(itertools.combinations(TOPICS, 2))[:40]
SELECTIONS: tuple[tuple[str, ...], ...] = tuple((topic,) for topic in TOPICS) + PAIRS
# Twenty-four zones, one per whole-hour offset from UTC-11 to UTC+12.
ZONES = (
    "Pacific/Pago_Pago",
    "Pacific/Honolulu",
    "America/Anchorage",
    "America/Los_Angeles",
    "America/Denver",
    "America/Chicago",
    "America/New_York",
    "America/Halifax",
    "America/Sao_Paulo",
    "Atlantic/South_Georgia",
    "Atlantic/Azores",
    "Europe/London",
    "Europe/Paris",
    "Europe/Athens",
    "Europe/Moscow",
    "Asia/Dubai",
    "Asia/Karachi",
    "Asia/Dhaka",
    "Asia/Bangkok",
    "Asia/Shanghai",
    "Asia/Tokyo",
    "Australia/Brisbane",
    "Pacific/Noumea",
    "Pacific/Auckland",
)
SEND_TIME = clock_time(7, 0)
T0 = datetime(2026, 3, 4, 6, 0, tzinfo=UTC)


def _day() -> date:
    """Two days ago: 07:00 has passed in every zone, so no zone group waits."""
    return (datetime.now(UTC) - timedelta(days=2)).date()


def _edition(database: Database, *, personal: bool) -> tuple[int, int]:
    """A publication and its rendered edition of ten briefings, one topic each; (digest, list)."""
    day = _day()
    sample = edition(len(TOPICS))
    with database.session() as session:
        publication = Publication(
            slug="bench",
            name="Bench Daily",
            from_name="Bench Daily",
            from_email="bench@example.org",
            base_url="https://bench.example.org",
            postal_address="1 Bench Road",
            timezone="Europe/London",
            send_time=SEND_TIME,
            local_delivery=personal,
            topic_mode=TopicMode.ONLY,
        )
        session.add(publication)
        session.flush()
        list_id = ensure_default_list(session, publication).id
        digest = Digest(publication=publication, edition_date=day, cutoff_at=T0)
        session.add(digest)
        session.flush()
        for position, (item, topic) in enumerate(zip(sample.items, TOPICS, strict=True), 1):
            content = item.content.model_dump(mode="json")
            content["topics"] = [{"name": topic, "description": ""}]
            briefing = Briefing(
                slug=content["slug"], state=BriefingState.APPROVED, latest_revision=1
            )
            session.add(briefing)
            session.flush()
            digest.items.append(
                DigestItem(
                    publication_id=publication.id,
                    briefing_id=briefing.id,
                    revision=1,
                    position=position,
                    approved_at=T0,
                    title=content["title"],
                    content=content,
                )
            )
        session.flush()
        render_digest(session, digest.id)
        if personal:
            first = min(local_instant(day, SEND_TIME, zone) for zone in ZONES)
            session.add(
                ScheduledEdition(
                    publication_id=publication.id,
                    edition_date=day,
                    due_at=first,
                    kind=EditionKind.RECURRING,
                    state=EditionState.STARTED,
                    digest_id=digest.id,
                )
            )
        return digest.id, list_id


def _readers(database: Database, list_id: int, count: int, *, personal: bool) -> None:
    """``count`` confirmed readers; personal ones spread over the zones and selections."""
    for start in range(0, count, CHUNK):
        numbers = range(start, min(count, start + CHUNK))
        with database.session() as session:
            ids = session.scalars(
                insert(Subscriber).returning(Subscriber.id, sort_by_parameter_order=True),
                [
                    {
                        "email": f"r{n}@example{n % 97}.org",
                        "name": f"Reader {n}",
                        "timezone": ZONES[n % len(ZONES)] if personal else None,
                        "created_at": T0,
                    }
                    for n in numbers
                ],
            ).all()
            if personal:
                session.execute(
                    insert(Subscription),
                    [
                        {
                            "subscriber_id": subscriber_id,
                            "list_id": list_id,
                            "state": SubscriptionState.CONFIRMED,
                            "topics": list(SELECTIONS[(n // len(ZONES)) % len(SELECTIONS)]),
                            "created_at": T0,
                        }
                        for subscriber_id, n in zip(ids, numbers, strict=True)
                    ],
                )
    if not personal:
        subscribe_everyone(database, list_id)
    analyze(database)


def seed_single(database: Database, count: int) -> int:
    """One edition, one email, one instant for ``count`` readers; the digest id."""
    digest_id, list_id = _edition(database, personal=False)
    _readers(database, list_id, count, personal=False)
    return digest_id


def seed_personal(database: Database, count: int) -> int:
    """``count`` readers across 24 zones and 50 topic selections; the digest id."""
    digest_id, list_id = _edition(database, personal=True)
    _readers(database, list_id, count, personal=True)
    return digest_id


def render_times(database: Database, digest_id: int) -> list[float]:
    """Seconds to render each of the 50 variants' emails (as planning does, once each)."""
    seconds: list[float] = []
    with database.session() as session:
        digest = session.get(Digest, digest_id)
        assert digest is not None
        items = item_topics(digest)
        for selection in SELECTIONS:
            positions = select_positions(items, selection, TopicMode.ONLY)
            assert positions is not None
            started = time.perf_counter()
            render_email(variant_edition(session, digest, positions))
            seconds.append(time.perf_counter() - started)
    return seconds


def _compare(
    label: str, url_for: Callable[[], AbstractContextManager[str]], count: int
) -> dict[str, float]:
    """Both runs, each on a fresh database from ``url_for()``; the figures and the ratio."""
    with url_for() as url:
        cache = _buffer_cache(url)
        single = measure(label, url, count, seeder=seed_single)
    with url_for() as url:
        personal = measure(label, url, count, seeder=_seed_and_time)
    if cache:
        print(f"  PostgreSQL's shared_buffers: {cache} (docs/personal-digests.md, Speed)")
    ratio = personal["rate"] / single["rate"]
    print(
        f"{label}: personal digests at {ratio:.0%} of the single-variant rate "
        f"({personal['rate']:,.0f} vs {single['rate']:,.0f} recipients/s; target >= {TARGET:.0%}); "
        f"dispatch CPU {personal['cpu'] / count * 1e6:.0f} vs {single['cpu'] / count * 1e6:.0f} "
        "µs per recipient"
    )
    return {"single_rate": single["rate"], "personal_rate": personal["rate"], "ratio": ratio}


def _buffer_cache(url: str) -> str | None:
    """PostgreSQL's ``shared_buffers`` at ``url`` (None on SQLite).

    The personal run reads each batch's readers from all over a million-row table,
    the single one from consecutive rows: below about 1 GB of buffer cache the
    personal run pays for that in reads and in writing out evicted pages, so the
    ratio means little without this figure beside it.
    """
    database = Database(url)
    try:
        if database.engine.dialect.name != "postgresql":
            return None
        with database.engine.connect() as connection:
            return str(connection.execute(text("SHOW shared_buffers")).scalar_one())
    finally:
        database.dispose()


def _seed_and_time(database: Database, count: int) -> int:
    digest_id = seed_personal(database, count)
    times = render_times(database, digest_id)
    print(
        f"  rendering per variant: mean {mean(times) * 1000:.1f} ms, "
        f"max {max(times) * 1000:.1f} ms ({len(times)} variants, "
        f"{sum(times):.2f} s in all)"
    )
    return digest_id


def run(
    scale: float = 1.0, *, database_url: str | None = None, db_prefix: str = DEFAULT_PREFIX
) -> dict[str, float]:
    """The comparison on PostgreSQL (1M × scale) if a server is configured, else SQLite."""
    server_url = _postgres_url() if database_url is None else database_url
    if server_url:
        count = max(100, int(POSTGRES_N * scale))
        figures = _compare("PostgreSQL", lambda: fresh_postgres(server_url, db_prefix), count)
    else:
        count = max(100, int(SQLITE_N * scale))
        figures = _compare("SQLite", _sqlite_file, count)
    return figures


@contextmanager
def _sqlite_file() -> Iterator[str]:
    """The URL of a fresh SQLite file in a temporary folder, removed after."""
    with tempfile.TemporaryDirectory() as folder:
        yield f"sqlite:///{Path(folder) / 'bench.sqlite3'}"
