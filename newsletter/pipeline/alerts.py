"""Send one approved briefing as an alert: checked, frozen, rendered, published, then planned.

The editors' app, the API and ``newsletter briefings alert`` all call ``check_alert``
(what the confirmation step shows: the readers who would get it and the day's count
against the publication's ``alerts_per_day``) and then ``start_alert``, which in the
caller's transaction:

1. refuses, with nothing changed: an unknown briefing or publication, a briefing not
   approved (draft, rejected, withdrawn, taken down, expired, under embargo), one the
   publication alerted already, a paused publication, a publication without a reader
   who would get it, and going past the day's limit without an admin's override;
2. freezes the briefing into an alert edition (``digests.alerts``: a ``Digest`` with
   ``cadence = alert``), renders it once (its own template and page) and makes it
   public (its page and its editions-feed entry), recording the public change;
3. records a started ``ScheduledEdition`` for it (kind ``now``, due now), so the tick
   nudges a lost ``plan`` message and ``schedule cancel`` can stop it; and the audit
   entry (``alert.send``, with ``over_limit`` when an admin went past the limit).

After the commit the caller asks a worker to plan it (``request_plan``): the plan
step puts every reader in the exactly-once ledger and the batches go at once through
the usual ``send_batch`` tasks (no cut-off, no zone groups, no topic variants).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from newsletter import urls
from newsletter.briefings.services import get_briefing
from newsletter.db import utcnow
from newsletter.delivery.audience import alert_readers
from newsletter.digests.alerts import (
    AlreadyAlerted,
    alertable,
    alerts_today,
    approved_revision,
    assemble_alert,
    find_alert,
)
from newsletter.digests.services import publish_digest, render_digest
from newsletter.editors import services as accounts
from newsletter.errors import ConflictError, TransitionError
from newsletter.pipeline.steps import record_public
from newsletter.publications.models import Publication
from newsletter.publications.services import get_publication
from newsletter.schedules.editions import refuse_if_paused
from newsletter.schedules.models import EditionKind, EditionState, ScheduledEdition

__all__ = ["AlertCheck", "AlertStarted", "AlreadyAlerted", "check_alert", "start_alert"]


@dataclass(frozen=True)
class AlertCheck:
    """What sending a briefing as an alert would do now: for the confirmation step."""

    publication: str
    publication_name: str
    briefing_id: int
    slug: str
    title: str
    topics: tuple[str, ...]
    readers: int  # who would get it now (opted into alerts, on its topics or all)
    sent_today: int  # alerts the publication sent today (in its zone)
    limit: int  # its alerts_per_day

    @property
    def over_limit(self) -> bool:
        """Whether this alert would go past the day's limit (an admin must override)."""
        return self.sent_today >= self.limit


@dataclass(frozen=True)
class AlertStarted:
    """An alert on its way: its digest, its scheduled edition, its page, its readers."""

    digest_id: int
    edition_id: int
    publication: str
    slug: str
    title: str
    readers: int
    url: str
    over_limit: bool


def check_alert(
    session: Session, id_or_slug: str, publication_slug: str, *, now: datetime | None = None
) -> AlertCheck:
    """Whether ``id_or_slug`` can go to ``publication_slug``'s alert readers now, and to
    how many; refused (a ``UserError`` saying why) otherwise. The daily limit is not a
    refusal here: ``AlertCheck.over_limit`` says whether an admin must override it."""
    now = now or utcnow()
    publication = get_publication(session, publication_slug)
    briefing = get_briefing(session, id_or_slug)
    earlier = find_alert(session, publication, briefing.id)
    if earlier is not None:
        raise AlreadyAlerted(
            f"briefing {briefing.slug!r} (id {briefing.id}) was already sent as an alert in "
            f"{publication.slug} (digest {earlier.id}): nothing was sent",
            earlier.id,
        )
    content = alertable(briefing, approved_revision(session, briefing), now)
    refuse_if_paused(publication)
    readers = alert_readers(session, publication, content.topic_names, now)
    if readers == 0:
        on = f" on {', '.join(content.topic_names)}" if content.topic_names else ""
        raise ConflictError(
            f"{publication.slug} has no readers who opted into alerts{on}: "
            f"briefing {briefing.slug!r} was not sent"
        )
    return AlertCheck(
        publication=publication.slug,
        publication_name=publication.name,
        briefing_id=briefing.id,
        slug=briefing.slug,
        title=content.title,
        topics=tuple(content.topic_names),
        readers=readers,
        sent_today=alerts_today(session, publication, now),
        limit=publication.alerts_per_day,
    )


def refuse_over_limit(check: AlertCheck, *, override: bool, admin: bool) -> None:
    """Refuse (``TransitionError``) an alert past the day's limit without an admin's override."""
    if not check.over_limit:
        return
    sent = f"{check.publication} sent {check.sent_today} alerts today; its limit is {check.limit}"
    if not override:
        raise TransitionError(
            f"{sent}: going past it needs an admin's override (over_limit); nothing was sent"
        )
    if not admin:
        raise TransitionError(f"{sent}: only an admin may go past it; nothing was sent")


def start_alert(
    session: Session,
    id_or_slug: str,
    publication_slug: str,
    *,
    actor: str,
    ip: str = "",
    admin: bool = False,
    override: bool = False,
    now: datetime | None = None,
) -> AlertStarted:
    """Check, freeze, render and publish the alert, and record it started (caller commits).

    ``override``: go past the day's limit, allowed only when ``admin``. The caller asks
    a worker to plan it after the commit (``request_plan``).
    """
    now = now or utcnow()
    check = check_alert(session, id_or_slug, publication_slug, now=now)
    refuse_over_limit(check, override=override, admin=admin)
    publication = get_publication(session, publication_slug)
    briefing = get_briefing(session, id_or_slug)
    digest = assemble_alert(session, publication, briefing, now=now)
    render_digest(session, digest.id)
    publish_digest(session, digest.id, now=now)
    record_public(session, digest, "alert published")
    edition = ScheduledEdition(
        publication=publication,
        edition_date=digest.edition_date,
        cadence=digest.cadence,
        slot=digest.slot,
        due_at=now,
        kind=EditionKind.NOW,
        state=EditionState.STARTED,
        digest_id=digest.id,
        started_at=now,
        created_at=now,
        updated_at=now,
    )
    session.add(edition)
    session.flush()
    over = check.over_limit
    accounts.audit(
        session,
        actor,
        "alert.send",
        f"{publication.slug} briefing {briefing.slug}",
        ip=ip,
        digest=digest.id,
        briefing=briefing.id,
        readers=check.readers,
        sent_today=check.sent_today,
        limit=check.limit,
        over_limit=over,
    )
    return AlertStarted(
        digest_id=digest.id,
        edition_id=edition.id,
        publication=publication.slug,
        slug=briefing.slug,
        title=check.title,
        readers=check.readers,
        url=alert_url(publication, digest.slot),
        over_limit=over,
    )


def alert_url(publication: Publication, key: str) -> str:
    """The public page of the publication's alert with this key."""
    return urls.alert_page(publication.base_url, publication.slug, key)
