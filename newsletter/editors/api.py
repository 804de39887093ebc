"""The REST API under ``/api/``: briefings, publications, schedules, editions and reports.

Every endpoint needs ``Authorization: Bearer <token>`` (``newsletter editors token``):
editors review and approve, publishers also schedule and test-send, admins also
manage publications and accounts. Refusals are JSON ``{"error", "status"}`` with a
message naming the field at fault; the OpenAPI document at ``/api/openapi.json``
declares every answer, and ``/api/docs`` shows it as a page.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from newsletter.briefings import services as briefings
from newsletter.briefings.jsonform import BriefingInput
from newsletter.briefings.models import Briefing, BriefingState
from newsletter.briefings.parser import parse_json
from newsletter.db import utcnow
from newsletter.digests.services import item_counts, list_digests
from newsletter.editors import actions, admin_api
from newsletter.editors import schemas as s
from newsletter.editors import services as accounts
from newsletter.editors.auth import Principal, api_user, client_ip
from newsletter.editors.forms import check_zone, edition_row, parse_days, parse_local, parse_time
from newsletter.editors.models import Role
from newsletter.editors.previews import preview_next
from newsletter.editors.queue import briefing_queue
from newsletter.editors.reports import report_view
from newsletter.errors import InvalidInputError
from newsletter.parsing import SLUG_PATTERN
from newsletter.publications.services import (
    create_publication,
    get_publication,
    list_publications,
    publication_summary,
)
from newsletter.publications.spec import PublicationSpec
from newsletter.schedules import due
from newsletter.schedules import services as schedules
from newsletter.templating import environment
from newsletter.web.deps import runtime_of
from newsletter.web.pages import error_response

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": s.ErrorBody, "description": text}
    for code, text in {
        400: "The request names something invalid or conflicting",
        401: "No valid API token",
        403: "The token's editor lacks the role",
        404: "Not found",
        409: "The state does not allow this",
        413: "Body too large",
        422: "A field failed validation (the message names it)",
    }.items()
}

router = APIRouter(prefix="/api", responses=_ERRORS)

Reader = Annotated[Principal, Depends(api_user(Role.EDITOR))]
Publisher = Annotated[Principal, Depends(api_user(Role.PUBLISHER))]
Admin = Annotated[Principal, Depends(api_user(Role.ADMIN))]
BriefingSlug = Annotated[str, Path(min_length=1, max_length=120, pattern=r"^[a-z0-9-]+$")]
PublicationSlug = Annotated[str, Path(min_length=1, max_length=64, pattern=SLUG_PATTERN)]
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]

_BRIEFING_SCHEMA = BriefingInput.model_json_schema(ref_template="#/components/schemas/{model}")


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


@router.get("/publications", response_model=list[dict[str, Any]], summary="Publications")
def publications(request: Request, user: Reader) -> list[dict[str, Any]]:
    """Every publication with its settings."""
    with runtime_of(request).database.session() as db:
        return [publication_summary(p) for p in list_publications(db)]


@router.post(
    "/publications", status_code=201, response_model=dict[str, Any], summary="Add a publication"
)
def add_publication(request: Request, user: Admin, spec: PublicationSpec) -> dict[str, Any]:
    """Create a publication (admins only); its slug must be new."""
    with runtime_of(request).database.session() as db:
        publication = create_publication(db, spec)
        accounts.audit(db, user.name, "publication.add", spec.slug, ip=client_ip(request))
        return publication_summary(publication)


@router.get("/publications/{slug}", response_model=dict[str, Any], summary="One publication")
def publication(request: Request, user: Reader, slug: PublicationSlug) -> dict[str, Any]:
    """One publication with its settings."""
    with runtime_of(request).database.session() as db:
        return publication_summary(get_publication(db, slug))


def _schedule(db: Any, slug: str) -> s.ScheduleOut:
    chosen = get_publication(db, slug)
    upcoming = due.next_occurrences(schedules.recurring(db, chosen), utcnow(), 5)
    rows = schedules.editions_with_digest_state(db, slug=slug)
    return s.ScheduleOut(
        publication=chosen.slug,
        send_time=chosen.send_time.strftime("%H:%M"),
        timezone=chosen.timezone,
        weekdays=list(chosen.weekdays),
        paused=chosen.paused,
        upcoming=[e.due_at for e in upcoming],
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
    days = parse_days(body.weekdays)
    send_time = parse_time(body.send_time)
    zone = check_zone(body.timezone)
    with runtime_of(request).database.session() as db:
        actions.set_schedule(
            db,
            user.name,
            client_ip(request),
            slug,
            send_time=send_time,
            timezone=zone,
            weekdays=days,
        )
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
def send_now(request: Request, user: Publisher, slug: PublicationSlug) -> Response:
    """Add today's edition due at once; the scheduler starts it within a minute (publishers).

    When today's edition is already scheduled, sent or assembled, the answer is 409 and
    nothing changes.
    """
    try:
        # The refusal leaves the session block, so its transaction is rolled back.
        with runtime_of(request).database.session() as db:
            edition = actions.send_now(db, user.name, client_ip(request), slug)
            body = s.ScheduledEditionOut(**edition_row(edition, None))
    except InvalidInputError as exc:
        return error_response(request, 409, f"Nothing was sent: {exc}")
    return JSONResponse(body.model_dump(mode="json"), status_code=201)


@router.post(
    "/scheduled/{edition_id}/cancel", response_model=s.ScheduledEditionOut, summary="Cancel"
)
def cancel_edition(request: Request, user: Publisher, edition_id: Id) -> s.ScheduledEditionOut:
    """Cancel a scheduled edition; while sending, its unsent batches stop (publishers)."""
    with runtime_of(request).database.session() as db:
        result = actions.cancel(db, user.name, client_ip(request), edition_id)
        return s.ScheduledEditionOut(**edition_row(result.edition, None))


@router.get(
    "/publications/{slug}/digests", response_model=list[s.DigestRow], summary="Edition history"
)
def digests(request: Request, user: Reader, slug: PublicationSlug) -> list[s.DigestRow]:
    """A publication's editions, newest first."""
    with runtime_of(request).database.session() as db:
        found = list_digests(db, get_publication(db, slug))
        counts = item_counts(db, [d.id for d in found])
        return [
            s.DigestRow(
                id=d.id,
                edition_date=d.edition_date,
                state=d.state.value,
                subject=d.subject,
                skip_reason=d.skip_reason,
                briefings=counts[d.id],
            )
            for d in found
        ]


@router.get("/digests/{digest_id}/report", response_model=s.ReportOut, summary="Delivery report")
def report(request: Request, user: Reader, digest_id: Id) -> dict[str, Any]:
    """Recipients per state and skip reason, bounce and complaint rates, opens and clicks."""
    with runtime_of(request).database.session() as db:
        return report_view(db, digest_id).as_dict()


@router.post(
    "/publications/{slug}/test-send", response_model=s.TestSendOut, summary="Send a test copy"
)
def send_test_copy(
    request: Request, user: Publisher, slug: PublicationSlug, body: s.TestSendIn
) -> s.TestSendOut:
    """Send the next edition, marked [TEST], to one address (publishers)."""
    rt = runtime_of(request)
    address = accounts.clean_email(body.to or user.email, parameter="to")
    with rt.database.session() as db:
        view = preview_next(db, get_publication(db, slug), rt.tokens, test_to=address)
    if view.test_batch is None:
        raise InvalidInputError(f"{slug}: the next edition would be skipped ({view.skip_reason})")
    rt.sender.send_batch(view.test_batch)
    with rt.database.session() as db:
        accounts.audit(
            db,
            user.name,
            "edition.test_send",
            f"{slug} {view.edition_date}",
            ip=client_ip(request),
            to=address,
        )
    return s.TestSendOut(
        publication=slug, edition_date=view.edition_date, subject=view.subject, to=address
    )


@router.get("/editors", response_model=list[s.EditorOut], summary="Accounts")
def editors(request: Request, user: Admin) -> list[s.EditorOut]:
    """Every account (admins)."""
    with runtime_of(request).database.session() as db:
        return [
            s.EditorOut(
                name=e.name,
                email=e.email,
                role=e.role.value,
                disabled=e.disabled,
                created_at=e.created_at,
            )
            for e in accounts.list_editors(db)
        ]


@router.post("/editors", status_code=201, response_model=s.EditorOut, summary="Add an account")
def add_editor(request: Request, user: Admin, body: s.EditorIn) -> s.EditorOut:
    """Add an account (admins); without a password it can only use tokens."""
    with runtime_of(request).database.session() as db:
        e = accounts.create_editor(db, body.name, body.email, Role(body.role), body.password)
        accounts.audit(db, user.name, "editor.add", e.name, ip=client_ip(request), role=body.role)
        return s.EditorOut(
            name=e.name,
            email=e.email,
            role=e.role.value,
            disabled=e.disabled,
            created_at=e.created_at,
        )


router.include_router(admin_api.router)


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document of the API routes (the public pages are not part of it)."""
    document = get_openapi(
        title="Briefing publisher API",
        version="1",
        description=__doc__,
        routes=router.routes,  # get_openapi skips routes marked include_in_schema=False
    )
    components = document.setdefault("components", {}).setdefault("schemas", {})
    schema = dict(_BRIEFING_SCHEMA)
    components.update(schema.pop("$defs", {}))
    components["Briefing"] = schema
    return document


@router.get("/openapi.json", include_in_schema=False)
def openapi() -> JSONResponse:
    """The API's OpenAPI 3.1 document."""
    return JSONResponse(openapi_document())


@router.get("/docs", include_in_schema=False, response_class=HTMLResponse)
def docs() -> HTMLResponse:
    """The API reference as a plain page (no external scripts)."""
    document = openapi_document()
    operations = [
        {"method": method.upper(), "path": path, **operation}
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    ]
    html = (
        environment()
        .get_template("web/editor/api_docs.html")
        .render(document=document, operations=operations)
    )
    return HTMLResponse(html)
