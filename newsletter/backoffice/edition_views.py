"""Edition pages: the next edition's preview (as one reader gets it) with test-send, edition
history, reports."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from newsletter.backoffice import actions
from newsletter.backoffice.pages import redirect, render
from newsletter.backoffice.preview_slots import read_slot, slot_names
from newsletter.backoffice.previews import ReaderChoice, preview_for, read_choice
from newsletter.backoffice.reports import report_view
from newsletter.content.edition import Cadence
from newsletter.db import utcnow
from newsletter.delivery.resend import edition_deadline, transient_failures
from newsletter.digests.services import item_counts, list_digests
from newsletter.editors.auth import Principal, client_ip, form_user, page_user
from newsletter.editors.models import Role
from newsletter.editors.services import clean_email
from newsletter.errors import InvalidInputError, NotFoundError
from newsletter.publications.models import Publication
from newsletter.publications.services import get_publication, list_publications
from newsletter.web.deps import Id, runtime_of
from subscribers.choices import DAY_NAMES, offered_days, offered_topics, zone_options
from subscribers.tokens import tokens_for

router = APIRouter()

Editor = Annotated[Principal, Depends(page_user())]
Publisher = Annotated[Principal, Depends(form_user(Role.PUBLISHER))]
Slug = Annotated[str, Query(max_length=64)]


def chosen_publication(session: Session, slug: str) -> tuple[Publication, list[Publication]]:
    """The publication asked for (default: the first), and every publication for the picker."""
    publications = list_publications(session)
    if slug:
        return get_publication(session, slug), publications
    if not publications:
        raise NotFoundError(
            "There are no publications yet: add one with `newsletter publications add`."
        )
    return publications[0], publications


@router.get("/preview", response_class=HTMLResponse)
def preview(
    request: Request,
    user: Editor,
    publication: Slug = "",
    topics: Annotated[list[str] | None, Query()] = None,
    timezone: Annotated[str, Query(max_length=100)] = "",
    cadence: Annotated[str, Query(max_length=20)] = "",
    slot: Annotated[str, Query(max_length=64)] = "",
    language: Annotated[str, Query(max_length=35)] = "",
) -> Response:
    """The next edition as a reader with these topics, zone and cadence gets it (default: a
    daily reader of every topic in the publication's zone): email at two widths, text,
    subject, size, and when it reaches them. With named slots, ``slot`` picks whose daily
    edition (default: the main schedule's). A choice the publication does not offer is
    refused (400) with the field named, and nothing is previewed."""
    rt = runtime_of(request)
    typed = list(topics or [])
    error = ""
    with rt.database.session() as db:
        chosen, publications = chosen_publication(db, publication)
        try:
            choice = read_choice(
                db,
                chosen,
                topics=typed,
                timezone=timezone,
                cadence=cadence,
                slot=slot,
                language=language,
            )
        except InvalidInputError as exc:
            error, choice = str(exc), None
        view = None
        if choice is not None:
            view = preview_for(db, chosen, tokens_for(rt.settings), choice)
        form = {
            "publication": chosen.slug,
            "publication_name": chosen.name,
            "publication_zone": chosen.timezone,
            "local_delivery": chosen.local_delivery,
            "topics": offered_topics(db, chosen),
            "weekly_days": [DAY_NAMES[day] for day in offered_days(chosen)],
            "slots": slot_names(db, chosen),
            "languages": chosen.offered_languages(),
        }
        default_language = chosen.language
        slugs = [(p.slug, p.name) for p in publications]
    shown = choice or ReaderChoice(cadence=Cadence.DAILY)
    return render(
        request,
        "preview.html",
        user=user,
        section="preview",
        page_title="Next edition",
        status=400 if error else 200,
        preview=view,
        publications=slugs,
        form=form,
        error=error,
        error_field=error.split(":", 1)[0] if error else "",
        chosen_topics={t.casefold() for t in (shown.topics if choice else typed)},
        chosen_zone=shown.zone if choice else timezone.strip(),
        chosen_cadence=shown.cadence.value if choice else cadence.strip().lower(),
        chosen_slot=shown.slot if choice else slot.strip(),
        chosen_language=(shown.language or default_language) if choice else language.strip(),
        zones=zone_options(shown.zone if choice else None),
    )


@router.post("/preview/test-send")
def send_test_copy(
    request: Request,
    user: Publisher,
    publication: Annotated[str, Form(max_length=64)],
    to: Annotated[str, Form(max_length=320)] = "",
    slot: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Send one copy of the next edition (of a named slot), marked [TEST], to an address
    (default: your own)."""
    address = clean_email(to or user.email, parameter="to")
    rt = runtime_of(request)
    with rt.database.session() as db:  # an unknown slot: 400 naming the field, nothing sent
        name = read_slot(db, get_publication(db, publication), slot, Cadence.DAILY)
    view = actions.send_test_copy(rt, user.name, client_ip(request), publication, address, name)
    # Both checked above: a known slug, and a slot name (URL-safe by the slot rules).
    back = f"/editor/preview?publication={publication}" + (f"&slot={name}" if name else "")
    if view.test_batch is None:
        return redirect(back)
    return redirect(back, "test-sent")


@router.get("/editions", response_class=HTMLResponse)
def editions(request: Request, user: Editor, publication: Slug = "") -> Response:
    """A publication's editions, newest first, with their state and size."""
    with runtime_of(request).database.session() as db:
        chosen, publications = chosen_publication(db, publication)
        digests = list_digests(db, chosen)
        counts = item_counts(db, [d.id for d in digests])
        rows = [
            {
                "id": d.id,
                "date": d.edition_date,
                "state": d.state.value,
                "subject": d.subject or d.skip_reason or "",
                "briefings": counts[d.id],
                "weekly": d.cadence is Cadence.WEEKLY,
                "alert": d.cadence is Cadence.ALERT,
                "slot": d.slot if d.cadence is Cadence.DAILY else "",
            }
            for d in digests
        ]
        slugs = [(p.slug, p.name) for p in publications]
        current = (chosen.slug, chosen.name)
    return render(
        request,
        "editions.html",
        user=user,
        section="editions",
        page_title="Editions",
        rows=rows,
        publications=slugs,
        current=current,
    )


@router.get("/editions/{digest_id}", response_class=HTMLResponse)
def edition_report(request: Request, user: Editor, digest_id: Id) -> Response:
    """What happened to one edition's recipients, with charts."""
    with runtime_of(request).database.session() as db:
        view = report_view(db, digest_id)
        transient = transient_failures(db, digest_id)
        deliver_by = edition_deadline(db, digest_id)
    return render(
        request,
        "report.html",
        user=user,
        section="editions",
        page_title=f"{view.publication_name} {view.report.edition_date}"
        + (f" {view.report.slot}" if view.report.slot else ""),
        view=view,
        transient=transient,
        deliver_by=deliver_by,
        fresh=deliver_by is not None and utcnow() < deliver_by,
    )


@router.post("/editions/{digest_id}/resend")
def resend_transient(request: Request, user: Publisher, digest_id: Id) -> Response:
    """Send once more to the readers whose failure was transient, while the edition is fresh."""
    rt = runtime_of(request)
    with rt.database.session() as db:
        actions.resend(
            db,
            user.name,
            client_ip(request),
            digest_id,
            now=utcnow(),
            batch_size=rt.settings.dispatch_batch_size,
        )
    return redirect(f"/editor/editions/{digest_id}", "resent")
