"""Admin page: a publication's welcome email (subject and text), with a preview.

The welcome goes once to each reader whose subscription is confirmed (see
``subscribers.welcome``). Admins replace the built-in subject and text with their own,
plain text only: it is escaped wherever it is shown, paragraphs are separated by blank
lines, and empty fields bring the built-in text back. A refused value re-renders the
form as typed with the field named, and writes nothing; a change is audited.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from newsletter.backoffice.pages import redirect, render
from newsletter.editors import services as accounts
from newsletter.editors.auth import Principal, client_ip, form_user, page_user
from newsletter.editors.models import Role
from newsletter.errors import InvalidInputError
from newsletter.providers.interfaces import personalise
from newsletter.publications.services import get_publication
from newsletter.render import placeholders
from newsletter.render.email import render_template_email
from newsletter.web.deps import runtime_of
from subscribers.services import ensure_default_list
from subscribers.welcome import BODY_MAX, SUBJECT_MAX, TEMPLATE, clean_welcome, welcome_context

router = APIRouter()

PREVIEW_LINKS = {
    placeholders.PREFERENCES_URL: "(the reader's own preferences link)",
    placeholders.UNSUBSCRIBE_URL: "(the reader's own unsubscribe link)",
}

Admin = Annotated[Principal, Depends(page_user(Role.ADMIN))]
AdminForm = Annotated[Principal, Depends(form_user(Role.ADMIN))]


def _view(
    request: Request,
    user: Principal,
    slug: str,
    typed: dict[str, str] | None = None,
    *,
    error: str = "",
    status: int = 200,
) -> Response:
    with runtime_of(request).database.session() as db:
        publication = get_publication(db, slug)
        values = typed or {
            "welcome_subject": publication.welcome_subject,
            "welcome_body": publication.welcome_body,
        }
        mailing_list = ensure_default_list(db, publication)
        preview: Any = None
        if not error:
            context = welcome_context(publication, mailing_list)
            rendered = render_template_email(TEMPLATE, context)
            # Each reader gets their own links; the preview says so instead of a placeholder.
            preview = {
                "subject": rendered.subject,
                "text": personalise(rendered.text, PREVIEW_LINKS),
            }
        name = publication.name
    return render(
        request,
        "welcome.html",
        user=user,
        section="publications",
        page_title=f"Welcome email of {name}",
        status=status,
        slug=slug,
        values=values,
        error=error,
        preview=preview,
        subject_max=SUBJECT_MAX,
        body_max=BODY_MAX,
    )


@router.get("/publications/{slug}/welcome", response_class=HTMLResponse)
def welcome_form(request: Request, user: Admin, slug: str) -> Response:
    """The welcome email's subject and text, and a preview of the email as readers get it."""
    return _view(request, user, slug)


@router.post("/publications/{slug}/welcome")
def save_welcome(
    request: Request,
    user: AdminForm,
    slug: str,
    welcome_subject: Annotated[str, Form(max_length=SUBJECT_MAX * 2)] = "",
    welcome_body: Annotated[str, Form(max_length=BODY_MAX * 2)] = "",
) -> Response:
    """Save the welcome text (empty fields: the built-in text)."""
    typed = {"welcome_subject": welcome_subject, "welcome_body": welcome_body}
    try:
        subject, body = clean_welcome(welcome_subject, welcome_body)
    except ValueError as exc:
        return _view(request, user, slug, typed, error=str(exc), status=400)
    try:
        with runtime_of(request).database.session() as db:
            publication = get_publication(db, slug)
            changed = [
                name
                for name, old, new in (
                    ("welcome_subject", publication.welcome_subject, subject),
                    ("welcome_body", publication.welcome_body, body),
                )
                if old != new
            ]
            publication.welcome_subject, publication.welcome_body = subject, body
            accounts.audit(
                db, user.name, "publication.welcome", slug, ip=client_ip(request), changed=changed
            )
    except InvalidInputError as exc:
        return _view(request, user, slug, typed, error=str(exc), status=400)
    return redirect(f"/editor/publications/{slug}/welcome", "welcome-saved")
