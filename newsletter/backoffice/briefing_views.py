"""The review queue and one briefing's page, with approve, reject and withdraw."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from newsletter.backoffice import briefing_edit
from newsletter.backoffice.pages import redirect, render
from newsletter.backoffice.queue import briefing_queue, known_topics
from newsletter.briefings import services as briefings
from newsletter.briefings.models import Briefing, BriefingState
from newsletter.briefings.workflow import Action, next_state
from newsletter.editors.auth import Principal, form_user, page_user
from newsletter.errors import InvalidInputError, TransitionError
from newsletter.web.deps import runtime_of

router = APIRouter()
router.include_router(briefing_edit.router)  # the edit form and its preview

Editor = Annotated[Principal, Depends(page_user())]
Acting = Annotated[Principal, Depends(form_user())]
MAX_REASON = 2000


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
    """The workflow actions the briefing's state allows now."""
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


@router.get("/briefings/{slug}", response_class=HTMLResponse)
def briefing_page(request: Request, user: Editor, slug: str) -> Response:
    """One briefing: its latest content, import warnings, actions and history."""
    with runtime_of(request).database.session() as db:
        briefing = briefings.get_briefing(db, slug)
        latest = briefings.revision(db, briefing)
        content = latest.parsed()
        context: dict[str, Any] = {
            "briefing": briefing,
            "content": content,
            "source": latest.source,
            "history": briefings.history(db, briefing),
            "actions": allowed_actions(briefing),
        }
    return render(
        request,
        "briefing.html",
        user=user,
        section="briefings",
        page_title=content.title,
        **context,
    )


def _act(request: Request, user: Principal, slug: str, action: Action, comment: str) -> Response:
    do = {
        Action.APPROVE: briefings.approve,
        Action.REJECT: briefings.reject,
        Action.WITHDRAW: briefings.withdraw,
    }[action]
    with runtime_of(request).database.session() as db:
        briefing = briefings.get_briefing(db, slug)
        do(db, briefing, user.name, comment.strip())
        slug = briefing.slug
    done = {Action.APPROVE: "approved", Action.REJECT: "rejected"}.get(action, "withdrawn")
    return redirect(f"/editor/briefings/{slug}", done)


@router.post("/briefings/{slug}/approve")
def approve(
    request: Request,
    user: Acting,
    slug: str,
    comment: Annotated[str, Form(max_length=MAX_REASON)] = "",
) -> Response:
    """Approve the latest revision."""
    return _act(request, user, slug, Action.APPROVE, comment)


@router.post("/briefings/{slug}/reject")
def reject(
    request: Request,
    user: Acting,
    slug: str,
    reason: Annotated[str, Form(min_length=1, max_length=MAX_REASON)],
) -> Response:
    """Reject the latest revision, with a reason for the newsroom."""
    if not reason.strip():
        raise InvalidInputError("reason: say why the briefing is rejected")
    return _act(request, user, slug, Action.REJECT, reason)


@router.post("/briefings/{slug}/withdraw")
def withdraw(
    request: Request,
    user: Acting,
    slug: str,
    reason: Annotated[str, Form(max_length=MAX_REASON)] = "",
) -> Response:
    """Take the briefing out of later editions."""
    return _act(request, user, slug, Action.WITHDRAW, reason)
