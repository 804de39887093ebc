"""API: the review queue, ingesting and editing briefings, one briefing, the decisions."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from newsletter.backoffice import schemas as s
from newsletter.backoffice.api_deps import BriefingSlug, EditedSlug, Publisher, Reader
from newsletter.backoffice.queue import briefing_queue
from newsletter.briefings import services as briefings
from newsletter.briefings.models import Briefing, BriefingState
from newsletter.briefings.parser import parse_json, parse_text
from newsletter.briefings.textlines import heading_key
from newsletter.content.briefing import BriefingContent
from newsletter.editors.auth import Principal
from newsletter.errors import InvalidInputError, NotFoundError
from newsletter.limits import Limits
from newsletter.publishing import corrections
from newsletter.publishing.after import flush_after_response
from newsletter.publishing.corrections import PublicChanges
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
        published=corrections.is_published(db, briefing),
        title_needs_confirmation=briefings.needs_title_confirmation(db, briefing),
        taken_down_at=briefing.taken_down_at,
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
        public_changes=[
            s.PublicChangeEntry(
                at=c.at, kind=c.kind.value, revision=c.revision, editor=c.editor, note=c.note
            )
            for c in briefings.corrections(db, [briefing.id])
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
        content = parse_json(body, filename="body", limits=runtime_of(request).settings.limits)
    except InvalidInputError as exc:
        return error_response(request, 422, str(exc))

    def store() -> s.ImportResult:
        with runtime_of(request).database.session() as db:
            return _result(briefings.import_content(db, content, source=f"api:{user.name}"))

    result = await run_in_threadpool(store)
    status = 201 if result.action == briefings.ImportAction.CREATED else 200
    return JSONResponse(result.model_dump(mode="json"), status_code=status)


def _result(outcome: briefings.ImportOutcome) -> s.ImportResult:
    return s.ImportResult(
        slug=outcome.slug,
        id=outcome.briefing_id,
        action=outcome.action.value,
        revision=outcome.revision,
        state=outcome.state.value,
        approved=outcome.approved,
        warnings=list(outcome.warnings),
    )


@router.get("/briefings/{slug}", response_model=s.BriefingDetail, summary="One briefing")
def get_briefing(request: Request, user: Reader, slug: BriefingSlug) -> s.BriefingDetail:
    """A briefing with its latest content and its history."""
    with runtime_of(request).database.session() as db:
        return _detail_in(db, briefings.get_briefing(db, slug))


Decide = Callable[[Session, Briefing, str], PublicChanges]


def _decide(
    request: Request, background: BackgroundTasks, user: Principal, slug: str, do: Decide
) -> s.BriefingDetail:
    runtime = runtime_of(request)
    try:
        with runtime.database.session() as db:
            briefing = briefings.get_briefing(db, slug)
            public = do(db, briefing, user.name)
            detail = _detail_in(db, briefing)
    except InvalidInputError as exc:  # a note, reason or confirmation the decision needs
        raise HTTPException(422, str(exc)) from None
    flush_after_response(background, runtime, public)  # after the commit and the response
    return detail


_DECISION_ERRORS: dict[int | str, dict[str, Any]] = {
    409: {"model": s.ErrorBody, "description": "The briefing's state does not allow it"},
    422: {"model": s.ErrorBody, "description": "A note, reason or confirmation is missing"},
}


@router.post(
    "/briefings/{slug}/approve",
    response_model=s.BriefingDetail,
    summary="Approve (a correction if published)",
    responses=_DECISION_ERRORS,
)
def approve(
    request: Request,
    background: BackgroundTasks,
    user: Reader,
    slug: BriefingSlug,
    body: s.Approval | None = None,
) -> s.BriefingDetail:
    """Approve the latest revision; editions use it from now on.

    For a briefing an edition already carried this is a correction: ``correction_note``
    is required, readers see it dated with the corrected text, and pages, feeds and the
    static export are updated after the answer. A derived title needs ``confirm_title``.
    """
    body = body or s.Approval()

    def do(db: Session, briefing: Briefing, editor: str) -> PublicChanges:
        return corrections.approve_briefing(
            db,
            briefing,
            editor,
            comment=body.comment.strip(),
            correction_note=(body.correction_note or "").strip() or None,
            confirm_title=body.confirm_title,
        )

    return _decide(request, background, user, slug, do)


def _reject(db: Session, briefing: Briefing, editor: str, comment: str) -> PublicChanges:
    briefings.reject(db, briefing, editor, comment)
    return PublicChanges()


@router.post(
    "/briefings/{slug}/reject",
    response_model=s.BriefingDetail,
    summary="Reject",
    responses=_DECISION_ERRORS,
)
def reject(
    request: Request,
    background: BackgroundTasks,
    user: Reader,
    slug: BriefingSlug,
    body: s.Rejection,
) -> s.BriefingDetail:
    """Reject the latest revision with a reason."""
    comment = body.comment.strip()
    return _decide(request, background, user, slug, lambda db, b, e: _reject(db, b, e, comment))


@router.post(
    "/briefings/{slug}/withdraw",
    response_model=s.BriefingDetail,
    summary="Withdraw",
    responses=_DECISION_ERRORS,
)
def withdraw(
    request: Request,
    background: BackgroundTasks,
    user: Reader,
    slug: BriefingSlug,
    body: s.Decision | None = None,
) -> s.BriefingDetail:
    """Take the briefing out of every later edition; if published, a notice replaces its text."""
    comment = body.comment.strip() if body else ""

    def do(db: Session, briefing: Briefing, editor: str) -> PublicChanges:
        return corrections.withdraw_briefing(db, briefing, editor, comment=comment)

    return _decide(request, background, user, slug, do)


@router.post(
    "/briefings/{slug}/takedown",
    response_model=s.BriefingDetail,
    summary="Take down (publishers and admins)",
    responses=_DECISION_ERRORS,
)
def takedown(
    request: Request,
    background: BackgroundTasks,
    user: Publisher,
    slug: BriefingSlug,
    body: s.Takedown,
) -> s.BriefingDetail:
    """Remove the briefing's text from every page, feed, web copy and export, for good.

    For legal requests: the reason is kept in the audit trail and never shown to
    readers; the briefing can never be approved again.
    """
    reason = body.reason.strip()

    def do(db: Session, briefing: Briefing, editor: str) -> PublicChanges:
        return corrections.takedown_briefing(db, briefing, editor, reason=reason)

    return _decide(request, background, user, slug, do)


_TEXT_SLUG = re.compile(r"slug\s*:", re.IGNORECASE)
_TEXT_FORM = (
    "The plain-text briefing format (`newsletter briefings import`): an optional header "
    "block of `Key: value` lines (a `Slug:` there must be the path's), then the sections "
    "under their headings, one paragraph a line."
)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    if len({key for key, _ in pairs}) < len(pairs):
        raise ValueError("duplicate keys")
    return dict(pairs)


def _text_names_slug(text: str) -> bool:
    """Whether a plain-text briefing's header block has a ``Slug:`` line."""
    for line in text.removeprefix("\ufeff").splitlines():
        line = line.strip()
        if not line or heading_key(line) is not None:
            return False
        if _TEXT_SLUG.match(line):
            return True
    return False


def _edited(body: bytes, media_type: str, slug: str, limits: Limits) -> BriefingContent:
    """The briefing a PUT body describes, with the path's slug; ``InvalidInputError`` if not."""
    if media_type == "text/plain":
        text = body.decode("utf-8", errors="strict") if body else ""
        content = parse_text(text, filename="body", limits=limits)
        if content.slug != slug:
            if _text_names_slug(text):
                raise InvalidInputError(
                    f"body: header “Slug” is {content.slug!r}, but this is {slug!r}: "
                    "a briefing's slug cannot change (leave the header out)"
                )
            content = content.model_copy(update={"slug": slug})
        return content
    try:
        value = json.loads(body, object_pairs_hook=_unique_keys)
    except ValueError:  # the import's parser below names what is wrong
        value = None
    if isinstance(value, dict) and "slug" not in value:
        # The path names the briefing: its slug is not derived from the title again.
        body = json.dumps({"slug": slug, **value}, ensure_ascii=False).encode()
    content = parse_json(body, filename="body", limits=limits)
    if content.slug != slug:
        raise InvalidInputError(
            f"body: $.slug: is {content.slug!r}, but this is {slug!r}: a briefing's slug "
            "cannot change (leave it out)"
        )
    return content


@router.put(
    "/briefings/{slug}",
    response_model=s.ImportResult,
    summary="Edit a briefing: a new revision by you",
    responses={
        404: {"model": s.ErrorBody, "description": "No briefing with this slug"},
        409: {
            "model": s.ErrorBody,
            "description": "`revision` is not the latest revision, or the briefing was taken down",
        },
        415: {"model": s.ErrorBody, "description": "Neither JSON nor plain text"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/Briefing"}},
                "text/plain": {"schema": {"type": "string", "description": _TEXT_FORM}},
            },
        }
    },
)
async def edit(
    request: Request,
    user: Reader,
    slug: EditedSlug,
    revision: Annotated[
        int | None,
        Query(
            ge=1,
            le=2**31 - 1,
            description="The revision your text is based on: 409 if another was added since",
        ),
    ] = None,
) -> Response:
    """Replace the briefing's text with the body: a new revision written by you, or nothing.

    The body is the whole briefing, in the JSON import form (``application/json``) or
    the plain-text format (``text/plain``), checked exactly as an import is; the slug
    is the path's. The answer is ``revised`` (a new draft revision, to be approved) or
    ``unchanged``; a field that fails is answered 422 naming its JSON path or line.
    """
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in {"application/json", "text/plain"}:
        return error_response(
            request, 415, "content-type: send application/json or text/plain (UTF-8)"
        )
    body = await request.body()
    try:
        content = _edited(body, media_type, slug, runtime_of(request).settings.limits)
    except UnicodeDecodeError as exc:
        return error_response(request, 422, f"body: not UTF-8 text (byte {exc.start})")
    except InvalidInputError as exc:
        return error_response(request, 422, str(exc))

    def store() -> s.ImportResult | str:
        with runtime_of(request).database.session() as db:
            briefing = briefings.get_briefing(db, slug)
            if briefing.taken_down_at is not None:
                return f"briefing {slug!r} was taken down: it cannot be edited"
            if revision is not None and revision != briefing.latest_revision:
                return (
                    f"revision: {revision} is not the latest; revision "
                    f"{briefing.latest_revision} was added since. Fetch it and send again."
                )
            outcome = briefings.import_content(
                db, content, source=f"api:{user.name}", editor=user.name
            )
        return _result(outcome)

    try:
        result = await run_in_threadpool(store)
    except NotFoundError as exc:
        return error_response(request, 404, str(exc))
    if isinstance(result, str):
        return error_response(request, 409, result)
    return JSONResponse(result.model_dump(mode="json"))
