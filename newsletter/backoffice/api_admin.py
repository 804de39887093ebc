"""Admin calls of the REST API: mailing lists and publication settings.

Included in ``api.router`` (so they share its ``/api`` prefix, error answers and
OpenAPI document). Every change is audited; a refused one writes nothing, because
the error leaves the session block and its transaction is rolled back.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request

from newsletter.backoffice import schemas as s
from newsletter.editors import services as accounts
from newsletter.editors.auth import Principal, api_user, client_ip
from newsletter.editors.models import Role
from newsletter.parsing import SLUG_PATTERN
from newsletter.publications.services import (
    edit_publication,
    get_publication,
    publication_summary,
    spec_of,
)
from newsletter.web.deps import runtime_of
from subscribers.lists import add_list, all_lists, list_info, set_double_opt_in

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
        created = add_list(
            db, body.publication, body.slug, body.name, double_opt_in=body.double_opt_in
        )
        accounts.audit(
            db,
            user.name,
            "list.add",
            created.slug,
            ip=client_ip(request),
            publication=body.publication,
            double_opt_in=body.double_opt_in,
        )
        return _list_out(db, created.slug)


@router.put("/lists/{slug}/opt-in", response_model=s.MailingListOut, summary="Set opt-in mode")
def put_opt_in(request: Request, user: Admin, slug: ListSlug, body: s.OptInIn) -> s.MailingListOut:
    """Switch a list between double and single opt-in; only new sign-ups change (admins)."""
    with runtime_of(request).database.session() as db:
        mailing_list = set_double_opt_in(db, slug, body.double_opt_in)
        accounts.audit(
            db,
            user.name,
            "list.double_opt_in" if body.double_opt_in else "list.single_opt_in",
            mailing_list.slug,
            ip=client_ip(request),
        )
        return _list_out(db, mailing_list.slug)


@router.patch("/publications/{slug}", response_model=dict[str, Any], summary="Change a publication")
def patch_publication(
    request: Request, user: Admin, slug: PublicationSlug, body: s.PublicationChanges
) -> dict[str, Any]:
    """Change some settings of a publication; the result is validated as a whole (admins)."""
    changes = body.model_dump(exclude_none=True)
    with runtime_of(request).database.session() as db:
        before = spec_of(get_publication(db, slug)).model_dump(mode="json")
        publication = edit_publication(db, slug, changes)
        after = spec_of(publication).model_dump(mode="json")
        accounts.audit(
            db,
            user.name,
            "publication.edit",
            slug,
            ip=client_ip(request),
            changed=sorted(k for k in after if after[k] != before[k]),
        )
        return publication_summary(publication)
