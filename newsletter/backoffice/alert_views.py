"""The "Send as alert" action on an approved briefing: count, confirm, send (publishers).

``GET /editor/briefings/{slug}/alert?publication=P`` shows what the alert would be
(headline, lede, its topics) and to whom: how many readers opted into alerts on its
topics, and the publication's alerts today against its ``alerts_per_day``. Anything
that would refuse it (not approved, alerted already, no readers, a paused publication)
is said there instead of a button. The confirmation form posts back with a ticked box;
past the limit only an admin sees (and must tick) the override, which the audit log
records. The alert is then frozen, rendered and public before the answer, and a worker
is asked to plan and send it at once (``app.state.request_plan``, from the factory).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from newsletter.backoffice.pages import redirect, render
from newsletter.briefings import services as briefings
from newsletter.db import utcnow
from newsletter.digests.alerts import alerts_today
from newsletter.editors.auth import Principal, client_ip, form_user, page_user
from newsletter.editors.models import Role
from newsletter.errors import UserError
from newsletter.parsing import SLUG_PATTERN
from newsletter.pipeline.alerts import AlertCheck, check_alert, start_alert
from newsletter.publications.services import list_publications
from newsletter.publishing.after import flush_after_response
from newsletter.publishing.corrections import PublicChanges
from newsletter.web.deps import runtime_of
from newsletter.web.handlers import status_of

router = APIRouter()

Publisher = Annotated[Principal, Depends(page_user(Role.PUBLISHER))]
PublisherForm = Annotated[Principal, Depends(form_user(Role.PUBLISHER))]
Slug = Annotated[str, Form(max_length=64, pattern=SLUG_PATTERN)]
Tick = Annotated[str, Form(max_length=10)]


def _page(
    request: Request,
    user: Principal,
    slug: str,
    publication: str,
    *,
    error: str = "",
    status: int = 200,
) -> Response:
    """The confirmation page; with ``error`` (a refusal) nothing can be sent from it."""
    check: AlertCheck | None = None
    with runtime_of(request).database.session() as db:
        briefing = briefings.get_briefing(db, slug)
        content = briefings.revision(db, briefing, briefing.approved_revision).parsed()
        publications = [
            {"slug": p.slug, "name": p.name, "today": alerts_today(db, p, utcnow())}
            for p in list_publications(db)
        ]
        chosen = publication or (publications[0]["slug"] if len(publications) == 1 else "")
        if chosen and not error:
            try:
                check = check_alert(db, briefing.slug, str(chosen))
            except UserError as exc:
                error, status = str(exc), status_of(exc)
        slug = briefing.slug
    return render(
        request,
        "alert.html",
        user=user,
        section="briefings",
        page_title=f"Send as alert: {content.title}",
        status=status,
        slug=slug,
        content=content,
        publications=publications,
        chosen=chosen,
        check=check,
        error=error,
        admin=user.can(Role.ADMIN),
    )


@router.get("/briefings/{slug}/alert", response_class=HTMLResponse)
def alert_page(
    request: Request,
    user: Publisher,
    slug: str,
    publication: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    """What sending the briefing as an alert would do, and the confirmation form."""
    return _page(request, user, slug, publication)


@router.post("/briefings/{slug}/alert")
def send_alert(
    request: Request,
    background: BackgroundTasks,
    user: PublisherForm,
    slug: str,
    publication: Slug,
    confirm: Tick = "",
    over_limit: Tick = "",
) -> Response:
    """Send it, once the box is ticked; a refusal shows the page again, nothing sent."""
    if confirm != "yes":
        return _page(
            request,
            user,
            slug,
            publication,
            error="Confirm: tick the box to send the alert now",
            status=422,
        )
    runtime = runtime_of(request)
    try:
        with runtime.database.session() as db:
            started = start_alert(
                db,
                slug,
                publication,
                actor=user.name,
                ip=client_ip(request),
                admin=user.can(Role.ADMIN),
                override=over_limit == "yes",
            )
    except UserError as exc:
        return _page(request, user, slug, publication, error=str(exc), status=status_of(exc))
    request.app.state.request_plan(runtime, started.digest_id)
    flush_after_response(background, runtime, PublicChanges(publications=(started.publication,)))
    return redirect(f"/editor/briefings/{started.slug}", "alert-sent")
