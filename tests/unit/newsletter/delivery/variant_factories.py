"""Test data for topic variants and zone groups: a published edition, its variants, a ledger.

The ledger rows (batches with a variant and an instant, deliveries, zone groups) are
written directly, as planning writes them, so the report and the pages can be tested
without the planner.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.content.edition import Cadence
from newsletter.delivery.models import (
    BatchState,
    Delivery,
    DeliveryState,
    SendBatch,
    SkipReason,
    ZoneGroup,
)
from newsletter.digests import services
from newsletter.digests.models import Digest, DigestItem, DigestState, DigestVariant, transition
from newsletter.digests.variants import ensure_variant, item_topics, select_positions
from newsletter.publications.models import TopicMode
from newsletter.publications.services import get_publication
from tests.factories import make_briefing, make_publication

DAY = date(2026, 3, 2)  # a Monday
# Briefings of the edition, in the order they were approved, with their topics.
STORIES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("heat-record", "Heat record in the south", ("Climate",)),
    ("tram-vote", "Tram line vote tonight", ("Transport",)),
    ("chip-rules", "New rules for chip makers", ("Technology", "Climate")),
    ("port-strike", 'Port strike: "day three" <continues>', ("Harbour & Docks",)),
)


@dataclass(frozen=True)
class Published:
    """A published daily edition and the ids of its variants by the topics that chose them."""

    digest_id: int
    variants: dict[str, int]  # "Climate" -> variant id
    keys: dict[str, str]  # "Climate" -> key


def published_edition(
    session: Session,
    *,
    choices: Sequence[Sequence[str]] = (("Climate",), ("Transport",), ("Harbour & Docks",)),
    mode: TopicMode = TopicMode.ONLY,
    state: DigestState = DigestState.PUBLISHED,
    **publication: object,
) -> Published:
    """A publication ``morning`` with a published edition of ``STORIES`` on ``DAY`` and the
    variant each of ``choices`` selects (rendered as planning renders them); ``publication``
    sets the publication's columns."""
    row = make_publication(session, weekdays=["mon", "tue", "wed", "thu", "fri"])
    row.topic_mode = mode
    for name, value in publication.items():  # settings the spec may not know yet
        setattr(row, name, value)
    approved = datetime(DAY.year, DAY.month, DAY.day, 4, tzinfo=UTC)
    for number, (slug, title, topics) in enumerate(STORIES):
        make_briefing(
            session,
            slug=slug,
            title=title,
            topics=list(topics),
            approved_at=approved + timedelta(minutes=number),
        )
    now = datetime(DAY.year, DAY.month, DAY.day, 6, tzinfo=UTC)
    digest = services.assemble_digest(session, get_publication(session, "morning"), DAY, now=now)
    rendered = services.render_digest(session, digest.digest.id)
    if state is not DigestState.RENDERED:
        transition(rendered, DigestState.PUBLISHED if state is DigestState.PUBLISHED else state)
    session.flush()
    variants: dict[str, int] = {}
    keys: dict[str, str] = {}
    items = item_topics(rendered)
    for chosen in choices:
        positions = select_positions(items, chosen, mode)
        assert positions is not None, chosen
        variant = ensure_variant(session, rendered, positions, list(chosen), now=now)
        variants[", ".join(chosen)] = variant.id
        keys[", ".join(chosen)] = variant.key
    return Published(rendered.id, variants, keys)


def weekly_copy(session: Session, digest_id: int, day: date) -> Digest:
    """A published weekly roundup of ``day`` carrying the daily edition's briefings, in
    reverse order (what H2's assembly would freeze; written directly here)."""
    daily = session.get(Digest, digest_id)
    assert daily is not None
    now = datetime(day.year, day.month, day.day, 6, tzinfo=UTC)
    weekly = Digest(
        publication_id=daily.publication_id,
        edition_date=day,
        cadence=Cadence.WEEKLY,
        state=DigestState.ASSEMBLED,
        cutoff_at=now,
        assembled_at=now,
    )
    session.add(weekly)
    session.flush()
    for position, item in enumerate(reversed(daily.items), start=1):
        session.add(
            DigestItem(
                digest_id=weekly.id,
                publication_id=daily.publication_id,
                cadence=Cadence.WEEKLY,
                briefing_id=item.briefing_id,
                revision=item.revision,
                position=position,
                approved_at=item.approved_at,
                title=item.title,
                content=dict(item.content),
            )
        )
    weekly.state = DigestState.RENDERED
    weekly.subject = "Weekly"
    transition(weekly, DigestState.PUBLISHED)
    session.flush()
    session.refresh(weekly)
    return weekly


@dataclass(frozen=True)
class Group:
    """One zone group to write: its instant, zones, and its readers' variant and states."""

    deliver_at: datetime
    zones: tuple[str, ...]
    # (variant id or None, delivery state, batch state) per batch of one reader each
    readers: tuple[tuple[int | None, DeliveryState, BatchState], ...]


def write_ledger(
    session: Session, digest_id: int, groups: Sequence[Group], *, skipped: int = 0
) -> None:
    """Zone groups, batches and deliveries as planning writes them (one reader per batch),
    plus ``skipped`` readers left out for having no matching topic."""
    number = 0
    subscriber = 1000
    for group in groups:
        session.add(
            ZoneGroup(
                digest_id=digest_id,
                deliver_at=group.deliver_at,
                zones=list(group.zones),
                readers=len(group.readers),
            )
        )
        for variant_id, delivery_state, batch_state in group.readers:
            number += 1
            subscriber += 1
            batch = SendBatch(
                digest_id=digest_id,
                number=number,
                state=batch_state,
                size=1,
                variant_id=variant_id,
                deliver_at=group.deliver_at,
                not_before=group.deliver_at - timedelta(hours=1),
            )
            session.add(batch)
            session.flush()
            session.add(
                Delivery(
                    digest_id=digest_id,
                    subscriber_id=subscriber,
                    list_id=1,
                    batch_id=batch.id,
                    variant_id=variant_id,
                    state=delivery_state,
                )
            )
    for _ in range(skipped):
        subscriber += 1
        session.add(
            Delivery(
                digest_id=digest_id,
                subscriber_id=subscriber,
                list_id=1,
                state=DeliveryState.SKIPPED,
                skip_reason=SkipReason.NO_MATCHING_TOPIC,
            )
        )
    session.flush()


def variant_of(session: Session, variant_id: int) -> DigestVariant:
    """A variant row by id."""
    found = session.scalar(select(DigestVariant).where(DigestVariant.id == variant_id))
    assert found is not None
    return found
