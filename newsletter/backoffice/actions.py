"""Editors' and admins' actions, each with its audit entry: one place for pages and API.

The HTML pages and the REST API are two front ends of the same actions; both call
these, so an action is always recorded the same way whichever way it was taken.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time
from typing import Any

from sqlalchemy.orm import Session

from newsletter.backoffice.previews import Preview, preview_next
from newsletter.content.slots import SlotSpec
from newsletter.delivery.resend import Requeued, requeue_transient
from newsletter.editors import services as accounts
from newsletter.pipeline import cancel as pipeline_cancel
from newsletter.publications import services as publications
from newsletter.publications.models import Publication
from newsletter.publications.services import get_publication
from newsletter.runtime import Runtime
from newsletter.schedules import editions, slots
from newsletter.schedules import services as schedules
from newsletter.schedules.models import ScheduledEdition, ScheduleSlot
from subscribers import lists
from subscribers.models import MailingList
from subscribers.tokens import tokens_for


def set_schedule(
    db: Session,
    actor: str,
    ip: str,
    slug: str,
    *,
    send_time: time,
    timezone: str,
    weekdays: frozenset[str],
) -> None:
    """Change a publication's recurring schedule."""
    schedules.set_schedule(db, slug, send_time=send_time, timezone=timezone, weekdays=weekdays)
    accounts.audit(
        db,
        actor,
        "schedule.set",
        slug,
        ip=ip,
        send_time=send_time.strftime("%H:%M"),
        timezone=timezone,
        weekdays=sorted(weekdays),
    )


def add_slot(
    db: Session, actor: str, ip: str, slug: str, spec: SlotSpec, *, label: Callable[[str], str]
) -> ScheduleSlot:
    """Add a named slot to a publication's schedule (``label`` names the refused field)."""
    slot = slots.add_slot(db, slug, spec, label=label)
    accounts.audit(
        db,
        actor,
        "schedule.slot_add",
        slug,
        ip=ip,
        name=spec.name,
        send_time=spec.send_time.strftime("%H:%M"),
        weekdays=sorted(spec.weekdays),
        cutoff_minutes=spec.cutoff_minutes,
    )
    return slot


def remove_slot(db: Session, actor: str, ip: str, slug: str, name: str) -> None:
    """Remove a named slot of a publication's schedule."""
    slots.remove_slot(db, slug, name, field="name")
    accounts.audit(db, actor, "schedule.slot_remove", slug, ip=ip, name=name)


def schedule_once(db: Session, actor: str, ip: str, slug: str, local: datetime) -> ScheduledEdition:
    """Add a one-off edition at a local date and time."""
    edition = editions.schedule_once(db, slug, local)
    accounts.audit(
        db, actor, "schedule.once", edition.label(), ip=ip, at=local.strftime("%Y-%m-%d %H:%M")
    )
    return edition


def send_now(db: Session, actor: str, ip: str, slug: str, slot: str = "") -> ScheduledEdition:
    """Add today's edition (of the named ``slot``: a publication's slots give one each) due
    at once (the next beat tick starts it)."""
    edition = editions.send_now(db, slug, slot=slot)
    accounts.audit(
        db, actor, "edition.send_now", edition.label(), ip=ip, due_at=edition.due_at.isoformat()
    )
    return edition


def cancel(db: Session, actor: str, ip: str, edition_id: int) -> pipeline_cancel.CancelResult:
    """Cancel a scheduled edition; while sending, its unsent batches stop."""
    result = pipeline_cancel.cancel(db, edition_id)
    accounts.audit(
        db,
        actor,
        "schedule.cancel",
        result.edition.label(),
        ip=ip,
        stopped_batches=result.stopped_batches,
        withdrawing=result.withdrawing,
        unstoppable=result.unstoppable,
    )
    return result


def resend(
    db: Session, actor: str, ip: str, digest_id: int, *, now: datetime, batch_size: int
) -> Requeued:
    """Queue an edition's transiently failed readers again, once, while it is fresh."""
    requeued = requeue_transient(db, digest_id, now=now, batch_size=batch_size)
    accounts.audit(
        db,
        actor,
        "edition.resend",
        str(digest_id),
        ip=ip,
        readers=requeued.readers,
        deliver_by=requeued.deliver_by.isoformat(),
    )
    return requeued


def edit_publication(
    db: Session,
    actor: str,
    ip: str,
    slug: str,
    changes: dict[str, Any],
    *,
    label: Callable[[str], str] = str,
) -> Publication:
    """Change some settings of a publication (validated as a whole); audits the changed fields."""
    before = publications.spec_of(publications.get_publication(db, slug)).model_dump(mode="json")
    publication = publications.edit_publication(db, slug, changes, label=label)
    after = publications.spec_of(publication).model_dump(mode="json")
    changed = sorted(k for k in after if after[k] != before[k])
    accounts.audit(db, actor, "publication.edit", slug, ip=ip, changed=changed)
    return publication


def add_list(
    db: Session, actor: str, ip: str, publication: str, slug: str, name: str, *, double: bool
) -> MailingList:
    """Add a mailing list to a publication (list slugs are unique)."""
    created = lists.add_list(db, publication, slug, name, double_opt_in=double)
    accounts.audit(
        db, actor, "list.add", created.slug, ip=ip, publication=publication, double_opt_in=double
    )
    return created


def set_opt_in(db: Session, actor: str, ip: str, slug: str, *, double: bool) -> MailingList:
    """Switch a list between double and single opt-in; only new sign-ups change."""
    mailing_list = lists.set_double_opt_in(db, slug, double)
    action = "list.double_opt_in" if double else "list.single_opt_in"
    accounts.audit(db, actor, action, mailing_list.slug, ip=ip)
    return mailing_list


def send_test_copy(
    rt: Runtime, actor: str, ip: str, slug: str, address: str, slot: str = ""
) -> Preview:
    """Send the next edition (of a named ``slot``), marked [TEST], to ``address``; returns
    its preview.

    Nothing is sent when the edition would be skipped: the preview has no ``test_batch``.
    """
    with rt.database.session() as db:
        publication = get_publication(db, slug)
        tokens = tokens_for(rt.settings)
        view = preview_next(db, publication, tokens, test_to=address, slot=slot)
    if view.test_batch is not None:
        rt.sender.send_batch(view.test_batch)
        with rt.database.session() as db:
            label = f"{slug} {view.edition_date}" + (f" ({slot})" if slot else "")
            accounts.audit(db, actor, "edition.test_send", label, ip=ip, to=address)
    return view
