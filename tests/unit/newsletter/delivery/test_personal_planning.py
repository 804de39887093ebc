"""Planning each reader's own digest: their zone group's instant, topic variant and cadence.

Every batch holds readers who get one email at one instant; a variant is rendered
once per distinct selection; a daily edition never reaches a weekly reader.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from newsletter.content.edition import Cadence
from newsletter.db import Database
from newsletter.delivery import deadline, ledger
from newsletter.delivery.edition_cache import EditionCache
from newsletter.delivery.models import Delivery, DeliveryState, SendBatch, SkipReason, ZoneGroup
from newsletter.delivery.planning import Timing
from newsletter.digests.models import Digest, DigestVariant
from newsletter.digests.services import assemble_digest, render_digest
from newsletter.publications.models import Publication, TopicMode
from subscribers.models import Subscriber, Subscription, SubscriptionState
from subscribers.services import ensure_default_list
from tests.factories import T0, make_briefing, make_publication
from tests.unit.newsletter.delivery.dispatch_factories import BASE_URL, tokens

DAY = date(2026, 3, 30)  # a Monday; London moved to BST the day before, New York on 8 March
SEVEN = time(7, 0)
LOCAL = Timing(
    due_at=datetime(2026, 3, 29, 22, 0, tzinfo=UTC),
    local_day=DAY,
    send_time=SEVEN,
    default_zone="Europe/London",
)
PLANNED_AT = datetime(2026, 3, 29, 21, 45, tzinfo=UTC)
LEAD = timedelta(minutes=15)
TOKYO = datetime(2026, 3, 29, 22, 0, tzinfo=UTC)  # 07:00 JST (UTC+9)
LONDON = datetime(2026, 3, 30, 6, 0, tzinfo=UTC)  # 07:00 BST (UTC+1)
NEW_YORK = datetime(2026, 3, 30, 11, 0, tzinfo=UTC)  # 07:00 EDT (UTC-4)


def _edition(session: Session, *, mode: TopicMode = TopicMode.ONLY) -> tuple[Digest, int]:
    """A rendered edition with three briefings on different topics; (digest, list id)."""
    publication: Publication = make_publication(session, timezone="Europe/London")
    publication.local_delivery = True
    publication.topic_mode = mode
    publication.weekly_days = ["mon"]
    for index, topics in enumerate((["Climate"], ["Harbour", "Energy"], ["Science"]), start=1):
        make_briefing(
            session,
            slug=f"story-{index}",
            topics=topics,
            approved_at=T0 + timedelta(minutes=index),
        )
    digest = assemble_digest(session, publication, DAY, now=T0 + timedelta(hours=1)).digest
    render_digest(session, digest.id)
    return digest, ensure_default_list(session, publication).id


def _reader(
    session: Session,
    list_id: int,
    name: str,
    *,
    zone: str | None = None,
    topics: tuple[str, ...] = (),
    cadence: Cadence = Cadence.DAILY,
    weekly_day: str | None = None,
) -> int:
    subscriber = Subscriber(email=f"{name}@example.org", name=name, timezone=zone)
    session.add(subscriber)
    session.flush()
    session.add(
        Subscription(
            subscriber_id=subscriber.id,
            list_id=list_id,
            state=SubscriptionState.CONFIRMED,
            topics=list(topics),
            cadence=cadence,
            weekly_day=weekly_day,
        )
    )
    session.flush()
    return subscriber.id


def _plan(database: Database, digest_id: int, **kwargs: object) -> ledger.PlanResult:
    with database.session() as session:
        return ledger.plan_dispatch(
            session,
            digest_id,
            now=PLANNED_AT,
            timing=LOCAL,
            lead=LEAD,
            **kwargs,  # type: ignore[arg-type]
        )


def _cells(database: Database, digest_id: int) -> dict[int, tuple[datetime | None, int | None]]:
    """Each planned reader's (instant, variant) as their batch records it."""
    with database.session() as session:
        rows = session.execute(
            select(Delivery.subscriber_id, SendBatch.deliver_at, SendBatch.variant_id)
            .join(SendBatch, SendBatch.id == Delivery.batch_id)
            .where(Delivery.digest_id == digest_id)
        ).all()
    return {subscriber_id: (at, variant) for subscriber_id, at, variant in rows}


def test_each_reader_is_planned_for_seven_in_their_own_zone(any_database: Database) -> None:
    """Tokyo, London (and readers without a zone: the publication's) and New York: 07:00 local.

    Plain readers (no topics) go through the database's bulk path, readers with topics
    through Python: both land in their zone group, with its instant and claim time.
    """
    with any_database.session() as session:
        digest, list_id = _edition(session)
        ids = {
            "tokyo": _reader(session, list_id, "tokyo", zone="Asia/Tokyo"),
            "london": _reader(session, list_id, "london", zone="Europe/London"),
            "nozone": _reader(session, list_id, "nozone"),
            "ny": _reader(session, list_id, "ny", zone="America/New_York"),
            "ny-topics": _reader(
                session, list_id, "ny-topics", zone="America/New_York", topics=("climate",)
            ),
        }
        digest_id = digest.id
    result = _plan(any_database, digest_id)
    assert result.queued == 5
    cells = _cells(any_database, digest_id)
    assert cells[ids["tokyo"]][0] == TOKYO
    assert cells[ids["london"]][0] == cells[ids["nozone"]][0] == LONDON
    assert cells[ids["ny"]][0] == cells[ids["ny-topics"]][0] == NEW_YORK
    with any_database.session() as session:
        batches = session.execute(
            select(SendBatch.deliver_at, SendBatch.not_before).where(
                SendBatch.digest_id == digest_id
            )
        ).all()
        groups = session.scalars(select(ZoneGroup).order_by(ZoneGroup.deliver_at)).all()
        summary = [(g.deliver_at, g.zones, g.readers) for g in groups]
    # Tokyo's instant is within the lead: claimable at once; the others wait until lead before.
    for deliver_at, not_before in batches:
        assert deliver_at is not None
        expected = None if deliver_at - LEAD <= PLANNED_AT else deliver_at - LEAD
        assert not_before == expected
    assert summary == [
        (TOKYO, ["Asia/Tokyo"], 1),
        (LONDON, ["Europe/London"], 2),
        (NEW_YORK, ["America/New_York"], 2),
    ]


def test_the_deadline_of_each_zone_group_counts_from_its_own_instant(
    any_database: Database,
) -> None:
    """Freshness per zone group: deliver_by is the group's instant plus the window."""
    with any_database.session() as session:
        digest, list_id = _edition(session)
        _reader(session, list_id, "tokyo", zone="Asia/Tokyo")
        _reader(session, list_id, "ny", zone="America/New_York")
        digest_id = digest.id
    _plan(any_database, digest_id)
    window = timedelta(hours=6)
    with any_database.session() as session:
        deadline.set_deadline(session, digest_id, PLANNED_AT + window, window=window)
    with any_database.session() as session:
        rows = set(
            session.execute(
                select(SendBatch.deliver_at, SendBatch.deliver_by).where(
                    SendBatch.digest_id == digest_id
                )
            ).all()
        )
    assert rows == {(TOKYO, TOKYO + window), (NEW_YORK, NEW_YORK + window)}


def test_the_first_zone_group_is_never_missed_only_late(any_database: Database) -> None:
    """The first group started when the edition was planned: late, it still goes."""
    with any_database.session() as session:
        digest, list_id = _edition(session)
        _reader(session, list_id, "tokyo", zone="Asia/Tokyo")
        digest_id = digest.id
    _plan(any_database, digest_id)
    window = timedelta(hours=6)
    with any_database.session() as session:
        deadline.set_deadline(session, digest_id, PLANNED_AT + window, window=window)
    with any_database.session() as session:
        assert deadline.expire_overdue(session, now=TOKYO + window + timedelta(hours=1)) == 0


def test_a_zone_group_that_never_started_within_the_window_is_missed(
    any_database: Database,
) -> None:
    """Past its deadline, a group none of whose batches was tried fails; a started one goes on."""
    with any_database.session() as session:
        digest, list_id = _edition(session)
        _reader(session, list_id, "tokyo", zone="Asia/Tokyo")
        _reader(session, list_id, "ny", zone="America/New_York")
        digest_id = digest.id
    _plan(any_database, digest_id, batch_size=1)
    window = timedelta(hours=6)
    with any_database.session() as session:
        deadline.set_deadline(session, digest_id, PLANNED_AT + window, window=window)
        # Tokyo's group started (one attempt on record); New York's never did.
        session.execute(
            update(SendBatch)
            .where(SendBatch.digest_id == digest_id, SendBatch.deliver_at == TOKYO)
            .values(attempts=1)
        )
    late = NEW_YORK + window + timedelta(minutes=1)
    with any_database.session() as session:
        assert deadline.expire_overdue(session, now=late) == 1
    with any_database.session() as session:
        rows = session.execute(
            select(SendBatch.deliver_at, Delivery.state, Delivery.last_error)
            .join(SendBatch, SendBatch.id == Delivery.batch_id)
            .where(Delivery.digest_id == digest_id)
        ).all()
    by_instant = {at: (state, error) for at, state, error in rows}
    assert by_instant[TOKYO][0] is DeliveryState.QUEUED
    assert by_instant[NEW_YORK][0] is DeliveryState.FAILED
    assert "zone group" in (by_instant[NEW_YORK][1] or "")


def test_one_variant_per_distinct_selection_and_batches_never_mix(any_database: Database) -> None:
    """Readers whose topics select the same briefings share one rendered variant.

    "climate" and "Climate, Weather" select briefing 1 alone: one variant. "Energy"
    selects briefing 2. A reader who chose every topic gets the full edition (no
    variant), as does a reader with no topics; one whose topics match nothing is skipped.
    """
    with any_database.session() as session:
        digest, list_id = _edition(session)
        a = _reader(session, list_id, "a", topics=("climate",))
        b = _reader(session, list_id, "b", topics=("Climate", "Weather"))
        c = _reader(session, list_id, "c", topics=("Energy",))
        d = _reader(session, list_id, "d", topics=("Climate", "Harbour", "Science"))
        e = _reader(session, list_id, "e")
        f = _reader(session, list_id, "f", topics=("Sport",))
        digest_id = digest.id
    result = _plan(any_database, digest_id)
    assert result.queued == 5
    assert result.skipped == {SkipReason.NO_MATCHING_TOPIC.value: 1}
    cells = _cells(any_database, digest_id)
    assert f not in cells
    assert cells[a][1] == cells[b][1] is not None
    assert cells[c][1] not in (None, cells[a][1])
    assert cells[d][1] is None
    assert cells[e][1] is None
    with any_database.session() as session:
        variants = session.scalars(
            select(DigestVariant).where(DigestVariant.digest_id == digest_id)
        ).all()
        by_id = {variant.id: variant for variant in variants}
        mixed = session.execute(
            select(Delivery.batch_id, func.count(func.distinct(Delivery.variant_id)))
            .where(Delivery.digest_id == digest_id, Delivery.batch_id.is_not(None))
            .group_by(Delivery.batch_id)
        ).all()
        recorded = dict(
            session.execute(
                select(Delivery.subscriber_id, Delivery.variant_id).where(
                    Delivery.digest_id == digest_id
                )
            ).all()
        )
    assert len(variants) == 2
    climate = by_id[cells[a][1]]  # type: ignore[index]
    assert climate.positions == [1]
    assert climate.topics == ["Climate"]
    assert "Story 1" in climate.subject
    assert "Story 2" not in climate.html
    energy = by_id[cells[c][1]]  # type: ignore[index]
    assert energy.positions == [2]
    assert energy.topics == ["Energy"]
    assert all(count <= 1 for _, count in mixed)
    assert recorded[a] == cells[a][1]
    assert recorded[e] is None


def test_topic_mode_first_puts_their_briefings_first_and_keeps_the_rest(
    any_database: Database,
) -> None:
    """With ``first``, a reader's briefings lead and the others follow, in one variant."""
    with any_database.session() as session:
        digest, list_id = _edition(session, mode=TopicMode.FIRST)
        reader = _reader(session, list_id, "s", topics=("science",))
        digest_id = digest.id
    _plan(any_database, digest_id)
    variant_id = _cells(any_database, digest_id)[reader][1]
    with any_database.session() as session:
        variant = session.get(DigestVariant, variant_id)
        assert variant is not None
        assert variant.positions == [3, 1, 2]
        assert variant.subject.index("Story 3") >= 0
        text = variant.text
    assert text.index("Story 3") < text.index("Story 1") < text.index("Story 2")


def test_the_email_and_view_link_of_a_batch_are_its_variants(any_database: Database) -> None:
    """A variant batch's message is the variant's; "view in browser" opens the variant's page."""
    with any_database.session() as session:
        digest, list_id = _edition(session)
        reader = _reader(session, list_id, "a", topics=("energy",))
        digest_id = digest.id
    _plan(any_database, digest_id)
    variant_id = _cells(any_database, digest_id)[reader][1]
    cache = EditionCache()
    with any_database.session() as session:
        variant = session.get(DigestVariant, variant_id)
        assert variant is not None
        message, personaliser = cache.shared(
            session, digest_id, base_url=BASE_URL, tokens=tokens(), variant_id=variant_id
        )
        full, full_personaliser = cache.shared(
            session, digest_id, base_url=BASE_URL, tokens=tokens()
        )
        key = variant.key
    assert message.subject == variant.subject != full.subject
    assert message.html == variant.html
    assert personaliser.view_url.endswith(f"/p/morning/{DAY.isoformat()}/for/{key}/")
    assert full_personaliser.view_url.endswith(f"/p/morning/{DAY.isoformat()}/")


def test_a_daily_edition_never_reaches_a_weekly_reader(any_database: Database) -> None:
    """Weekly readers are not in a daily edition's ledger; a roundup takes only its weekday's."""
    with any_database.session() as session:
        digest, list_id = _edition(session)
        daily = _reader(session, list_id, "daily")
        monday = _reader(session, list_id, "monday", cadence=Cadence.WEEKLY, weekly_day="mon")
        friday = _reader(session, list_id, "friday", cadence=Cadence.WEEKLY, weekly_day="fri")
        roundup = Digest(
            publication_id=digest.publication_id,
            edition_date=DAY,
            cadence=Cadence.WEEKLY,
            cutoff_at=T0,
        )
        session.add(roundup)
        session.flush()
        for item in digest.items:
            roundup.items.append(
                type(item)(
                    publication_id=item.publication_id,
                    cadence=Cadence.WEEKLY,
                    briefing_id=item.briefing_id,
                    revision=item.revision,
                    position=item.position,
                    approved_at=item.approved_at,
                    title=item.title,
                    content=item.content,
                )
            )
        session.flush()
        render_digest(session, roundup.id)
        daily_id, roundup_id = digest.id, roundup.id
    _plan(any_database, daily_id)
    _plan(any_database, roundup_id)
    with any_database.session() as session:
        planned = Counter(session.execute(select(Delivery.digest_id, Delivery.subscriber_id)).all())
    assert set(planned) == {(daily_id, daily), (roundup_id, monday)}
    assert friday not in {subscriber for _, subscriber in planned}


@pytest.mark.parametrize("size", [1, 2])
def test_planning_again_adds_only_newcomers_to_their_groups(
    any_database: Database, size: int
) -> None:
    """A rerun plans nobody twice; a newcomer joins its zone group's count."""
    with any_database.session() as session:
        digest, list_id = _edition(session)
        _reader(session, list_id, "tokyo", zone="Asia/Tokyo")
        digest_id = digest.id
    _plan(any_database, digest_id, batch_size=size)
    with any_database.session() as session:
        _reader(session, list_id, "tokyo2", zone="Asia/Tokyo", topics=("science",))
    again = _plan(any_database, digest_id, batch_size=size)
    assert again.queued == 1
    assert again.skipped == {SkipReason.ALREADY_SENT.value: 1}
    with any_database.session() as session:
        groups = session.execute(select(ZoneGroup.deliver_at, ZoneGroup.readers)).all()
    assert groups == [(TOKYO, 2)]


def test_the_bulk_path_writes_the_ledger_batch_by_batch(any_database: Database) -> None:
    """Readers of many cells are written a batch at a time, each batch's in subscriber
    order, so a batch's rows share pages for its claim and record to rewrite, not
    interleaved with other cells' (docs/personal-digests.md)."""
    zones = ("Asia/Tokyo", "Europe/London", "America/New_York")
    selections: tuple[tuple[str, ...], ...] = ((), ("climate",), ("energy",))
    with any_database.session() as session:
        digest, list_id = _edition(session)
        for n in range(18):
            _reader(session, list_id, f"r{n}", zone=zones[n % 3], topics=selections[n // 3 % 3])
        digest_id = digest.id
    result = _plan(any_database, digest_id)
    assert result.queued == 18
    with any_database.session() as session:
        written = session.execute(
            select(Delivery.batch_id, Delivery.subscriber_id)
            .where(Delivery.digest_id == digest_id)
            .order_by(Delivery.id)
        ).all()
    assert len({batch for batch, _ in written}) == 9  # three zones by three selections
    assert written == sorted(written)
