"""API: a publication's schedule, one-off editions, send-now and cancelling (publishers)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from newsletter.backoffice import actions
from newsletter.backoffice import schemas as s
from newsletter.backoffice.api_deps import PublicationSlug, Publisher, Reader
from newsletter.backoffice.forms import (
    SLOT_FIELDS,
    edition_row,
    parse_local,
    schedule_fields,
    slot_row,
    slot_spec,
)
from newsletter.db import utcnow
from newsletter.editors.auth import client_ip
from newsletter.errors import InvalidInputError, NotFoundError
from newsletter.publications.services import get_publication
from newsletter.schedules import due, editions, slots
from newsletter.schedules import services as schedules
from newsletter.web.deps import Id, runtime_of
from newsletter.web.pages import error_response

router = APIRouter()


def _schedule(db: Any, slug: str) -> s.ScheduleOut:
    chosen = get_publication(db, slug)
    upcoming = due.next_occurrences(schedules.recurring(db, chosen), utcnow(), 5)
    rows = editions.editions_with_digest_state(db, slug=slug)
    return s.ScheduleOut(
        publication=chosen.slug,
        send_time=chosen.send_time.strftime("%H:%M"),
        timezone=chosen.timezone,
        weekdays=list(chosen.weekdays),
        paused=chosen.paused,
        upcoming=[e.due_at for e in upcoming],
        slots=[s.SlotOut(**slot_row(row)) for row in slots.slots_of(db, chosen)],
        editions=[s.ScheduledEditionOut(**edition_row(e, st)) for e, st in rows],
    )


@router.get("/publications/{slug}/schedule", response_model=s.ScheduleOut, summary="Schedule")
def get_schedule(request: Request, user: Reader, slug: PublicationSlug) -> s.ScheduleOut:
    """The recurring schedule, the next editions and the editions on record."""
    with runtime_of(request).database.session() as db:
        return _schedule(db, slug)


@router.put("/publications/{slug}/schedule", response_model=s.ScheduleOut, summary="Set schedule")
def put_schedule(
    request: Request, user: Publisher, slug: PublicationSlug, body: s.ScheduleIn
) -> s.ScheduleOut:
    """Change the recurring schedule (publishers)."""
    fields = schedule_fields(body.send_time, body.timezone, body.weekdays)
    with runtime_of(request).database.session() as db:
        actions.set_schedule(db, user.name, client_ip(request), slug, **fields)
        return _schedule(db, slug)


@router.post(
    "/publications/{slug}/slots",
    status_code=201,
    response_model=s.ScheduleOut,
    summary="Add a named slot",
)
def add_slot(
    request: Request, user: Publisher, slug: PublicationSlug, body: s.SlotIn
) -> s.ScheduleOut:
    """Add a named slot (several editions a day), each with its own local time, days and
    cut-off; a name taken, or a time or cut-off window overlapping another slot's, is
    refused naming the field (publishers)."""
    spec = slot_spec(body.name, body.send_time, body.weekdays, body.cutoff_minutes)
    with runtime_of(request).database.session() as db:
        actions.add_slot(
            db, user.name, client_ip(request), slug, spec, label=SLOT_FIELDS.__getitem__
        )
        return _schedule(db, slug)


@router.delete(
    "/publications/{slug}/slots/{name}", response_model=s.ScheduleOut, summary="Remove a slot"
)
def remove_slot(
    request: Request, user: Publisher, slug: PublicationSlug, name: str
) -> s.ScheduleOut:
    """Remove a named slot; the editions it already gave stay (publishers)."""
    with runtime_of(request).database.session() as db:
        actions.remove_slot(db, user.name, client_ip(request), slug, name[:64])
        return _schedule(db, slug)


@router.post(
    "/publications/{slug}/editions",
    status_code=201,
    response_model=s.ScheduledEditionOut,
    summary="Add a one-off edition",
)
def add_edition(
    request: Request, user: Publisher, slug: PublicationSlug, body: s.OnceIn
) -> s.ScheduledEditionOut:
    """Schedule a one-off edition at a local date and time (publishers)."""
    local = parse_local(body.at)
    with runtime_of(request).database.session() as db:
        edition = actions.schedule_once(db, user.name, client_ip(request), slug, local)
        return s.ScheduledEditionOut(**edition_row(edition, None))


@router.post(
    "/publications/{slug}/send-now",
    status_code=201,
    response_model=s.ScheduledEditionOut,
    summary="Send today's edition now",
)
def send_now(
    request: Request, user: Publisher, slug: PublicationSlug, body: s.SendNowIn | None = None
) -> Response:
    """Add today's edition due at once; the scheduler starts it within a minute (publishers).

    A publication with named slots gives one edition a day per slot: ``{"slot":
    "evening"}`` starts that slot's (without a body: the main schedule's). A slot the
    publication does not have is refused (422, naming ``slot``). When that edition of
    today is already scheduled, sent or assembled, the answer is 409. Nothing changes
    on a refusal.
    """
    slot = body.slot if body is not None else ""
    try:
        # The refusal leaves the session block, so its transaction is rolled back.
        with runtime_of(request).database.session() as db:
            if slot:
                publication = get_publication(db, slug)  # an unknown slug stays a 404
                try:
                    slots.get_slot(db, publication, slot, field="slot")
                except NotFoundError as exc:
                    fields = [{"field": "slot", "message": str(exc).split(": ", 1)[1]}]
                    return error_response(request, 422, str(exc), fields=fields)
            edition = actions.send_now(db, user.name, client_ip(request), slug, slot)
            answer = s.ScheduledEditionOut(**edition_row(edition, None))
    except InvalidInputError as exc:
        return error_response(request, 409, f"Nothing was sent: {exc}")
    return JSONResponse(answer.model_dump(mode="json"), status_code=201)


@router.post(
    "/scheduled/{edition_id}/cancel", response_model=s.ScheduledEditionOut, summary="Cancel"
)
def cancel_edition(request: Request, user: Publisher, edition_id: Id) -> s.ScheduledEditionOut:
    """Cancel a scheduled edition; while sending, its unsent batches stop (publishers)."""
    with runtime_of(request).database.session() as db:
        result = actions.cancel(db, user.name, client_ip(request), edition_id)
        return s.ScheduledEditionOut(**edition_row(result.edition, None))
