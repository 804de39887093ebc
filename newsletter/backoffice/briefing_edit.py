"""Editing a briefing in the editors' app: the form, its live preview, and saving a revision.

The form (``briefing_form``) has one input per field of the briefing format and goes
through the import's own parser, so an edit is checked exactly as an import is and
an error names the field. Saving adds a revision written by the editor (the briefing
goes back to review like a re-import); nothing is saved while a field is wrong.

The preview is the archive's own fragment renderer. Without JavaScript the Preview
button posts the form and the page comes back with the preview; with it, a small
script (served from here, allowed by this page's CSP alone) posts the form to
``/preview`` as the editor types and swaps the fragment in.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from newsletter.backoffice.briefing_form import (
    FIELDS,
    LABELS,
    MOMENT_FIELDS,
    FieldProblem,
    FormInvalid,
    fields_of,
    parse_form,
)
from newsletter.backoffice.pages import EDITOR_CSP, redirect, render
from newsletter.backoffice.previews import briefing_fragment
from newsletter.briefings import services as briefings
from newsletter.briefings.models import Briefing
from newsletter.content.briefing import BriefingContent
from newsletter.editors.auth import Principal, form_user, page_user
from newsletter.errors import TransitionError
from newsletter.publishing import corrections
from newsletter.templating import TEMPLATES_DIR, environment
from newsletter.web.deps import runtime_of

router = APIRouter()

Editor = Annotated[Principal, Depends(page_user())]
Acting = Annotated[Principal, Depends(form_user())]


async def _posted(request: Request) -> FormData:
    """The posted form (already read, and cached, by the CSRF check)."""
    return await request.form()


Posted = Annotated[FormData, Depends(_posted)]

SCRIPT = "/editor/assets/briefing-edit.js"
EDIT_CSP = EDITOR_CSP + "; script-src 'self'; connect-src 'self'"
_SCRIPT_FILE = TEMPLATES_DIR / "web" / "editor" / "briefing_edit.js"


def _form_values(form: FormData) -> dict[str, str]:
    """The form's text fields (anything else, e.g. a file, counts as empty)."""
    values = {}
    for name in (*FIELDS, "base_revision"):
        value = form.get(name, "")
        values[name] = value if isinstance(value, str) else ""
    return values


def _base_url(request: Request) -> str:
    return runtime_of(request).settings.base_url


def _preview(content: BriefingContent, request: Request) -> str:
    return briefing_fragment(content, base_url=_base_url(request))


def _page(
    request: Request,
    user: Principal,
    *,
    slug: str,
    values: dict[str, str],
    status: int = 200,
    problems: list[FieldProblem] | None = None,
    fragment: str = "",
    conflict: str = "",
) -> Response:
    """The edit page with its values, the field problems and the preview."""
    with runtime_of(request).database.session() as db:
        briefing = briefings.get_briefing(db, slug)
        latest = briefings.revision(db, briefing)
        context: dict[str, Any] = {
            "briefing_slug": briefing.slug,
            "latest_revision": briefing.latest_revision,
            "derived_title": latest.title if latest.content.get("title_derived") else "",
            "published": corrections.is_published(db, briefing),
        }
    problems = problems or []
    response = render(
        request,
        "briefing_edit.html",
        user=user,
        section="briefings",
        page_title=f"Edit: {values.get('title') or context['derived_title'] or slug}",
        status=status,
        values=values,
        labels=LABELS,
        problems=problems,
        errors={p.field: p.message for p in problems},
        fragment=fragment,
        conflict=conflict,
        moments=MOMENT_FIELDS,
        script=SCRIPT,
        **context,
    )
    response.headers["Content-Security-Policy"] = EDIT_CSP
    return response


def _editable(db: Session, slug: str) -> Briefing:
    """The briefing, unless it was taken down (its text may not come back): 409 then."""
    briefing = briefings.get_briefing(db, slug)
    if briefing.taken_down_at is not None:
        raise TransitionError(f"briefing {briefing.slug!r} was taken down: it cannot be edited")
    return briefing


@router.get("/briefings/{slug}/edit", response_class=HTMLResponse)
def edit_page(request: Request, user: Editor, slug: str) -> Response:
    """The form prefilled with the latest revision, and its preview."""
    with runtime_of(request).database.session() as db:
        briefing = _editable(db, slug)
        latest = briefings.revision(db, briefing)
        content = latest.parsed()
        values = {**fields_of(content), "base_revision": str(briefing.latest_revision)}
        slug = briefing.slug
    return _page(request, user, slug=slug, values=values, fragment=_preview(content, request))


def _store(
    request: Request, user: Principal, content: BriefingContent, base: str
) -> briefings.ImportOutcome | tuple[str, int]:
    """Save a revision by ``user``; if another was added since ``base``, a note and the latest."""
    with runtime_of(request).database.session() as db:
        briefing = _editable(db, content.slug)
        latest = briefing.latest_revision
        if base == str(latest):
            return briefings.import_content(
                db, content, source=f"editor:{user.name}", editor=user.name
            )
        events = briefings.history(db, briefing)
        author = events[-1].editor if events else "someone else"
    return (
        f"Revision {latest} was saved by {author} after you opened this form. Your text is "
        f"kept below: check it against revision {latest}, then save again to replace it.",
        latest,
    )


@router.post("/briefings/{slug}/edit", response_class=HTMLResponse)
def save(request: Request, user: Acting, form: Posted, slug: str) -> Response:
    """Preview (``do=preview``) or save the form as a new revision by this editor."""
    values = _form_values(form)
    with runtime_of(request).database.session() as db:
        slug = _editable(db, slug).slug
    try:
        content = parse_form(values, slug, runtime_of(request).settings.limits)
    except FormInvalid as exc:
        return _page(request, user, slug=slug, values=values, status=422, problems=exc.problems)
    fragment = _preview(content, request)
    if form.get("do") == "preview":
        return _page(request, user, slug=slug, values=values, fragment=fragment)
    outcome = _store(request, user, content, values["base_revision"])
    if isinstance(outcome, tuple):
        conflict, latest = outcome
        values["base_revision"] = str(latest)
        return _page(
            request,
            user,
            slug=slug,
            values=values,
            status=409,
            conflict=conflict,
            fragment=fragment,
        )
    done = "unchanged" if outcome.action is briefings.ImportAction.UNCHANGED else "saved"
    return redirect(f"/editor/briefings/{slug}", done)


@router.post("/briefings/{slug}/preview", response_class=HTMLResponse)
def preview(request: Request, user: Acting, form: Posted, slug: str) -> Response:
    """The live preview: the form's briefing as an HTML fragment, or its problems (422)."""
    values = _form_values(form)
    with runtime_of(request).database.session() as db:
        slug = _editable(db, slug).slug
    template = environment().get_template("web/editor/_briefing_preview.html")
    try:
        content = parse_form(values, slug, runtime_of(request).settings.limits)
    except FormInvalid as exc:
        html = template.render(fragment="", problems=exc.problems, labels=LABELS)
        status = 422
    else:
        html = template.render(fragment=_preview(content, request), problems=[], labels=LABELS)
        status = 200
    response = HTMLResponse(html, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = EDITOR_CSP
    return response


@router.get("/assets/briefing-edit.js", include_in_schema=False)
def script() -> Response:
    """The live preview's script (the only script of the editors' app)."""
    response = Response(_SCRIPT_FILE.read_bytes(), media_type="text/javascript")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
