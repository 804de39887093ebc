"""Schedule and account pages.

Everyone signed in may read schedules; changing them needs a publisher. Accounts
and the audit trail are for admins (readers: ``reader_views``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from newsletter import parsing
from newsletter.backoffice import actions
from newsletter.backoffice.edition_views import chosen_publication
from newsletter.backoffice.forms import (
    SLOT_FIELDS,
    edition_row,
    parse_local,
    schedule_fields,
    slot_row,
    slot_spec,
)
from newsletter.backoffice.pages import redirect, render
from newsletter.db import utcnow
from newsletter.editors import services as accounts
from newsletter.editors.auth import Principal, client_ip, form_user, page_user
from newsletter.editors.models import Role
from newsletter.errors import InvalidInputError, TransitionError
from newsletter.publications.models import Publication
from newsletter.schedules import due, editions, slots
from newsletter.schedules import services as schedules
from newsletter.web.deps import Id, runtime_of

router = APIRouter()

Editor = Annotated[Principal, Depends(page_user())]
Admin = Annotated[Principal, Depends(page_user(Role.ADMIN))]
Publisher = Annotated[Principal, Depends(form_user(Role.PUBLISHER))]
AdminForm = Annotated[Principal, Depends(form_user(Role.ADMIN))]
UPCOMING = 5


@router.get("/schedules", response_class=HTMLResponse)
def schedule_page(
    request: Request, user: Editor, publication: str = Query("", max_length=64)
) -> Response:
    """A publication's recurring schedule, its next editions and the editions on record."""
    return _schedule_view(request, user, publication)


# The form fields' names in the app's words, for messages that name a field (services
# name the CLI's flags or the API's fields).
FIELD_LABELS = {
    "--at": "Date and time",
    "at": "Date and time",
    "send_time": "Time",
    "timezone": "Time zone",
    "weekdays": "Days",
}


def in_app_words(message: str) -> str:
    """``message`` with a leading field name (``--at: ...``) said as the form says it."""
    field, colon, rest = message.partition(": ")
    label = FIELD_LABELS.get(field)
    return f"{label}: {rest}" if colon and label else message


def _schedule_view(
    request: Request,
    user: Principal,
    slug: str,
    *,
    error: str = "",
    status: int = 200,
    typed: dict[str, Any] | None = None,
) -> Response:
    """The schedule page, optionally with an error about a refused action and the
    refused form's values as typed (``typed``: send_time, timezone, weekdays, at)."""
    now = utcnow()
    with runtime_of(request).database.session() as db:
        chosen, publications = chosen_publication(db, slug)
        tz = parsing.zone(chosen.timezone)
        upcoming = _upcoming(db, chosen, now)
        context: dict[str, Any] = {
            "publication": {
                "slug": chosen.slug,
                "name": chosen.name,
                "send_time": chosen.send_time.strftime("%H:%M"),
                "timezone": chosen.timezone,
                "weekdays": list(chosen.weekdays),
                "paused": chosen.paused,
                "today": utcnow().astimezone(tz).date().isoformat(),
            },
            "upcoming": [
                at.astimezone(tz).strftime("%a %Y-%m-%d %H:%M %Z") + note for at, note in upcoming
            ],
            "send_now_refusal": editions.send_now_refusal(db, chosen.slug, now=now),
            "slots": [slot_row(row) for row in slots.slots_of(db, chosen)],
            "editions": [
                edition_row(e, s)
                for e, s in editions.editions_with_digest_state(db, slug=chosen.slug)
            ],
            "publications": [(p.slug, p.name) for p in publications],
        }
    return render(
        request,
        "schedules.html",
        user=user,
        section="schedules",
        page_title="Schedules",
        status=status,
        days=parsing.WEEKDAYS,
        error=error,
        typed=typed or {},
        **context,
    )


def _upcoming(db: Session, publication: Publication, now: datetime) -> list[tuple[datetime, str]]:
    """The next editions, recurring and one-off, with a note each ("(evening)",
    "(one-off)"); a one-off takes the place of the recurring edition of its date."""
    one_offs = editions.one_offs_ahead(db, publication, now)
    taken = {(e.edition_date, e.cadence, e.slot) for e in one_offs}
    found = [
        (e.due_at, f" ({e.slot})" if e.slot else "")
        for e in due.next_occurrences(schedules.recurring(db, publication), now, UPCOMING)
        if (e.edition_date, e.cadence, e.slot) not in taken
    ]
    found += [(e.due_at, f" ({e.slot}, one-off)" if e.slot else " (one-off)") for e in one_offs]
    return sorted(found)[:UPCOMING]


def _back(slug: str, done: str) -> Response:
    return redirect(f"/editor/schedules?publication={slug}", done)


@router.post("/schedules/{slug}")
def set_schedule(
    request: Request,
    user: Publisher,
    slug: str,
    send_time_text: Annotated[str, Form(alias="send_time", max_length=8)] = "",
    timezone: Annotated[str, Form(max_length=64)] = "",
    weekdays: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies defaults
) -> Response:
    """Change the recurring schedule: time, time zone and days (refused in place)."""
    try:
        fields = schedule_fields(send_time_text, timezone, weekdays)
        with runtime_of(request).database.session() as db:
            actions.set_schedule(db, user.name, client_ip(request), slug, **fields)
    except InvalidInputError as exc:
        typed = {"send_time": send_time_text, "timezone": timezone, "weekdays": weekdays}
        error = f"Schedule not saved: {in_app_words(str(exc))}."
        return _schedule_view(request, user, slug, error=error, status=400, typed=typed)
    return _back(slug, "scheduled")


@router.post("/schedules/{slug}/slots")
def add_slot(
    request: Request,
    user: Publisher,
    slug: str,
    name: Annotated[str, Form(max_length=64)] = "",
    send_time_text: Annotated[str, Form(alias="send_time", max_length=8)] = "",
    weekdays: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies defaults
    cutoff_minutes: Annotated[str, Form(max_length=8)] = "0",
) -> Response:
    """Add a named slot (its own time, days and cut-off); a clash is refused on the page."""
    try:
        spec = slot_spec(name, send_time_text, weekdays, cutoff_minutes)
        with runtime_of(request).database.session() as db:
            actions.add_slot(
                db, user.name, client_ip(request), slug, spec, label=SLOT_FIELDS.__getitem__
            )
    except InvalidInputError as exc:
        return _schedule_view(request, user, slug, error=f"Slot not added: {exc}.", status=400)
    return _back(slug, "slot added")


@router.post("/schedules/{slug}/slots/{name}/remove")
def remove_slot(request: Request, user: Publisher, slug: str, name: str) -> Response:
    """Remove a named slot (editions it already gave stay)."""
    with runtime_of(request).database.session() as db:
        actions.remove_slot(db, user.name, client_ip(request), slug, name)
    return _back(slug, "slot removed")


@router.post("/schedules/{slug}/once")
def schedule_once(
    request: Request, user: Publisher, slug: str, at: Annotated[str, Form(max_length=40)]
) -> Response:
    """Add a one-off edition at a local date and time (refused in place)."""
    try:
        local = parse_local(at)
        with runtime_of(request).database.session() as db:
            actions.schedule_once(db, user.name, client_ip(request), slug, local)
    except (InvalidInputError, TransitionError) as exc:
        error = f"One-off edition not added: {in_app_words(str(exc))}."
        return _schedule_view(request, user, slug, error=error, status=400, typed={"at": at})
    return _back(slug, "once")


@router.post("/schedules/{slug}/send-now")
def send_now(
    request: Request,
    user: Publisher,
    slug: str,
    confirm: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    """Send today's edition now: a one-off due at once, which the next beat tick starts."""
    if confirm != "yes":
        # Without JavaScript the checkbox is the confirmation step; the server insists on it.
        return _schedule_view(
            request,
            user,
            slug,
            error="Nothing was sent: tick the box to confirm that today's edition "
            "goes to every subscriber now.",
            status=400,
        )
    try:
        # The refusal leaves the session block, so its transaction is rolled back.
        with runtime_of(request).database.session() as db:
            actions.send_now(db, user.name, client_ip(request), slug)
    except InvalidInputError as exc:
        return _schedule_view(request, user, slug, error=f"Nothing was sent: {exc}.", status=409)
    return _back(slug, "sending")


@router.post("/schedules/{slug}/pause")
def pause(
    request: Request, user: Publisher, slug: str, paused: Annotated[str, Form(max_length=5)]
) -> Response:
    """Pause or resume the publication's editions."""
    stop = paused == "yes"
    with runtime_of(request).database.session() as db:
        schedules.set_paused(db, slug, stop)
        accounts.audit(
            db,
            user.name,
            "schedule.pause" if stop else "schedule.resume",
            slug,
            ip=client_ip(request),
        )
    return _back(slug, "paused" if stop else "resumed")


@router.post("/scheduled/{edition_id}/cancel")
def cancel(request: Request, user: Publisher, edition_id: Id) -> Response:
    """Cancel a scheduled edition (and stop its unsent batches)."""
    with runtime_of(request).database.session() as db:
        result = actions.cancel(db, user.name, client_ip(request), edition_id)
        slug = result.edition.publication.slug
    return _back(slug, "cancelled")


@router.get("/accounts", response_class=HTMLResponse)
def accounts_page(request: Request, user: Admin) -> Response:
    """Accounts with their roles and tokens, and the latest audit entries."""
    with runtime_of(request).database.session() as db:
        rows = [
            {
                "name": e.name,
                "email": e.email,
                "role": e.role.value,
                "disabled": e.disabled,
                "tokens": sum(t.revoked_at is None for t in e.tokens),
            }
            for e in accounts.list_editors(db)
        ]
        log = accounts.audit_log(db, limit=50)
    return render(
        request,
        "accounts.html",
        user=user,
        section="accounts",
        page_title="Accounts",
        rows=rows,
        log=log,
        roles=[r.value for r in Role],
    )


@router.post("/accounts")
def add_account(
    request: Request,
    user: AdminForm,
    name: Annotated[str, Form(max_length=120)],
    email: Annotated[str, Form(max_length=320)],
    role: Annotated[Role, Form()],
    password: Annotated[str, Form(max_length=1024)],
) -> Response:
    """Add an account with a first password."""
    with runtime_of(request).database.session() as db:
        accounts.add_editor(db, user.name, name, email, role, password, ip=client_ip(request))
    return redirect("/editor/accounts", "editor-added")


@router.post("/accounts/{name}/disable")
def disable_account(
    request: Request, user: AdminForm, name: str, disabled: Annotated[str, Form(max_length=5)]
) -> Response:
    """Disable or enable an account (an admin cannot disable themself)."""
    stop = disabled == "yes"
    with runtime_of(request).database.session() as db:
        editor = accounts.get_editor(db, name)
        if stop and editor.id == user.id:
            raise InvalidInputError("You cannot disable your own account.")
        accounts.switch_editor(db, user.name, editor, stop, ip=client_ip(request))
    return redirect("/editor/accounts", "editor-disabled" if stop else "editor-enabled")
