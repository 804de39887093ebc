"""API: the review queue, ingesting briefings, one briefing, approve / reject / withdraw."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from newsletter.backoffice import schemas as s
from newsletter.backoffice.api_deps import BriefingSlug, Reader
from newsletter.backoffice.queue import briefing_queue
from newsletter.briefings import services as briefings
from newsletter.briefings.models import Briefing, BriefingState
from newsletter.briefings.parser import parse_json
from newsletter.editors.auth import Principal
from newsletter.errors import InvalidInputError
from newsletter.web.deps import runtime_of
from newsletter.web.pages import error_response

router = APIRouter()


def _detail_in(db: Any, briefing: Briefing) -> s.BriefingDetail:
    latest = briefings.revision(db, briefing)
    return s.BriefingDetail(
        slug=briefing.slug,
        id=briefing.id,
        state=briefing.state.value,
        revision=briefing.latest_revision,
        live_revision=briefing.approved_revision,
        approved_by=briefing.approved_by,
        approved_at=briefing.approved_at,
        content=latest.content,
        history=[
            s.HistoryEntry(
                at=e.at,
                editor=e.editor,
                action=e.action,
                revision=e.revision,
                from_state=e.from_state,
                to_state=e.to_state,
                comment=e.comment,
            )
            for e in briefings.history(db, briefing)
        ],
    )


@router.get("/briefings", response_model=list[s.BriefingRow], summary="The review queue")
def list_briefings(
    request: Request,
    user: Reader,
    state: BriefingState | None = None,
    topic: Annotated[str | None, Query(max_length=120)] = None,
) -> list[dict[str, Any]]:
    """Briefings, newest change first, optionally in one state and on one topic."""
    with runtime_of(request).database.session() as db:
        return [row.as_dict() for row in briefing_queue(db, state=state, topic=topic)]


@router.post(
    "/briefings",
    status_code=201,
    response_model=s.ImportResult,
    summary="Ingest a briefing (idempotent by slug)",
    responses={200: {"model": s.ImportResult, "description": "Revised or unchanged"}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Briefing"}}},
        }
    },
)
async def ingest(request: Request, user: Reader) -> Response:
    """Create a briefing, add a revision if its content changed, or do nothing.

    The body is the JSON import form (``newsletter briefings schema``); a field that
    fails validation is answered 422 with its JSON path, e.g. ``$.lede[0]``.
    """
    body = await request.body()
    try:
        content = parse_json(body, filename="body")
    except InvalidInputError as exc:
        return error_response(request, 422, str(exc))

    def store() -> s.ImportResult:
        with runtime_of(request).database.session() as db:
            outcome = briefings.import_content(db, content, source=f"api:{user.name}")
        return s.ImportResult(
            slug=outcome.slug,
            id=outcome.briefing_id,
            action=outcome.action.value,
            revision=outcome.revision,
            state=outcome.state.value,
            approved=outcome.approved,
            warnings=list(outcome.warnings),
        )

    result = await run_in_threadpool(store)
    status = 201 if result.action == briefings.ImportAction.CREATED else 200
    return JSONResponse(result.model_dump(mode="json"), status_code=status)


@router.get("/briefings/{slug}", response_model=s.BriefingDetail, summary="One briefing")
def get_briefing(request: Request, user: Reader, slug: BriefingSlug) -> s.BriefingDetail:
    """A briefing with its latest content and its history."""
    with runtime_of(request).database.session() as db:
        return _detail_in(db, briefings.get_briefing(db, slug))


def _decide(
    request: Request, user: Principal, slug: str, do: Any, comment: str
) -> s.BriefingDetail:
    with runtime_of(request).database.session() as db:
        briefing = briefings.get_briefing(db, slug)
        do(db, briefing, user.name, comment.strip())
        return _detail_in(db, briefing)


@router.post("/briefings/{slug}/approve", response_model=s.BriefingDetail, summary="Approve")
def approve(
    request: Request, user: Reader, slug: BriefingSlug, body: s.Decision | None = None
) -> s.BriefingDetail:
    """Approve the latest revision; editions use it from now on."""
    return _decide(request, user, slug, briefings.approve, body.comment if body else "")


@router.post("/briefings/{slug}/reject", response_model=s.BriefingDetail, summary="Reject")
def reject(
    request: Request, user: Reader, slug: BriefingSlug, body: s.Rejection
) -> s.BriefingDetail:
    """Reject the latest revision with a reason."""
    return _decide(request, user, slug, briefings.reject, body.comment)


@router.post("/briefings/{slug}/withdraw", response_model=s.BriefingDetail, summary="Withdraw")
def withdraw(
    request: Request, user: Reader, slug: BriefingSlug, body: s.Decision | None = None
) -> s.BriefingDetail:
    """Take the briefing out of every later edition."""
    return _decide(request, user, slug, briefings.withdraw, body.comment if body else "")
