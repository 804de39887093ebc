"""API: a publication's edition history, an edition's delivery report, test copies."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from newsletter.backoffice import actions
from newsletter.backoffice import schemas as s
from newsletter.backoffice.api_deps import PublicationSlug, Publisher, Reader
from newsletter.backoffice.reports import report_view
from newsletter.content.edition import Cadence
from newsletter.digests.services import item_counts, list_digests
from newsletter.editors import services as accounts
from newsletter.editors.auth import client_ip
from newsletter.errors import ConflictError
from newsletter.publications.services import get_publication
from newsletter.web.deps import Id, runtime_of

router = APIRouter()


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
                slot=d.slot if d.cadence is Cadence.DAILY else "",
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
    address = accounts.clean_email(body.to or user.email, parameter="to")
    rt = runtime_of(request)
    view = actions.send_test_copy(rt, user.name, client_ip(request), slug, address)
    if view.test_batch is None:
        raise ConflictError(f"{slug}: the next edition would be skipped ({view.skip_reason})")
    return s.TestSendOut(
        publication=slug, edition_date=view.edition_date, subject=view.subject, to=address
    )
