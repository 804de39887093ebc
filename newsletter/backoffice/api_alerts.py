"""API: send an approved briefing as an alert (publishers; past the day's limit, admins).

``GET /api/briefings/{slug}/alert?publication=P`` answers what the confirmation step
shows (the readers it would reach, the day's count and limit) and refuses what could
not go; ``POST`` with ``{"publication": P}`` starts it: frozen, rendered and public
before the answer, planned and sent by a worker at once after it. Refusals leave
nothing changed: 404 (unknown briefing or publication), 409 (not approved, already
alerted, past the limit without ``over_limit``), 400 (no reader would get it, a
paused publication), 403 (``over_limit`` from a non-admin).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from newsletter.backoffice.api_deps import BriefingSlug, Publisher
from newsletter.editors.auth import client_ip
from newsletter.editors.models import Role
from newsletter.parsing import SLUG_PATTERN
from newsletter.pipeline.alerts import AlertCheck, AlertStarted, check_alert, start_alert
from newsletter.publishing.after import flush_after_response
from newsletter.publishing.corrections import PublicChanges
from newsletter.web.deps import runtime_of

router = APIRouter()

PublicationQuery = Annotated[str, Query(min_length=1, max_length=64, pattern=SLUG_PATTERN)]


class AlertCheckOut(BaseModel):
    """What sending the briefing as an alert would do now."""

    publication: str
    briefing_id: int
    slug: str
    title: str
    topics: list[str]
    readers: int = Field(description="Readers who would get it now (opted into alerts)")
    sent_today: int = Field(description="Alerts the publication sent today, in its zone")
    limit: int = Field(description="The publication's alerts_per_day")
    over_limit: bool = Field(description="Whether sending it needs an admin's override")


class AlertIn(BaseModel):
    """Send the briefing as an alert of this publication."""

    model_config = ConfigDict(extra="forbid")

    publication: str = Field(min_length=1, max_length=64, pattern=SLUG_PATTERN)
    over_limit: bool = Field(
        default=False, description="Go past the day's alerts_per_day (admins only; audited)"
    )


class AlertOut(BaseModel):
    """An alert on its way: a worker plans and sends it at once."""

    digest_id: int
    edition_id: int
    publication: str
    slug: str
    title: str
    readers: int
    url: str = Field(description="The alert's public page")
    over_limit: bool
    planning_requested: bool = Field(
        description="Whether a worker was asked to plan it now (else the beat's tick does)"
    )


def _check_out(check: AlertCheck) -> AlertCheckOut:
    return AlertCheckOut(
        publication=check.publication,
        briefing_id=check.briefing_id,
        slug=check.slug,
        title=check.title,
        topics=list(check.topics),
        readers=check.readers,
        sent_today=check.sent_today,
        limit=check.limit,
        over_limit=check.over_limit,
    )


@router.get(
    "/briefings/{slug}/alert",
    response_model=AlertCheckOut,
    summary="Check sending a briefing as an alert",
)
def get_alert_check(
    request: Request, user: Publisher, slug: BriefingSlug, publication: PublicationQuery
) -> AlertCheckOut:
    """How many readers the alert would reach and where the day's limit stands; the same
    refusals as sending it (publishers)."""
    with runtime_of(request).database.session() as db:
        return _check_out(check_alert(db, slug, publication))


def start(request: Request, user_name: str, admin: bool, slug: str, body: AlertIn) -> AlertStarted:
    """Start the alert (committed) and ask a worker to plan it; shared with the page."""
    runtime = runtime_of(request)
    with runtime.database.session() as db:
        started = start_alert(
            db,
            slug,
            body.publication,
            actor=user_name,
            ip=client_ip(request),
            admin=admin,
            override=body.over_limit,
        )
    return started


@router.post(
    "/briefings/{slug}/alert",
    status_code=201,
    response_model=AlertOut,
    summary="Send a briefing as an alert",
)
def post_alert(
    request: Request,
    background: BackgroundTasks,
    user: Publisher,
    slug: BriefingSlug,
    body: AlertIn,
) -> AlertOut:
    """Send an approved briefing at once to the publication's readers who opted into
    alerts (on one of its topics, or all). Past the day's ``alerts_per_day`` only an
    admin may, with ``over_limit``; the audit log records it (publishers)."""
    admin = user.can(Role.ADMIN)
    if body.over_limit and not admin:
        raise HTTPException(
            403,
            f"over_limit: only an admin may go past the day's alert limit; {user.name} is "
            f"{user.role.value}",
        )
    started = start(request, user.name, admin, slug, body)
    runtime = runtime_of(request)
    requested = bool(request.app.state.request_plan(runtime, started.digest_id))
    flush_after_response(background, runtime, PublicChanges(publications=(started.publication,)))
    return AlertOut(**started.__dict__, planning_requested=requested)
