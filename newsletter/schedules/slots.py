"""Named slots of a publication's schedule: add, remove, sync from a ``publications
load`` file, and the cut-off of a slot's edition (the rules of a slot are
``newsletter.content.slots``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter import parsing
from newsletter.content.slots import (
    SlotSpec,
    check_cutoff,
    check_name,
    check_new_slot,
    check_slots,
)
from newsletter.db import utcnow
from newsletter.errors import ConflictError, InvalidInputError, NotFoundError
from newsletter.localtime import local_instant
from newsletter.publications.models import Publication
from newsletter.publications.services import get_publication
from newsletter.publications.spec import load_slots
from newsletter.schedules.models import EditionKind, ScheduledEdition, ScheduleSlot

# How the CLI names each field of a slot (``add_slot``'s default ``label``).
_CLI_FIELDS = {"name": "--name", "time": "--time", "days": "--days", "cutoff": "--cutoff"}


def slots_of(session: Session, publication: Publication) -> list[ScheduleSlot]:
    """A publication's named slots, by send time."""
    return list(
        session.scalars(
            select(ScheduleSlot)
            .where(ScheduleSlot.publication_id == publication.id)
            .order_by(ScheduleSlot.send_time, ScheduleSlot.name)
        )
    )


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
        raise ConflictError(f"{label('name')}: {slug} already has a slot {spec.name!r}")
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
