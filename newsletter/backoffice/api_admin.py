"""Admin calls of the REST API: mailing lists and publication settings.

Included in ``api.router`` (so they share its ``/api`` prefix, error answers and
OpenAPI document). Every change is audited; a refused one writes nothing, because
the error leaves the session block and its transaction is rolled back.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request

from newsletter.backoffice import actions
from newsletter.backoffice import schemas as s
from newsletter.editors.auth import Principal, api_user, client_ip
from newsletter.editors.models import Role
from newsletter.parsing import SLUG_PATTERN
from newsletter.publications.services import publication_summary
from newsletter.web.deps import runtime_of
from subscribers.lists import all_lists, list_info

router = APIRouter()

Admin = Annotated[Principal, Depends(api_user(Role.ADMIN))]
PublicationSlug = Annotated[str, Path(min_length=1, max_length=64, pattern=SLUG_PATTERN)]
ListSlug = Annotated[str, Path(min_length=1, max_length=64, pattern=SLUG_PATTERN)]


def _list_out(db: Any, slug: str) -> s.MailingListOut:
    return s.MailingListOut(**vars(list_info(db, slug)))


@router.get("/lists", response_model=list[s.MailingListOut], summary="Mailing lists")
def lists(request: Request, user: Admin) -> list[s.MailingListOut]:
    """Every mailing list with its opt-in mode and subscriber counts (admins)."""
    with runtime_of(request).database.session() as db:
        return [s.MailingListOut(**vars(info)) for info in all_lists(db)]


@router.post(
    "/lists", status_code=201, response_model=s.MailingListOut, summary="Add a mailing list"
)
def create_list(request: Request, user: Admin, body: s.MailingListIn) -> s.MailingListOut:
    """Add a list to a publication (admins); list slugs are unique."""
    with runtime_of(request).database.session() as db:
        created = actions.add_list(
            db,
            user.name,
            client_ip(request),
            body.publication,
            body.slug,
            body.name,
            double=body.double_opt_in,
        )
        return _list_out(db, created.slug)


@router.put("/lists/{slug}/opt-in", response_model=s.MailingListOut, summary="Set opt-in mode")
def put_opt_in(request: Request, user: Admin, slug: ListSlug, body: s.OptInIn) -> s.MailingListOut:
    """Switch a list between double and single opt-in; only new sign-ups change (admins)."""
    with runtime_of(request).database.session() as db:
        mailing_list = actions.set_opt_in(
            db, user.name, client_ip(request), slug, double=body.double_opt_in
        )
        return _list_out(db, mailing_list.slug)


@router.patch("/publications/{slug}", response_model=dict[str, Any], summary="Change a publication")
def patch_publication(
    request: Request, user: Admin, slug: PublicationSlug, body: s.PublicationChanges
) -> dict[str, Any]:
    """Change some settings of a publication; the result is validated as a whole (admins)."""
    changes = body.model_dump(exclude_none=True)
    # An unsubscribe group given as null is removed (other fields: null keeps the value).
    for name in ("digest_group_id", "alert_group_id"):
        if name in body.model_fields_set:
            changes[name] = getattr(body, name)
    with runtime_of(request).database.session() as db:
        publication = actions.edit_publication(db, user.name, client_ip(request), slug, changes)
        return publication_summary(publication)
