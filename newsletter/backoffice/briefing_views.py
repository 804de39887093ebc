"""The review queue and one briefing's page, with its decisions.

Approve, withdraw and take down go through ``newsletter.publishing.corrections``, so a
decision on a briefing readers have seen is public at once: approving it again is a
correction (a note is required), withdrawing it replaces its text with a notice, and a
takedown (publishers and admins, a reason and a confirmation required) removes its
text everywhere. A title the importer derived must be confirmed (or edited) before
approval. The static export and the WebSub ping run after the response.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from newsletter.backoffice import briefing_edit
from newsletter.backoffice.briefing_form import changes
from newsletter.backoffice.pages import redirect, render
from newsletter.backoffice.queue import briefing_queue, known_topics
from newsletter.briefings import services as briefings
from newsletter.briefings.models import Briefing, BriefingState
from newsletter.briefings.workflow import Action, next_state
from newsletter.digests.alerts import alerts_of
from newsletter.digests.services import edition_url
from newsletter.editors.auth import Principal, form_user, page_user
from newsletter.editors.models import Role
from newsletter.errors import InvalidInputError, TransitionError
from newsletter.publishing import corrections
from newsletter.publishing.after import flush_after_response
from newsletter.publishing.corrections import PublicChanges
from newsletter.web.deps import runtime_of

router = APIRouter()
router.include_router(briefing_edit.router)  # the edit form and its preview

Editor = Annotated[Principal, Depends(page_user())]
Acting = Annotated[Principal, Depends(form_user())]
Publishing = Annotated[Principal, Depends(form_user(Role.PUBLISHER))]
MAX_REASON = 2000
Note = Annotated[str, Form(max_length=MAX_REASON)]


@router.get("/briefings", response_class=HTMLResponse)
def queue(
    request: Request,
    user: Editor,
    state: Annotated[str, Query(max_length=20)] = "draft",
    topic: Annotated[str, Query(max_length=120)] = "",
) -> Response:
    """The review queue, drafts first by default, filtered by state and topic."""
    chosen = BriefingState(state) if state in {s.value for s in BriefingState} else None
    with runtime_of(request).database.session() as db:
        rows = briefing_queue(db, state=chosen, topic=topic or None)
        topics = known_topics(db)
    return render(
        request,
        "queue.html",
        user=user,
        section="briefings",
        page_title="Briefings",
        rows=rows,
        states=[s.value for s in BriefingState],
        state=chosen.value if chosen else "",
        topic=topic,
        topics=topics,
    )


def allowed_actions(briefing: Briefing) -> list[str]:
    """The workflow actions the briefing's state allows now (none once taken down)."""
    if briefing.taken_down_at is not None:
        return []
    allowed = []
    for action in (Action.APPROVE, Action.REJECT, Action.WITHDRAW):
        try:
            next_state(
                briefing.state, action, has_live_revision=briefing.approved_revision is not None
            )
        except TransitionError:
            continue
        allowed.append(action.value)
    return allowed


def _show(
    request: Request,
    user: Principal,
    slug: str,
    *,
    status: int = 200,
    error: str = "",
    failed: str = "",
    typed: dict[str, str] | None = None,
) -> Response:
    """The briefing page; after a refused decision, its message beside the form (``failed``)."""
    with runtime_of(request).database.session() as db:
        briefing = briefings.get_briefing(db, slug)
        latest = briefings.revision(db, briefing)
        content = latest.parsed()
        context: dict[str, Any] = {
            "changes": [],
            "briefing": briefing,
            "content": content,
            "source": latest.source,
            "history": briefings.history(db, briefing),
            "public_changes": briefings.corrections(db, [briefing.id]),
            "actions": allowed_actions(briefing),
            "published": corrections.is_published(db, briefing),
            "confirm_title": briefings.needs_title_confirmation(db, briefing),
            "title_confirmed_by": latest.title_confirmed_by,
            "can_takedown": user.can(Role.PUBLISHER) and briefing.taken_down_at is None,
            "alerted": [
                (digest.publication.name, digest.id, edition_url(digest))
                for digest in alerts_of(db, briefing.id)
            ],
            "can_alert": user.can(Role.PUBLISHER)
            and briefing.state is BriefingState.APPROVED
            and briefing.taken_down_at is None,
        }
        live = briefing.approved_revision
        if live is not None and live != briefing.latest_revision:
            context["changes"] = changes(briefings.revision(db, briefing, live).parsed(), content)
    return render(
        request,
        "briefing.html",
        user=user,
        section="briefings",
        page_title=content.title,
        status=status,
        error=error,
        failed=failed,
        typed=typed or {},
        **context,
    )


@router.get("/briefings/{slug}", response_class=HTMLResponse)
def briefing_page(request: Request, user: Editor, slug: str) -> Response:
    """One briefing: its latest content, import warnings, actions and history."""
    return _show(request, user, slug)


def _refused(
    request: Request, user: Principal, slug: str, form: str, exc: Exception, typed: dict[str, str]
) -> Response:
    status = 409 if isinstance(exc, TransitionError) else 422
    return _show(request, user, slug, status=status, error=str(exc), failed=form, typed=typed)


@router.post("/briefings/{slug}/approve")
def approve(
    request: Request,
    background: BackgroundTasks,
    user: Acting,
    slug: str,
    comment: Note = "",
    correction_note: Note = "",
    confirm_title: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Approve the latest revision; for a published briefing, a correction with its note."""
    typed = {"comment": comment, "correction_note": correction_note}
    runtime = runtime_of(request)
    try:
        with runtime.database.session() as db:
            briefing = briefings.get_briefing(db, slug)
            public = corrections.approve_briefing(
                db,
                briefing,
                user.name,
                comment=comment.strip(),
                correction_note=correction_note.strip() or None,
                confirm_title=confirm_title == "yes",
            )
            slug = briefing.slug
    except (InvalidInputError, TransitionError) as exc:
        return _refused(request, user, slug, "approve", exc, typed)
    return _decided(background, request, public, slug, "corrected" if public else "approved")


def _decided(
    background: BackgroundTasks, request: Request, public: PublicChanges, slug: str, done: str
) -> Response:
    """After the commit: make the change public after the response, and show the page."""
    flush_after_response(background, runtime_of(request), public)
    return redirect(f"/editor/briefings/{slug}", done)


@router.post("/briefings/{slug}/reject")
def reject(
    request: Request,
    user: Acting,
    slug: str,
    reason: Annotated[str, Form(max_length=MAX_REASON)] = "",
) -> Response:
    """Reject the latest revision, with a reason for the newsroom."""
    try:
        if not reason.strip():
            raise InvalidInputError("Reason: say why the briefing is rejected")
        with runtime_of(request).database.session() as db:
            briefing = briefings.get_briefing(db, slug)
            briefings.reject(db, briefing, user.name, reason.strip())
            slug = briefing.slug
    except (InvalidInputError, TransitionError) as exc:
        return _refused(request, user, slug, "reject", exc, {"reason": reason})
    return redirect(f"/editor/briefings/{slug}", "rejected")


@router.post("/briefings/{slug}/withdraw")
def withdraw(
    request: Request, background: BackgroundTasks, user: Acting, slug: str, reason: Note = ""
) -> Response:
    """Take the briefing out of later editions; if published, a notice replaces its text."""
    try:
        with runtime_of(request).database.session() as db:
            briefing = briefings.get_briefing(db, slug)
            public = corrections.withdraw_briefing(db, briefing, user.name, comment=reason.strip())
            slug = briefing.slug
    except (InvalidInputError, TransitionError) as exc:
        return _refused(request, user, slug, "withdraw", exc, {"reason": reason})
    return _decided(background, request, public, slug, "withdrawn")


@router.post("/briefings/{slug}/takedown")
def takedown(
    request: Request,
    background: BackgroundTasks,
    user: Publishing,
    slug: str,
    reason: Note = "",
    confirm: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Remove the briefing's text from everything served or exported, for good."""
    typed = {"takedown_reason": reason}
    try:
        if not reason.strip():
            raise InvalidInputError("Reason: say why (a legal request; kept in the audit trail)")
        if confirm != "yes":
            raise InvalidInputError("Confirm: tick the box to confirm the takedown")
        with runtime_of(request).database.session() as db:
            briefing = briefings.get_briefing(db, slug)
            public = corrections.takedown_briefing(db, briefing, user.name, reason=reason.strip())
            slug = briefing.slug
    except (InvalidInputError, TransitionError) as exc:
        return _refused(request, user, slug, "takedown", exc, typed)
    return _decided(background, request, public, slug, "taken-down")
