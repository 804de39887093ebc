"""Same-day catch-up: a reader confirming after the edition went out gets it once, late,
while it is fresh, through the ledger; counted in the report."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select, update

from newsletter.db import Database
from newsletter.delivery.catchup import catch_up_edition, fresh_editions, plan_late_readers
from newsletter.delivery.models import Delivery, DeliveryState, SendBatch, SkipReason
from newsletter.delivery.report import delivery_report
from newsletter.delivery.services import DispatchOptions
from newsletter.digests.models import Digest, DigestState
from newsletter.digests.services import assemble_digest, render_digest
from newsletter.pipeline.cli_output import print_report
from newsletter.pipeline.dispatch import dispatch, send_waiting
from newsletter.providers.memory import MemorySender
from subscribers import services
from subscribers.models import ConsentSource, Subscription, SubscriptionState
from subscribers.services import SignupRequest, ensure_default_list
from subscribers.tokens import TokenSubject
from subscribers.transitions import Evidence
from tests.factories import T0, make_briefing, make_publication
from tests.unit.newsletter.delivery.dispatch_factories import (
    BASE_URL,
    EDITION_DATE,
    add_subscribers,
    edition_with_readers,
    tokens,
)
from tests.unit.newsletter.delivery.test_services import Clock
from tests.unit.subscribers.factories import NoConfirm

WINDOW = timedelta(hours=3)
OPTIONS = DispatchOptions(freshness_window=WINDOW)


def _two_topic_edition(database: Database) -> tuple[int, int]:
    """An edition of one Science and one Harbour briefing, two readers of everything."""
    with database.session() as session:
        publication = make_publication(session, slug="morning")
        for number, topic in enumerate(("Science", "Harbour"), start=1):
            make_briefing(
                session,
                slug=f"story-{number}",
                topics=[topic],
                approved_at=T0 + timedelta(minutes=number),
            )
        digest = assemble_digest(
            session, publication, EDITION_DATE, now=T0 + timedelta(hours=1)
        ).digest
        render_digest(session, digest.id)
        list_id = ensure_default_list(session, publication).id
        add_subscribers(session, list_id, 2)
        return digest.id, list_id


def _sent_edition(
    database: Database, *, two_topics: bool = False
) -> tuple[int, int, Clock, MemorySender]:
    """An edition sent to two readers; (digest id, list id, clock, sender)."""
    if two_topics:
        digest_id, list_id = _two_topic_edition(database)
    else:
        digest_id, list_id = edition_with_readers(database, 2)
    clock, sender = Clock(), MemorySender()
    report = dispatch(
        database,
        digest_id,
        sender,
        base_url=BASE_URL,
        tokens=tokens(),
        options=OPTIONS,
        clock=clock,
    )
    assert report.state == "sent"
    return digest_id, list_id, clock, sender


def _join(
    database: Database,
    email: str,
    at: datetime,
    *,
    source: ConsentSource = ConsentSource.WEB,
    **fields: object,
) -> int:
    """A single opt-in sign-up confirmed at ``at``; the subscriber id."""
    with database.session() as session:
        request = SignupRequest(
            email=email,
            list_slug="morning",
            evidence=Evidence(source),
            skip_opt_in=True,
            **fields,  # type: ignore[arg-type]
        )
        result = services.sign_up(session, request, confirmer=NoConfirm(), now=at)
        assert result.subscription is not None
        return result.subscription.subscriber_id


def _late_rows(database: Database, digest_id: int) -> list[tuple[int, DeliveryState, bool]]:
    with database.session() as session:
        rows = session.execute(
            select(Delivery.subscriber_id, Delivery.state, Delivery.late)
            .where(Delivery.digest_id == digest_id, Delivery.late.is_(True))
            .order_by(Delivery.subscriber_id)
        ).all()
    return [(r[0], r[1], r[2]) for r in rows]


def _send_waiting(database: Database, digest_id: int, sender: MemorySender, clock: Clock) -> str:
    report = send_waiting(
        database,
        digest_id,
        sender,
        base_url=BASE_URL,
        tokens=tokens(),
        options=OPTIONS,
        clock=clock,
    )
    return report.state


def test_a_reader_confirming_after_the_send_gets_it_once_late(any_database: Database) -> None:
    """One late delivery in a new batch with the edition's deadline; sent; counted; once."""
    digest_id, _, clock, sender = _sent_edition(any_database)
    joined_at = clock.now + timedelta(minutes=30)
    subscriber_id = _join(any_database, "late@example.org", joined_at)
    with any_database.session() as session:
        [fresh] = fresh_editions(session, joined_at)
        assert fresh.digest_id == digest_id
        caught = plan_late_readers(session, now=joined_at)
        assert caught.readers == {digest_id: 1}
        [batch_id] = caught.batch_ids
        batch = session.get_one(SendBatch, batch_id)
        assert (batch.size, batch.deliver_by) == (1, fresh.deliver_by)
        assert session.get_one(Digest, digest_id).state is DigestState.SENDING
    assert _late_rows(any_database, digest_id) == [(subscriber_id, DeliveryState.QUEUED, True)]
    # A second pass (another tick) adds nobody.
    with any_database.session() as session:
        assert plan_late_readers(session, now=joined_at).readers == {}
    clock.now = joined_at + timedelta(minutes=1)
    assert _send_waiting(any_database, digest_id, sender, clock) == "sent"
    assert len(sender.to("late@example.org")) == 1
    assert len(sender.sent) == 3
    with any_database.session() as session:
        report = delivery_report(session, digest_id)
        assert (report.late, report.late_sent, report.sent) == (1, 1, 3)
        assert report.as_dict()["late"] == 1
        assert plan_late_readers(session, now=clock.now).readers == {}
    print_report(report)  # the CLI's table names late recipients (smoke)


def test_not_after_the_freshness_window(any_database: Database) -> None:
    """A reader confirming once the edition's deadline has passed is not caught up."""
    digest_id, _, clock, _ = _sent_edition(any_database)
    too_late = clock.now + WINDOW + timedelta(minutes=1)
    _join(any_database, "toolate@example.org", too_late)
    with any_database.session() as session:
        assert fresh_editions(session, too_late) == []
        assert plan_late_readers(session, now=too_late).readers == {}
        assert session.get_one(Digest, digest_id).state is DigestState.SENT
    assert _late_rows(any_database, digest_id) == []


def test_a_pending_reader_skipped_at_planning_is_queued_late(any_database: Database) -> None:
    """Skipped as unconfirmed at planning, confirmed after: that row becomes a late delivery."""
    digest_id, list_id = edition_with_readers(any_database, 1)
    with any_database.session() as session:
        [pending_id] = add_subscribers(
            session, list_id, 1, start=50, state=SubscriptionState.PENDING
        )
    clock, sender = Clock(), MemorySender()
    dispatch(
        any_database,
        digest_id,
        sender,
        base_url=BASE_URL,
        tokens=tokens(),
        options=OPTIONS,
        clock=clock,
    )
    with any_database.session() as session:
        skipped = session.scalar(
            select(Delivery.skip_reason).where(Delivery.subscriber_id == pending_id)
        )
        assert skipped is SkipReason.UNCONFIRMED
        confirmed_at = clock.now + timedelta(minutes=5)
        services.confirm(
            session,
            TokenSubject(pending_id, list_id),
            Evidence(ConsentSource.EMAIL),
            now=confirmed_at,
        )
    with any_database.session() as session:
        assert plan_late_readers(session, now=confirmed_at).readers == {digest_id: 1}
    assert _late_rows(any_database, digest_id) == [(pending_id, DeliveryState.QUEUED, True)]
    clock.now = confirmed_at
    assert _send_waiting(any_database, digest_id, sender, clock) == "sent"
    assert len(sender.to("reader50@example.org")) == 1


def test_imports_and_readers_who_left_again_are_not_caught_up(any_database: Database) -> None:
    """Only readers who confirmed themselves and are still confirmed."""
    digest_id, list_id, clock, _ = _sent_edition(any_database)
    at = clock.now + timedelta(minutes=10)
    _join(any_database, "imported@example.org", at, source=ConsentSource.IMPORT)
    left = _join(any_database, "left@example.org", at)
    with any_database.session() as session:
        services.unsubscribe(session, TokenSubject(left, list_id), Evidence(ConsentSource.EMAIL))
    with any_database.session() as session:
        assert plan_late_readers(session, now=at).readers == {}
    assert _late_rows(any_database, digest_id) == []


def test_a_late_reader_gets_their_topic_variant(any_database: Database) -> None:
    """A reader who chose one of the edition's topics gets that variant, late."""
    digest_id, _, clock, sender = _sent_edition(any_database, two_topics=True)
    at = clock.now + timedelta(minutes=10)
    subscriber_id = _join(any_database, "science@example.org", at, topics=("Science",))
    with any_database.session() as session:
        plan_late_readers(session, now=at)
        variant_id = session.scalar(
            select(Delivery.variant_id).where(Delivery.subscriber_id == subscriber_id)
        )
    assert variant_id is not None
    clock.now = at
    _send_waiting(any_database, digest_id, sender, clock)
    [mail] = sender.to("science@example.org")
    full = sender.to("reader1@example.org")[0]
    assert "story-1" in mail.html
    assert "story-2" not in mail.html
    assert "story-2" in full.html


def test_a_paused_late_reader_is_left_out_as_planning_would(any_database: Database) -> None:
    """Planning's rules still apply: a reader paused since confirming is not queued."""
    digest_id, _, clock, _ = _sent_edition(any_database)
    at = clock.now + timedelta(minutes=10)
    subscriber_id = _join(any_database, "paused@example.org", at)
    with any_database.session() as session:
        session.execute(
            update(Subscription)
            .where(Subscription.subscriber_id == subscriber_id)
            .values(paused_until=at + timedelta(days=7))
        )
    with any_database.session() as session:
        assert plan_late_readers(session, now=at).readers == {}
        assert session.get_one(Digest, digest_id).state is DigestState.SENT
    assert _late_rows(any_database, digest_id) == []


def test_a_cancelled_edition_is_not_reopened(any_database: Database) -> None:
    """An edition found fresh but no longer sendable once locked adds nobody."""
    _, _, clock, _ = _sent_edition(any_database)
    at = clock.now + timedelta(minutes=10)
    _join(any_database, "late@example.org", at)
    with any_database.session() as session:
        [fresh] = fresh_editions(session, at)
        session.execute(update(Digest).values(state=DigestState.CANCELLED))
        assert catch_up_edition(session, fresh, now=at) == (0, [])


def test_an_edition_sent_ahead_is_caught_up_only_once_its_time_has_come(
    any_database: Database,
) -> None:
    """Requests held by the provider until the edition's time (send_at): a reader confirming
    meanwhile waits for that time, never getting it before the readers on time."""
    digest_id, _, clock, _ = _sent_edition(any_database)
    instant = clock.now + timedelta(minutes=15)
    with any_database.session() as session:
        session.execute(update(SendBatch).values(deliver_at=instant, deliver_by=instant + WINDOW))
    at = clock.now + timedelta(minutes=5)
    _join(any_database, "early@example.org", at)
    with any_database.session() as session:
        assert plan_late_readers(session, now=at).readers == {}
    with any_database.session() as session:
        assert plan_late_readers(session, now=instant).readers == {digest_id: 1}


def test_a_confirmation_just_before_planning_that_planning_missed_is_caught_up(
    any_database: Database,
) -> None:
    """Dated a little before the first batch but not in the ledger: still caught up."""
    digest_id, _, clock, _ = _sent_edition(any_database)
    with any_database.session() as session:
        planned_at = session.scalar(select(func.min(SendBatch.created_at)))
    assert planned_at is not None
    _join(any_database, "racing@example.org", planned_at - timedelta(minutes=2))
    with any_database.session() as session:
        assert plan_late_readers(session, now=clock.now).readers == {digest_id: 1}
