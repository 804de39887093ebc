"""Schedule services: set schedules, add one-off editions, and claim due editions.

Cancelling an edition is the pipeline's (``newsletter.pipeline.cancel``).

``claim_due`` is the heart of the beat tick. It asks ``due.due_editions`` what is due
and claims each edition through the unique (publication, edition date, cadence, slot)
key of ``scheduled_editions``: a recurring edition is claimed by inserting its row, a
one-off by a conditional ``UPDATE ... WHERE state = 'scheduled'``. Whoever loses the
race (a second tick, a second beat process) gets nothing, so nothing starts twice.

A local-delivery publication's edition is due at the earliest of its readers' zones
(``due`` module docstring); the tick reads the distinct zones of its confirmed readers
only for such publications, and only when one of their editions still to claim is near.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from newsletter import parsing
from newsletter.content.edition import Cadence
from newsletter.content.slots import (
    SlotSpec,
    check_cutoff,
    check_name,
    check_new_slot,
    check_slots,
)
from newsletter.db import utcnow
from newsletter.digests.models import Digest
from newsletter.errors import InvalidInputError, NotFoundError
from newsletter.localtime import local_instant
from newsletter.publications.models import Publication
from newsletter.publications.services import get_publication
from newsletter.publications.spec import load_slots
from newsletter.schedules import due
from newsletter.schedules.models import (
    EditionKind,
    EditionState,
    ScheduleActivity,
    ScheduledEdition,
    ScheduleSlot,
)
from subscribers.models import MailingList, Subscriber, Subscription, SubscriptionState

# How the CLI names each field of a slot (``add_slot``'s default ``label``).
_CLI_FIELDS = {"name": "--name", "time": "--time", "days": "--days", "cutoff": "--cutoff"}

MISSED_REASON = "not started within {window} of its time ({due_at:%Y-%m-%d %H:%M} UTC)"


@dataclass(frozen=True)
class TickResult:
    """What one tick claimed: editions to start, and editions it marked missed."""

    started: list[int] = field(default_factory=list)
    missed: list[int] = field(default_factory=list)


def active_since(session: Session, publication: Publication) -> datetime:
    """Since when the publication's recurring schedule counts."""
    row = session.get(ScheduleActivity, publication.id)
    return max(publication.created_at, row.active_since) if row else publication.created_at


def mark_active(session: Session, publication: Publication, now: datetime) -> None:
    """Record that the schedule counts from ``now`` on (after a change or a resume)."""
    row = session.get(ScheduleActivity, publication.id)
    if row is None:
        session.add(ScheduleActivity(publication_id=publication.id, active_since=now))
    else:
        row.active_since = now
    session.flush()


def recurring(
    session: Session, publication: Publication, zones: frozenset[str] = frozenset()
) -> due.Recurring:
    """A publication's schedule as the plain value ``due`` works on (``zones``: its
    readers' zones, which matter only with local delivery; see ``reader_zones``)."""
    since = active_since(session, publication)
    slots = tuple(
        due.Slot(
            name=row.name,
            send_time=row.send_time,
            weekdays=frozenset(row.weekdays),
            cutoff_minutes=row.cutoff_minutes,
            active_since=max(since, row.created_at),
        )
        for row in slots_of(session, publication)
    )
    return due.Recurring(
        publication_id=publication.id,
        send_time=publication.send_time,
        weekdays=frozenset(publication.weekdays),
        timezone=publication.timezone,
        active_since=since,
        paused=publication.paused,
        weekly_days=frozenset(publication.weekly_days),
        local_delivery=publication.local_delivery,
        zones=zones,
        slots=slots,
    )


def slots_of(session: Session, publication: Publication) -> list[ScheduleSlot]:
    """A publication's named slots, by send time."""
    return list(
        session.scalars(
            select(ScheduleSlot)
            .where(ScheduleSlot.publication_id == publication.id)
            .order_by(ScheduleSlot.send_time, ScheduleSlot.name)
        )
    )


def reader_zones(session: Session, publication_ids: list[int]) -> dict[int, frozenset[str]]:
    """The distinct zones of each publication's confirmed digest readers (one query for all).

    Readers without a zone take the publication's, which always counts anyway. A zone
    this system cannot read (it was valid when stored) is left out rather than stopping
    the tick: those readers are still delivered by the delivery core.
    """
    found: dict[int, set[str]] = {publication_id: set() for publication_id in publication_ids}
    if not publication_ids:
        return {}
    rows = session.execute(
        select(MailingList.publication_id, Subscriber.timezone)
        .join(Subscription, Subscription.list_id == MailingList.id)
        .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
        .where(
            MailingList.publication_id.in_(publication_ids),
            Subscription.state == SubscriptionState.CONFIRMED,
            # Alerts go at once: only readers of the digest move its schedule.
            Subscription.digests.is_(True),
            Subscriber.timezone.is_not(None),
        )
        .distinct()
    )
    for publication_id, name in rows:
        if name and parsing.read_zone(name) is not None:
            found[publication_id].add(name)
    return {publication_id: frozenset(zones) for publication_id, zones in found.items()}


def publication_schedule(session: Session, publication: Publication) -> due.Recurring:
    """A publication's schedule with its readers' zones when it delivers locally."""
    if not publication.local_delivery:
        return recurring(session, publication)
    zones = reader_zones(session, [publication.id]).get(publication.id, frozenset())
    return recurring(session, publication, zones)


def set_schedule(
    session: Session,
    slug: str,
    *,
    send_time: time,
    timezone: str,
    weekdays: frozenset[str],
    now: datetime | None = None,
) -> Publication:
    """Change a publication's recurring schedule; editions before ``now`` are not due."""
    parsing.zone(timezone)
    if not weekdays:
        raise InvalidInputError("--days: give at least one day")
    publication = get_publication(session, slug)
    publication.send_time = send_time
    publication.timezone = timezone
    publication.weekdays = [day for day in parsing.WEEKDAYS if day in weekdays]
    mark_active(session, publication, now or utcnow())
    return publication


def _spec(row: ScheduleSlot) -> SlotSpec:
    return SlotSpec(row.name, row.send_time, frozenset(row.weekdays), row.cutoff_minutes)


def add_slot(
    session: Session,
    slug: str,
    spec: SlotSpec,
    *,
    label: Callable[[str], str] = _CLI_FIELDS.__getitem__,
    now: datetime | None = None,
) -> ScheduleSlot:
    """Add a named slot to a publication's schedule; refused, naming the field (``label``
    maps name, time, days, cutoff to what the caller calls them), if its name is taken
    or invalid, or it clashes with another slot (``content.slots``)."""
    check_name(spec.name, field=label("name"))
    check_cutoff(spec.cutoff_minutes, field=label("cutoff"))
    if not spec.weekdays:
        raise InvalidInputError(f"{label('days')}: give at least one day")
    publication = get_publication(session, slug)
    if publication.local_delivery:
        raise InvalidInputError(
            f"{label('name')}: {slug} delivers at each reader's own local time; named slots "
            "need the publication's single time zone (turn local delivery off first)"
        )
    existing = [_spec(row) for row in slots_of(session, publication)]
    if any(other.name == spec.name for other in existing):
        raise InvalidInputError(f"{label('name')}: {slug} already has a slot {spec.name!r}")
    check_new_slot(spec, existing, field=label("time"))
    row = ScheduleSlot(
        publication_id=publication.id,
        name=spec.name,
        send_time=spec.send_time,
        weekdays=[day for day in parsing.WEEKDAYS if day in spec.weekdays],
        cutoff_minutes=spec.cutoff_minutes,
        created_at=now or utcnow(),
    )
    session.add(row)
    session.flush()
    return row


def sync_slots(
    session: Session,
    slug: str,
    specs: tuple[SlotSpec, ...],
    *,
    field: str = "slot",
    now: datetime | None = None,
) -> list[str]:
    """Make a publication's named slots exactly ``specs`` (from ``publications load``):
    add the new, remove the ones gone, change the changed (counting from ``now``, so a
    moved slot's past times are not due). What changed, one line each."""
    now = now or utcnow()
    publication = get_publication(session, slug)
    if specs and publication.local_delivery:
        raise InvalidInputError(
            f"{field}: {slug} delivers at each reader's own local time; named slots need "
            "the publication's single time zone"
        )
    check_slots(list(specs), field=field)
    current = {row.name: row for row in slots_of(session, publication)}
    wanted = {spec.name: spec for spec in specs}
    done: list[str] = []
    for name, gone in current.items():
        if name not in wanted:
            session.delete(gone)
            done.append(f"removed slot {slug}/{name}")
    for name, spec in wanted.items():
        row = current.get(name)
        days = [day for day in parsing.WEEKDAYS if day in spec.weekdays]
        if row is None:
            session.add(
                ScheduleSlot(
                    publication_id=publication.id,
                    name=name,
                    send_time=spec.send_time,
                    weekdays=days,
                    cutoff_minutes=spec.cutoff_minutes,
                    created_at=now,
                )
            )
            done.append(f"added   slot {slug}/{name}")
        elif _spec(row) != spec:
            row.send_time, row.weekdays = spec.send_time, days
            row.cutoff_minutes, row.created_at = spec.cutoff_minutes, now
            done.append(f"changed slot {slug}/{name}")
    session.flush()
    return done


def slots_guard(session: Session, publication: Publication, label: Callable[[str], str]) -> None:
    """Refuse (naming ``local_delivery`` as the caller calls it) local delivery for a
    publication with named slots: slots are times in the publication's one zone."""
    if publication.local_delivery and slots_of(session, publication):
        raise InvalidInputError(
            f"{label('local_delivery')}: {publication.slug} has named slots, which send at "
            "times of its own time zone; remove them first (newsletter schedule slot remove)"
        )


def load_file_slots(session: Session, path: Path) -> list[str]:
    """Store the named slots a ``publications load`` file declares (``sync_slots``)."""
    done: list[str] = []
    for slug, specs in load_slots(path).items():
        done.extend(sync_slots(session, slug, specs, field=f"{path}: [[publication.slot]]"))
    return done


def remove_slot(session: Session, slug: str, name: str, *, field: str = "--name") -> ScheduleSlot:
    """Remove a publication's slot (its editions already made stay, with its name); an
    unknown name: ``NotFoundError`` naming ``field``."""
    publication = get_publication(session, slug)
    row = get_slot(session, publication, name, field=field)
    session.delete(row)
    session.flush()
    return row


def set_paused(
    session: Session, slug: str, paused: bool, *, now: datetime | None = None
) -> Publication:
    """Pause or resume a publication; on resume, editions due while paused are not sent."""
    publication = get_publication(session, slug)
    if publication.paused and not paused:
        mark_active(session, publication, now or utcnow())
    publication.paused = paused
    session.flush()
    return publication


def _taken(
    session: Session, publication: Publication, edition_date: date, cadence: Cadence, slot: str
) -> str | None:
    """Why an edition of that cadence and slot for that date cannot be added, or None."""
    row = session.scalar(
        select(ScheduledEdition).where(
            ScheduledEdition.publication_id == publication.id,
            ScheduledEdition.edition_date == edition_date,
            ScheduledEdition.cadence == cadence,
            ScheduledEdition.slot == slot,
        )
    )
    if row is not None:
        return f"{row.label()} is already {row.state.value}"
    digest = session.scalar(
        select(Digest.id).where(
            Digest.publication_id == publication.id,
            Digest.edition_date == edition_date,
            Digest.cadence == cadence,
            Digest.slot == slot,
        )
    )
    if digest is not None:
        kind = "weekly roundup" if cadence is Cadence.WEEKLY else "digest"
        of = f" ({slot})" if slot else ""
        return f"{kind} {digest} already exists for {edition_date.isoformat()}{of}"
    return None


def refuse_weekly_day(publication: Publication, edition_date: date) -> None:
    """Raise ``InvalidInputError`` unless the publication offers a roundup on that weekday:
    only readers of that weekday get a weekly roundup."""
    day = parsing.WEEKDAYS[edition_date.weekday()]
    if day not in publication.weekly_days:
        offered = ",".join(publication.weekly_days) or "none"
        raise InvalidInputError(
            f"--cadence weekly: {publication.slug} offers no weekly roundup on {day} "
            f"({edition_date.isoformat()}; weekly days: {offered})"
        )


def refuse_if_paused(publication: Publication) -> None:
    """Raise ``InvalidInputError`` if the publication is paused: no edition may go out."""
    if publication.paused:
        raise InvalidInputError(
            f"{publication.slug} is paused: no edition goes out until it is resumed "
            f"(newsletter publications resume {publication.slug})"
        )


def schedule_once(
    session: Session,
    slug: str,
    local: datetime,
    *,
    kind: EditionKind = EditionKind.ONCE,
    now: datetime | None = None,
    cadence: Cadence = Cadence.DAILY,
    slot: str = "",
) -> ScheduledEdition:
    """Add a one-off edition (or weekly roundup) at a local date and time in the
    publication's time zone; with ``slot``, that slot's edition of the date (it
    replaces the recurring one, and takes what was approved until ``local``)."""
    now = now or utcnow()
    publication = get_publication(session, slug)
    refuse_if_paused(publication)
    if cadence is Cadence.WEEKLY:
        refuse_weekly_day(publication, local.date())
    if slot:
        if cadence is Cadence.WEEKLY:
            raise InvalidInputError(
                "--slot: a weekly roundup belongs to the main schedule, not to a slot"
            )
        get_slot(session, publication, slot)
    due_at = local_instant(local.date(), local.time(), publication.timezone)
    if kind is EditionKind.ONCE and due_at <= now:
        raise InvalidInputError(f"--at: {local:%Y-%m-%d %H:%M} is in the past")
    reason = _taken(session, publication, local.date(), cadence, slot)
    if reason is not None:
        raise InvalidInputError(f"{publication.slug} {local.date().isoformat()}: {reason}")
    edition = ScheduledEdition(
        publication=publication,
        edition_date=local.date(),
        cadence=cadence,
        slot=slot,
        due_at=due_at,
        kind=kind,
        state=EditionState.SCHEDULED,
    )
    session.add(edition)
    session.flush()
    return edition


def send_now(
    session: Session,
    slug: str,
    *,
    now: datetime | None = None,
    cadence: Cadence = Cadence.DAILY,
    slot: str = "",
) -> ScheduledEdition:
    """Add today's edition (in the publication's zone; or its weekly roundup, or a slot's
    edition), due at once."""
    now = now or utcnow()
    publication = get_publication(session, slug)
    refuse_if_paused(publication)
    # Keep the microseconds: the edition's cut-off is this instant, and a briefing
    # approved a moment before pressing "send now" belongs in it.
    local = now.astimezone(parsing.zone(publication.timezone)).replace(tzinfo=None)
    return schedule_once(
        session, slug, local, kind=EditionKind.NOW, now=now, cadence=cadence, slot=slot
    )


def one_offs_ahead(
    session: Session, publication: Publication, now: datetime
) -> list[ScheduledEdition]:
    """The publication's one-off editions still to start, soonest first."""
    return list(
        session.scalars(
            select(ScheduledEdition)
            .where(
                ScheduledEdition.publication_id == publication.id,
                ScheduledEdition.kind == EditionKind.ONCE,
                ScheduledEdition.state == EditionState.SCHEDULED,
                ScheduledEdition.due_at > now,
            )
            .order_by(ScheduledEdition.due_at)
        )
    )


def send_now_refusal(session: Session, slug: str, *, now: datetime | None = None) -> str | None:
    """Why ``send_now`` would refuse today's edition now (paused, or today's edition is
    already on record), or None: the back office offers the action only then."""
    now = now or utcnow()
    publication = get_publication(session, slug)
    if publication.paused:
        return f"{publication.slug} is paused"
    today = now.astimezone(parsing.zone(publication.timezone)).date()
    return _taken(session, publication, today, Cadence.DAILY, "")


def get_slot(
    session: Session, publication: Publication, name: str, *, field: str = "--slot"
) -> ScheduleSlot:
    """The publication's slot called ``name``, or ``NotFoundError`` naming ``field``."""
    row = session.scalar(
        select(ScheduleSlot).where(
            ScheduleSlot.publication_id == publication.id, ScheduleSlot.name == name
        )
    )
    if row is None:
        names = ", ".join(slot.name for slot in slots_of(session, publication)) or "none"
        raise NotFoundError(
            f"{field}: {publication.slug} has no slot {name[:40]!r} (its slots: {names})"
        )
    return row


def slot_cutoff(session: Session, publication: Publication, day: date, slot: str) -> datetime:
    """The cut-off of a slot's edition of ``day``: the slot's send time there, less its
    cut-off minutes (an unknown slot: ``NotFoundError`` naming ``--slot``)."""
    row = get_slot(session, publication, slot)
    due_at = local_instant(day, row.send_time, publication.timezone)
    return due_at - timedelta(minutes=row.cutoff_minutes)


def edition_cutoff(session: Session, edition: ScheduledEdition) -> datetime:
    """Briefings approved before this go into the edition: its time, or for a recurring
    slot edition its slot's cut-off before it (0 minutes if the slot was removed since)."""
    if not edition.slot or edition.kind is not EditionKind.RECURRING:
        return edition.due_at
    minutes = session.scalar(
        select(ScheduleSlot.cutoff_minutes).where(
            ScheduleSlot.publication_id == edition.publication_id,
            ScheduleSlot.name == edition.slot,
        )
    )
    return edition.due_at - timedelta(minutes=minutes or 0)


def get_edition(session: Session, edition_id: int) -> ScheduledEdition:
    """The scheduled edition with this id, or ``NotFoundError``."""
    edition = session.get(ScheduledEdition, edition_id)
    if edition is None:
        raise NotFoundError(f"unknown edition {edition_id}")
    return edition


def editions_with_digest_state(
    session: Session, *, slug: str | None = None
) -> list[tuple[ScheduledEdition, str | None]]:
    """Every edition the scheduler knows of with its digest's state, newest first."""
    query = (
        select(ScheduledEdition, Digest.state)
        .outerjoin(Digest, Digest.id == ScheduledEdition.digest_id)
        .order_by(ScheduledEdition.due_at.desc(), ScheduledEdition.id.desc())
    )
    if slug is not None:
        query = query.where(ScheduledEdition.publication_id == get_publication(session, slug).id)
    return [(edition, state.value if state else None) for edition, state in session.execute(query)]


def _claim(
    session: Session, found: due.DueEdition, state: EditionState, now: datetime, reason: str | None
) -> int | None:
    """Claim one due edition in ``state``; the id, or None when someone else has it."""
    if found.edition_id is not None:
        claimed = session.execute(
            update(ScheduledEdition)
            .where(
                ScheduledEdition.id == found.edition_id,
                ScheduledEdition.state == EditionState.SCHEDULED,
            )
            .values(state=state, reason=reason, started_at=now, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        return found.edition_id if claimed.rowcount == 1 else None  # type: ignore[attr-defined]
    row = ScheduledEdition(
        publication_id=found.publication_id,
        edition_date=found.edition_date,
        cadence=found.cadence,
        slot=found.slot,
        due_at=found.due_at,
        kind=EditionKind.RECURRING,
        state=state,
        reason=reason,
        started_at=now,
        created_at=now,
        updated_at=now,
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return None  # another tick inserted it first
    return row.id


def _schedules(
    session: Session,
    publications: list[Publication],
    taken: set[due.Key],
    now: datetime,
    *,
    lookback: timedelta,
    lead: timedelta,
) -> list[due.Recurring]:
    """Every publication's schedule; local-delivery ones with their readers' zones when an
    edition of theirs not yet taken could be due by ``now + lead`` in some zone."""
    schedules = [recurring(session, publication) for publication in publications]
    near = [
        schedule.publication_id
        for schedule in schedules
        if schedule.local_delivery
        and not schedule.paused
        and any(
            edition.key not in taken
            for edition in due.occurrences(
                schedule,
                max(now - lookback, schedule.active_since),
                now + lead + due.ZONE_SPREAD,
            )
        )
    ]
    if not near:
        return schedules
    zones = reader_zones(session, near)
    return [
        replace(schedule, zones=zones[schedule.publication_id])
        if schedule.publication_id in zones
        else schedule
        for schedule in schedules
    ]


def claim_due(
    session: Session,
    now: datetime,
    *,
    window: timedelta,
    lookback: timedelta = due.DEFAULT_LOOKBACK,
    lead: timedelta = timedelta(0),
) -> TickResult:
    """Claim every due edition once: ``started`` if fresh, ``missed`` if past the window.

    With a ``lead``, an edition is claimed that long before its time (sending ahead).
    """
    publications = list(session.scalars(select(Publication)))
    floor = now - lookback - timedelta(days=2) - due.ZONE_SPREAD
    rows = session.execute(
        select(
            ScheduledEdition.id,
            ScheduledEdition.publication_id,
            ScheduledEdition.edition_date,
            ScheduledEdition.due_at,
            ScheduledEdition.state,
            ScheduledEdition.cadence,
            ScheduledEdition.slot,
        ).where(
            (ScheduledEdition.state == EditionState.SCHEDULED) | (ScheduledEdition.due_at >= floor)
        )
    ).all()
    one_offs = [
        due.OneOff(row[0], row[1], row[2], row[3], row[5], row[6])
        for row in rows
        if row[4] is EditionState.SCHEDULED
    ]
    taken: set[due.Key] = {(row[1], row[2], row[5], row[6]) for row in rows}
    # A digest assembled by hand (``digest assemble``) also takes its date (and slot).
    digests = session.execute(
        select(Digest.publication_id, Digest.edition_date, Digest.cadence, Digest.slot).where(
            Digest.edition_date >= floor.date()
        )
    )
    taken.update((pub, day, cadence, slot) for pub, day, cadence, slot in digests)
    schedules = _schedules(session, publications, taken, now, lookback=lookback, lead=lead)
    result = TickResult()
    for found in due.due_editions(
        schedules, one_offs, taken, now, window=window, lookback=lookback, lead=lead
    ):
        if found.late:
            reason = MISSED_REASON.format(window=window, due_at=found.due_at)
            claimed = _claim(session, found, EditionState.MISSED, now, reason)
            if claimed is not None:
                result.missed.append(claimed)
        else:
            claimed = _claim(session, found, EditionState.STARTED, now, None)
            if claimed is not None:
                result.started.append(claimed)
    return result
