"""API: the publications, their list and one publication's settings (adding is for admins)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from newsletter.backoffice.api_deps import Admin, PublicationSlug, Reader
from newsletter.editors import services as accounts
from newsletter.editors.auth import client_ip
from newsletter.publications.services import (
    create_publication,
    get_publication,
    list_publications,
    publication_summary,
)
from newsletter.publications.spec import PublicationSpec
from newsletter.web.deps import runtime_of

router = APIRouter()


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
