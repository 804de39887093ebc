"""Who an edition is for by kind of mail: the digest for digest readers, an alert for alert readers.

A daily edition or a weekly roundup reaches only subscriptions that get the digest;
an alert reaches only subscriptions that opted into alerts, whatever their digest
choices, by their alert topics, whole (no topic variant) and at once (no zone group).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.content.edition import Cadence
from newsletter.db import Database
from newsletter.delivery import ledger, roster
from newsletter.delivery.models import Delivery, DeliveryState, SendBatch, SkipReason, ZoneGroup
from newsletter.delivery.planning import Timing
from newsletter.digests.models import Digest, DigestItem, DigestState, DigestVariant
from newsletter.digests.services import assemble_digest, render_digest
from newsletter.publications.models import Publication
from subscribers.addresses import email_hash
from subscribers.models import (
    Subscriber,
    Subscription,
    SubscriptionState,
    Suppression,
    SuppressionReason,
)
from subscribers.services import ensure_default_list
from tests.factories import T0, make_briefing, make_publication

DAY = date(2026, 3, 2)  # T0's date, a Monday
NOW = T0 + timedelta(hours=3)
# A publication delivering in each reader's zone: an alert must ignore it.
LOCAL = Timing(
    due_at=datetime(2026, 3, 2, 7, 0, tzinfo=UTC),
    local_day=DAY,
    send_time=time(7, 0),
    default_zone="UTC",
)


def _publication(session: Session) -> tuple[Publication, int]:
    publication = make_publication(session)
    publication.local_delivery = True
    return publication, ensure_default_list(session, publication).id


def _reader(
    session: Session,
    list_id: int,
    name: str,
    *,
    digests: bool = True,
    alerts: bool = False,
    topics: tuple[str, ...] = (),
    alert_topics: tuple[str, ...] = (),
    state: SubscriptionState = SubscriptionState.CONFIRMED,
    cadence: Cadence = Cadence.DAILY,
    zone: str | None = None,
    paused_until: datetime | None = None,
) -> int:
    subscriber = Subscriber(email=f"{name}@example.org", name=name, timezone=zone)
    session.add(subscriber)
    session.flush()
    session.add(
        Subscription(
            subscriber_id=subscriber.id,
            list_id=list_id,
            state=state,
            digests=digests,
            alerts=alerts,
            topics=list(topics),
            alert_topics=list(alert_topics),
            cadence=cadence,
            weekly_day="mon" if cadence is Cadence.WEEKLY else None,
            paused_until=paused_until,
        )
    )
    session.flush()
    return subscriber.id


def _alert(session: Session, publication: Publication, topics: tuple[str, ...]) -> int:
    """A rendered alert: a digest of cadence ``alert`` holding one approved briefing."""
    briefing = make_briefing(session, slug="breaking", topics=topics, approved_at=T0)
    revision = briefing.revisions[0]
    digest = Digest(
        publication=publication,
        edition_date=DAY,
        cadence=Cadence.ALERT,
        slot=str(briefing.id),
        state=DigestState.ASSEMBLED,
        cutoff_at=NOW,
        assembled_at=NOW,
        notes=[],
    )
    digest.items.append(
        DigestItem(
            publication_id=publication.id,
            cadence=Cadence.ALERT,
            briefing_id=briefing.id,
            revision=revision.number,
            position=1,
            approved_at=T0,
            title=revision.title,
            content=revision.content,
        )
    )
    session.add(digest)
    session.flush()
    render_digest(session, digest.id)
    return digest.id


def _ledger(database: Database, digest_id: int) -> dict[int, Delivery]:
    with database.session() as session:
        rows = session.scalars(select(Delivery).where(Delivery.digest_id == digest_id)).all()
        session.expunge_all()
    return {row.subscriber_id: row for row in rows}


def _plan(database: Database, digest_id: int) -> ledger.PlanResult:
    with database.session() as session:
        return ledger.plan_dispatch(session, digest_id, now=NOW, timing=LOCAL, lead=None)


def test_a_daily_edition_reaches_only_digest_readers(any_database: Database) -> None:
    """A reader who left the digest (alerts only, or nothing) is not in its ledger at all."""
    with any_database.session() as session:
        publication, list_id = _publication(session)
        make_briefing(session, slug="story", topics=["Climate"], approved_at=T0)
        digest = assemble_digest(session, publication, DAY, now=NOW).digest
        render_digest(session, digest.id)
        both = _reader(session, list_id, "both", alerts=True)
        digest_only = _reader(session, list_id, "digest-only")
        topical = _reader(session, list_id, "topical", topics=("climate",))
        _reader(session, list_id, "alerts-only", digests=False, alerts=True)
        _reader(session, list_id, "left-digest-topics", digests=False, topics=("climate",))
        # A pending reader who left the digest is not even counted as unconfirmed.
        _reader(session, list_id, "pending", digests=False, state=SubscriptionState.PENDING)
        digest_id = digest.id
    result = _plan(any_database, digest_id)
    assert result.queued == 3
    assert result.skipped == {}
    assert set(_ledger(any_database, digest_id)) == {both, digest_only, topical}


def test_a_weekly_roundup_leaves_out_weekly_readers_who_left_the_digest(
    any_database: Database,
) -> None:
    with any_database.session() as session:
        publication, list_id = _publication(session)
        publication.weekly_days = ["mon"]
        make_briefing(session, slug="story", topics=["Climate"], approved_at=T0)
        assemble_digest(session, publication, DAY, now=NOW)
        roundup = assemble_digest(session, publication, DAY, now=NOW, cadence=Cadence.WEEKLY)
        render_digest(session, roundup.digest.id)
        weekly = _reader(session, list_id, "weekly", cadence=Cadence.WEEKLY)
        _reader(
            session, list_id, "weekly-alerts", cadence=Cadence.WEEKLY, digests=False, alerts=True
        )
        roundup_id = roundup.digest.id
    _plan(any_database, roundup_id)
    assert set(_ledger(any_database, roundup_id)) == {weekly}


def test_an_alert_reaches_alert_readers_by_their_alert_topics(any_database: Database) -> None:
    """Alert topics, not digest topics, decide; matched whatever their case; any cadence."""
    with any_database.session() as session:
        publication, list_id = _publication(session)
        digest_id = _alert(session, publication, ("Harbour", "Energy"))
        every_topic = _reader(session, list_id, "every-topic", alerts=True)
        by_topic = _reader(session, list_id, "by-topic", alerts=True, alert_topics=("energy",))
        # Digest topics elsewhere do not matter: their alert topics are empty (every topic).
        digest_topics = _reader(session, list_id, "digest-topics", alerts=True, topics=("Sport",))
        weekly = _reader(session, list_id, "weekly", alerts=True, cadence=Cadence.WEEKLY)
        alerts_only = _reader(session, list_id, "alerts-only", digests=False, alerts=True)
        tokyo = _reader(session, list_id, "tokyo", alerts=True, zone="Asia/Tokyo")
        other_topic = _reader(session, list_id, "other", alerts=True, alert_topics=("Sport",))
        _reader(session, list_id, "digest-reader")
        _reader(session, list_id, "digest-climate", topics=("Energy",))
        _reader(session, list_id, "left-both", digests=False)
    result = _plan(any_database, digest_id)
    rows = _ledger(any_database, digest_id)
    sent = {sid for sid, row in rows.items() if row.state is DeliveryState.QUEUED}
    assert sent == {every_topic, by_topic, digest_topics, weekly, alerts_only, tokyo}
    assert result.queued == 6
    assert rows[other_topic].skip_reason is SkipReason.NO_MATCHING_TOPIC
    assert set(rows) == sent | {other_topic}  # digest-only readers are not in its ledger
    with any_database.session() as session:
        batches = session.execute(
            select(SendBatch.variant_id, SendBatch.deliver_at, SendBatch.not_before).where(
                SendBatch.digest_id == digest_id
            )
        ).all()
        variants = session.scalar(
            select(DigestVariant.id).where(DigestVariant.digest_id == digest_id)
        )
        groups = session.scalar(select(ZoneGroup.id).where(ZoneGroup.digest_id == digest_id))
    # Whole and at once: no variant, no instant, no zone group, although the
    # publication delivers locally and a reader chose a topic.
    assert batches == [(None, None, None)]
    assert variants is None
    assert groups is None


def test_an_alert_skips_alert_readers_who_cannot_get_mail(any_database: Database) -> None:
    """Unconfirmed, suppressed and paused alert readers: in the ledger, skipped, with why."""
    with any_database.session() as session:
        publication, list_id = _publication(session)
        digest_id = _alert(session, publication, ("Harbour",))
        pending = _reader(session, list_id, "pending", alerts=True, state=SubscriptionState.PENDING)
        left = _reader(session, list_id, "left", alerts=True, state=SubscriptionState.UNSUBSCRIBED)
        paused = _reader(
            session, list_id, "paused", alerts=True, paused_until=NOW + timedelta(days=3)
        )
        suppressed = _reader(session, list_id, "suppressed", alerts=True, alert_topics=("harbour",))
        session.add(
            Suppression(
                email_hash=email_hash("suppressed@example.org"),
                email="suppressed@example.org",
                reason=SuppressionReason.HARD_BOUNCE,
            )
        )
        fine = _reader(session, list_id, "fine", alerts=True, alert_topics=("HARBOUR",))
    result = _plan(any_database, digest_id)
    rows = _ledger(any_database, digest_id)
    assert {sid: row.skip_reason for sid, row in rows.items()} == {
        pending: SkipReason.UNCONFIRMED,
        left: SkipReason.UNSUBSCRIBED,
        paused: SkipReason.PAUSED,
        suppressed: SkipReason.SUPPRESSED,
        fine: None,
    }
    assert result.queued == 1
    # Planning again adds nobody: each reader is in the alert's ledger once.
    again = _plan(any_database, digest_id)
    assert again.queued == 0
    assert again.skipped == {SkipReason.ALREADY_SENT.value: 5}


def test_the_python_pass_reads_alert_topics_for_an_alert(database: Database) -> None:
    """Readers the bulk pass leaves to Python are judged by their alert topics too."""
    with database.session() as session:
        publication, list_id = _publication(session)
        digest_id = _alert(session, publication, ("Harbour",))
        reader = _reader(
            session, list_id, "back", alerts=True, topics=("Harbour",), alert_topics=("Sport",)
        )
    with database.session() as session:
        planner_audience = roster.Audience(list_id, Cadence.ALERT)
        candidates = list(roster.candidates(session, digest_id, planner_audience, page=10))
    assert [(c.subscriber_id, c.topics) for c in candidates] == [(reader, ("Sport",))]


def test_reachable_counts_the_readers_an_alert_would_reach(any_database: Database) -> None:
    """The count an editor sees before sending: what planning would then queue."""
    with any_database.session() as session:
        _publication_row, list_id = _publication(session)
        _reader(session, list_id, "every-topic", alerts=True)
        _reader(session, list_id, "energy", alerts=True, alert_topics=("ENERGY",))
        _reader(session, list_id, "sport", alerts=True, alert_topics=("Sport",))
        _reader(session, list_id, "pending", alerts=True, state=SubscriptionState.PENDING)
        _reader(session, list_id, "paused", alerts=True, paused_until=NOW + timedelta(hours=1))
        _reader(session, list_id, "digest-only")
        audience = roster.Audience(list_id, Cadence.ALERT)
        assert roster.reachable(session, audience, ["Energy", "Harbour"], NOW) == 2
        assert roster.reachable(session, audience, ["Sport"], NOW) == 2
        assert roster.reachable(session, audience, ["Culture"], NOW) == 1
        daily = roster.Audience(list_id, Cadence.DAILY)
        # Digest readers: everyone confirmed and unpaused who gets the digest.
        assert roster.reachable(session, daily, ["Culture"], NOW) == 4
