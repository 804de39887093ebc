"""The report's breakdowns read what planning really writes: zone groups, batches, variants."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.orm import Session

from newsletter.db import Database
from newsletter.delivery import ledger
from newsletter.delivery.planning import Timing
from newsletter.delivery.report import delivery_report
from newsletter.digests.services import assemble_digest, render_digest
from newsletter.publications.models import Publication
from subscribers.models import Subscriber, Subscription, SubscriptionState
from subscribers.services import ensure_default_list
from tests.factories import T0, make_briefing, make_publication

DAY = date(2026, 3, 30)  # London moved to BST the day before
TIMING = Timing(
    due_at=datetime(2026, 3, 29, 22, 0, tzinfo=UTC),
    local_day=DAY,
    send_time=time(7, 0),
    default_zone="Europe/London",
)
TOKYO = datetime(2026, 3, 29, 22, 0, tzinfo=UTC)
LONDON = datetime(2026, 3, 30, 6, 0, tzinfo=UTC)
NEW_YORK = datetime(2026, 3, 30, 11, 0, tzinfo=UTC)


def _edition(session: Session) -> tuple[int, int]:
    publication: Publication = make_publication(session, timezone="Europe/London")
    publication.local_delivery = True
    for index, topics in enumerate((["Climate"], ["Harbour"], ["Science"]), start=1):
        make_briefing(
            session, slug=f"story-{index}", topics=topics, approved_at=T0 + timedelta(minutes=index)
        )
    digest = assemble_digest(session, publication, DAY, now=T0 + timedelta(hours=1)).digest
    render_digest(session, digest.id)
    return digest.id, ensure_default_list(session, publication).id


def _reader(session: Session, list_id: int, name: str, zone: str | None, *topics: str) -> None:
    subscriber = Subscriber(email=f"{name}@example.org", name=name, timezone=zone)
    session.add(subscriber)
    session.flush()
    session.add(
        Subscription(
            subscriber_id=subscriber.id,
            list_id=list_id,
            state=SubscriptionState.CONFIRMED,
            topics=list(topics),
        )
    )


def test_report_of_a_planned_local_edition(any_database: Database) -> None:
    """Readers in three zones, some with topics: the report's rows add up to the ledger."""
    with any_database.session() as session:
        digest_id, list_id = _edition(session)
        _reader(session, list_id, "kenji", "Asia/Tokyo", "Climate")
        _reader(session, list_id, "yui", "Asia/Tokyo")
        _reader(session, list_id, "amy", None, "Climate")
        _reader(session, list_id, "ben", "Europe/London", "Harbour", "Climate")
        _reader(session, list_id, "cat", "America/New_York", "Sport")  # matches nothing
        _reader(session, list_id, "dan", "America/New_York", "Science")
    with any_database.session() as session:
        ledger.plan_dispatch(
            session,
            digest_id,
            now=datetime(2026, 3, 29, 21, 45, tzinfo=UTC),
            timing=TIMING,
            lead=timedelta(minutes=15),
        )
    with any_database.session() as session:
        report = delivery_report(session, digest_id)
    assert (report.recipients, report.skipped) == (5, 1)
    assert report.by_reason == {"no_matching_topic": 1}
    rows = {row.label: (row.key, row.readers, row.briefings) for row in report.variants}
    assert rows == {
        "Full edition": (None, 1, 3),
        "Climate": ("1", 2, 1),
        "Climate, Harbour": ("1.2", 1, 2),
        "Science": ("3", 1, 1),
    }
    assert sum(row.readers for row in report.variants) == report.recipients
    groups = [(g.deliver_at, g.zones, g.readers, g.state) for g in report.zone_groups]
    assert groups == [
        (TOKYO, ("Asia/Tokyo",), 2, "waiting"),
        (LONDON, ("Europe/London",), 2, "waiting"),
        (NEW_YORK, ("America/New_York",), 1, "waiting"),
    ]
    assert all(g.by_state == {"queued": g.readers} for g in report.zone_groups)
    assert [when.hour for g in report.zone_groups for _, when in g.local_times()] == [7, 7, 7]
