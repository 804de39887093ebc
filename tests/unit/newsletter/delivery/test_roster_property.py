"""Who gets an edition is written twice: the SQL of ``roster._bulk`` and ``skip_reason``.

Planning queues the "bulk" readers with SQL (their topics decided once per distinct
choice) and judges everyone else in Python with ``planning.skip_reason``. The two
must agree: a subscription is bulk exactly when ``skip_reason`` passes it but for
its topics, for which it can only say "no matching topic"; and the rows
``roster.candidates`` reads for the Python pass carry the very facts generated.
Hypothesis generates whole lists of subscriptions (states, topic filters, pauses on
either side of now, suppressions, erased addresses, other lists, earlier planning)
and checks that on SQLite and on PostgreSQL. One database per dialect and session;
each example runs in a transaction that is rolled back, so rows never leak.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from newsletter import migrate
from newsletter.db import Database
from newsletter.delivery.models import Delivery, SkipReason
from newsletter.delivery.planning import Candidate, skip_reason
from newsletter.delivery.roster import Audience, _bulk, candidates
from subscribers.addresses import email_hash
from subscribers.models import (
    MailingList,
    Subscriber,
    Subscription,
    SubscriptionState,
    Suppression,
    SuppressionReason,
)
from subscribers.services import ensure_default_list
from tests import scratchdb
from tests.conftest import DB_PREFIX
from tests.factories import T0, make_publication

NOW = T0 + timedelta(hours=3)
DIGEST = 7  # deliveries carry no foreign key: any id names "this edition"
OTHER_DIGEST = 8
# Case and accents matter to the topic rule (it case-folds), not to who is plain.
TOPICS = ("Rail", "rail", "SCIENCE", "Économie", "économie")
LOCALS = ("ann", "Bob.Smith", "zoë", "名前", "o'neil")  # hashed as UTF-8 by both sides
# Pauses ending well before, a microsecond before, exactly at, just after and well after now.
PAUSE_ENDS = (
    timedelta(days=-1),
    timedelta(microseconds=-1),
    timedelta(0),
    timedelta(microseconds=1),
    timedelta(days=1),
)
LOCALES = ("", "", "de", "en-GB", "DE", "fr")
ZONES: tuple[tzinfo, ...] = (UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5)))


@dataclass(frozen=True)
class Row:
    """One generated subscriber with one subscription, and what surrounds it."""

    local: str
    state: SubscriptionState
    topics: tuple[str, ...]
    pause_end: timedelta | None
    zone: tzinfo
    suppression: SuppressionReason | None  # ERASED keeps only the hash, as erasure does
    decoy_suppression: bool  # another address is suppressed, not this one
    on_edition_list: bool
    planned_for: int | None  # the digest an earlier planning pass wrote it into
    locale: str = ""  # the reader's language as stored (old rows may not be canonical)

    def address(self, index: int) -> str:
        return f"{self.local}{index}@example.org"

    def paused_until(self) -> datetime | None:
        return None if self.pause_end is None else (NOW + self.pause_end).astimezone(self.zone)


# Each field leans towards its "plain" value, so that rows one step from plain (where
# a rule that drifted would show) come up often.
rows = st.builds(
    Row,
    local=st.sampled_from(LOCALS),
    state=st.sampled_from((SubscriptionState.CONFIRMED, *SubscriptionState)),
    topics=st.just(()) | st.lists(st.sampled_from(TOPICS), min_size=1, max_size=3).map(tuple),
    pause_end=st.sampled_from((None, *PAUSE_ENDS)),
    zone=st.sampled_from(ZONES),
    suppression=st.none() | st.none() | st.sampled_from(SuppressionReason),
    decoy_suppression=st.booleans(),
    on_edition_list=st.sampled_from((True, True, True, False)),
    planned_for=st.sampled_from((None, None, DIGEST, OTHER_DIGEST)),
    locale=st.sampled_from(LOCALES),
)
PLAIN = Row(
    local="ann",
    state=SubscriptionState.CONFIRMED,
    topics=(),
    pause_end=None,
    zone=UTC,
    suppression=None,
    decoy_suppression=False,
    on_edition_list=True,
    planned_for=None,
)
# A plain row and every row one field away from it, always tried first.
ONE_STEP = [
    PLAIN,
    *(replace(PLAIN, state=state) for state in SubscriptionState),
    *(replace(PLAIN, topics=(topic,)) for topic in TOPICS),
    *(replace(PLAIN, pause_end=end, zone=zone) for end in PAUSE_ENDS for zone in ZONES),
    *(replace(PLAIN, suppression=reason) for reason in SuppressionReason),
    *(replace(PLAIN, local=local) for local in LOCALS),
    replace(PLAIN, decoy_suppression=True),
    replace(PLAIN, on_edition_list=False),
    replace(PLAIN, planned_for=DIGEST),
    replace(PLAIN, planned_for=OTHER_DIGEST),
    *(replace(PLAIN, locale=locale) for locale in LOCALES),
]


@dataclass(frozen=True)
class Lists:
    """A migrated database with a publication, the edition's list and another list."""

    database: Database
    edition_list: int
    other_list: int


def _seeded(database: Database) -> Lists:
    migrate.upgrade(database.engine)
    with database.session() as session:
        publication = make_publication(session)
        edition_list = ensure_default_list(session, publication)
        other = MailingList(slug="other", name="Other", publication_id=publication.id)
        session.add(other)
        session.flush()
        return Lists(database, edition_list.id, other.id)


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def lists(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Lists]:
    """One seeded database per dialect for the whole session."""
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("roster") / "roster.sqlite3"
        database = Database(f"sqlite:///{path}")
        yield _seeded(database)
        database.dispose()
        return
    server = request.getfixturevalue("postgres_server_url")
    with scratchdb.fresh_postgres(server, DB_PREFIX) as url:
        database = Database(url)
        yield _seeded(database)
        database.dispose()


def _write(session: Session, lists: Lists, generated: list[Row]) -> dict[int, Candidate]:
    """Store the rows; the candidate each one is on the edition's list (unplanned only)."""
    expected: dict[int, Candidate] = {}
    for index, row in enumerate(generated):
        address = row.address(index)
        subscriber = Subscriber(email=address, created_at=T0, locale=row.locale)
        session.add(subscriber)
        session.flush()
        list_id = lists.edition_list if row.on_edition_list else lists.other_list
        session.add(
            Subscription(
                subscriber_id=subscriber.id,
                list_id=list_id,
                state=row.state,
                topics=list(row.topics),
                paused_until=row.paused_until(),
                created_at=T0,
            )
        )
        if row.suppression is not None:
            kept = None if row.suppression is SuppressionReason.ERASED else address
            session.add(
                Suppression(email_hash=email_hash(address), email=kept, reason=row.suppression)
            )
        if row.decoy_suppression:
            decoy = f"not-{address}"
            session.add(
                Suppression(
                    email_hash=email_hash(decoy), email=decoy, reason=SuppressionReason.MANUAL
                )
            )
        if row.planned_for is not None:
            session.add(
                Delivery(digest_id=row.planned_for, subscriber_id=subscriber.id, list_id=list_id)
            )
        if row.on_edition_list and row.planned_for != DIGEST:
            expected[subscriber.id] = Candidate(
                subscriber_id=subscriber.id,
                list_id=list_id,
                email=address,
                state=row.state,
                topics=row.topics,
                paused_until=row.paused_until(),
                suppressed=row.suppression is not None,
                locale=row.locale,
            )
    session.flush()
    return expected


@settings(max_examples=60, deadline=None)
@given(generated=st.lists(rows, max_size=10), edition_topics=st.frozensets(st.sampled_from(TOPICS)))
@example(generated=ONE_STEP, edition_topics=frozenset())
@example(generated=ONE_STEP, edition_topics=frozenset(TOPICS))
def test_bulk_readers_are_exactly_those_skip_reason_passes_but_for_their_topics(
    lists: Lists, generated: list[Row], edition_topics: frozenset[str]
) -> None:
    """``_bulk`` selects a subscription iff ``skip_reason`` passes it with its topics cleared.

    For those it selects, the only reason ``skip_reason`` can give is that their topics
    match none of the edition's; and the rows the Python pass reads come back exactly
    as they were written.
    """
    with lists.database.engine.connect() as connection, connection.begin() as transaction:
        session = Session(bind=connection)
        try:
            expected = _write(session, lists, generated)
            audience = Audience(lists.edition_list)
            plain = session.execute(
                _bulk(session, DIGEST, audience, NOW, Subscription.subscriber_id)
            ).all()
            read = list(candidates(session, DIGEST, audience, page=3))
        finally:
            session.close()
            transaction.rollback()
    folded = frozenset(topic.casefold() for topic in edition_topics)
    passed = {
        subscriber_id
        for subscriber_id, candidate in expected.items()
        if skip_reason(replace(candidate, topics=()), frozenset(), NOW) is None
    }
    assert {subscriber_id for (subscriber_id,) in plain} == passed
    assert len(plain) == len(passed)
    for subscriber_id in passed:
        candidate = expected[subscriber_id]
        chosen = {topic.casefold() for topic in candidate.topics}
        matches = not chosen or bool(chosen & folded)
        assert skip_reason(candidate, folded, NOW) == (
            None if matches else SkipReason.NO_MATCHING_TOPIC
        )
    assert {candidate.subscriber_id: candidate for candidate in read} == expected
