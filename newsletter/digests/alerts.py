"""Alerts: one approved briefing, sent at once as an edition of its own.

An alert is a ``Digest`` with ``cadence = Cadence.ALERT`` holding exactly one briefing.
Its ``slot`` is its key, the briefing's id as text, so a publication may send several
alerts a day, each unique per (publication, date, cadence, slot); and its item's
unique (publication, cadence, briefing) key makes alerting one briefing twice in a
publication impossible, whatever races. Built here, frozen like any edition; the
pipeline renders, publishes, plans and sends it with the usual steps.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from newsletter.briefings.models import Briefing, BriefingRevision, BriefingState
from newsletter.content.briefing import BriefingContent
from newsletter.content.edition import Cadence
from newsletter.digests.assembly import local_today
from newsletter.digests.models import Digest, DigestItem, DigestState
from newsletter.errors import TransitionError
from newsletter.publications.models import Publication


class AlreadyAlerted(TransitionError):
    """The briefing was sent as an alert in this publication already (``digest``: that alert)."""

    def __init__(self, message: str, digest_id: int) -> None:
        super().__init__(message)
        self.digest_id = digest_id


def alert_key(briefing_id: int) -> str:
    """An alert's slot: its briefing's id as text (unique per publication, see above)."""
    return str(briefing_id)


def find_alert(session: Session, publication: Publication, briefing_id: int) -> Digest | None:
    """The publication's alert of this briefing, if it was sent as one."""
    return session.scalar(
        select(Digest)
        .join(DigestItem, DigestItem.digest_id == Digest.id)
        .where(
            DigestItem.publication_id == publication.id,
            DigestItem.cadence == Cadence.ALERT,
            DigestItem.briefing_id == briefing_id,
        )
    )


def alerts_of(session: Session, briefing_id: int) -> list[Digest]:
    """Every alert that carried this briefing (one per publication at most), oldest first."""
    return list(
        session.scalars(
            select(Digest)
            .join(DigestItem, DigestItem.digest_id == Digest.id)
            .where(DigestItem.cadence == Cadence.ALERT, DigestItem.briefing_id == briefing_id)
            .order_by(Digest.id)
        )
    )


def alerts_today(session: Session, publication: Publication, now: datetime) -> int:
    """How many alerts the publication sent on ``now``'s date in its zone (its daily limit
    counts these; a cancelled alert was still started, so it counts too)."""
    day = local_today(now, publication.timezone)
    return (
        session.scalar(
            select(func.count()).where(
                Digest.publication_id == publication.id,
                Digest.cadence == Cadence.ALERT,
                Digest.edition_date == day,
            )
        )
        or 0
    )


def alertable(
    briefing: Briefing, revision: BriefingRevision | None, now: datetime
) -> BriefingContent:
    """The approved content of ``briefing`` to send as an alert, or the reason it cannot be.

    Refused (``TransitionError``): a briefing not approved (a draft, a rejected or
    withdrawn one, or one whose newest revision awaits approval), taken down, expired,
    or still under embargo.
    """
    name = f"briefing {briefing.slug!r} (id {briefing.id})"
    if briefing.state is not BriefingState.APPROVED or revision is None:
        raise TransitionError(
            f"{name} is {briefing.state.value}: only an approved briefing can be sent as an alert"
        )
    if briefing.taken_down_at is not None:
        raise TransitionError(f"{name} was taken down: it cannot be sent as an alert")
    if briefing.expired_at is not None:
        raise TransitionError(f"{name} expired: it cannot be sent as an alert")
    content = revision.parsed()
    if content.embargo is not None and now < content.embargo:
        raise TransitionError(
            f"{name} is under embargo until {content.embargo.isoformat()}: "
            "it cannot be sent as an alert before then"
        )
    if content.expires is not None and content.expires <= now:
        raise TransitionError(f"{name} expired at {content.expires.isoformat()}")
    return content


def approved_revision(session: Session, briefing: Briefing) -> BriefingRevision | None:
    """The revision editions use (None when the briefing has none approved)."""
    if briefing.approved_revision is None:
        return None
    return session.scalar(
        select(BriefingRevision).where(
            BriefingRevision.briefing_id == briefing.id,
            BriefingRevision.number == briefing.approved_revision,
        )
    )


def assemble_alert(
    session: Session, publication: Publication, briefing: Briefing, *, now: datetime
) -> Digest:
    """Freeze ``briefing`` into a new alert edition of ``publication``, dated today in its zone.

    Refused with ``AlreadyAlerted`` when the publication alerted this briefing before
    (checked first, and again by the unique key if another process wins the race),
    and with ``TransitionError`` when the briefing cannot be sent (see ``alertable``).
    """
    earlier = find_alert(session, publication, briefing.id)
    if earlier is not None:
        raise _already(publication, briefing, earlier.id)
    revision = approved_revision(session, briefing)
    content = alertable(briefing, revision, now)
    assert revision is not None  # alertable refuses a briefing without one
    # An approved briefing has its approval time; ``now`` only guards the type.
    approved_at = briefing.approved_at or now
    digest = Digest(
        publication=publication,
        edition_date=local_today(now, publication.timezone),
        cadence=Cadence.ALERT,
        slot=alert_key(briefing.id),
        state=DigestState.ASSEMBLED,
        cutoff_at=now,
        assembled_at=now,
        notes=[],
    )
    digest.items.append(
        DigestItem(
            publication_id=publication.id,
            cadence=Cadence.ALERT,
            briefing_id=briefing.id,
            revision=revision.number,
            position=1,
            approved_at=approved_at,
            title=content.title,
            content=content.model_dump(mode="json"),
        )
    )
    try:
        with session.begin_nested():
            session.add(digest)
            session.flush()
    except IntegrityError:
        winner = find_alert(session, publication, briefing.id)
        if winner is None:
            raise
        raise _already(publication, briefing, winner.id) from None
    return digest


def _already(publication: Publication, briefing: Briefing, digest_id: int) -> AlreadyAlerted:
    return AlreadyAlerted(
        f"briefing {briefing.slug!r} (id {briefing.id}) was already sent as an alert in "
        f"{publication.slug} (digest {digest_id}): nothing was sent",
        digest_id,
    )
