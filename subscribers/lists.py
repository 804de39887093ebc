"""Managing mailing lists from the command line: add, list, switch opt-in mode.

A publication's default list (slug = publication slug) is created on first use by
``services.get_list`` (a sign-up, an import, a dispatch); these functions add the extra
lists and let an operator make a list single opt-in. A new list may not take another
publication's slug, or that publication's default list could never be created.
Reading the overview writes nothing: a default list not yet created is shown as it
will be, with no subscribers.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsletter.errors import ConflictError, InvalidInputError, NotFoundError
from newsletter.parsing import is_slug
from newsletter.publications.models import Publication
from subscribers.models import MailingList, Subscription, SubscriptionState
from subscribers.services import create_list, ensure_default_list, get_list

MAX_SLUG = 64
MAX_NAME = 200


@dataclass(frozen=True)
class ListInfo:
    """One list as the CLI shows it."""

    slug: str
    name: str
    publication: str
    double_opt_in: bool
    confirmed: int
    pending: int


def add_list(
    session: Session, publication_slug: str, slug: str, name: str, *, double_opt_in: bool = True
) -> MailingList:
    """A new list of a publication, or ``InvalidInputError`` / ``NotFoundError`` saying why."""
    publication = session.scalar(select(Publication).where(Publication.slug == publication_slug))
    if publication is None:
        raise NotFoundError(f"--publication: no publication is called {publication_slug[:64]!r}")
    if not is_slug(slug, max_length=MAX_SLUG):
        raise InvalidInputError(
            f"slug: {slug[:70]!r} must be lower-case letters, digits and single hyphens, "
            f"not all digits (at most {MAX_SLUG} characters)"
        )
    name = " ".join(name.split())
    if not name or len(name) > MAX_NAME:
        raise InvalidInputError(f"--name: between 1 and {MAX_NAME} characters")
    other = session.scalar(select(Publication.id).where(Publication.slug == slug))
    if other is not None and other != publication.id:
        raise ConflictError(f"slug: {slug!r} is the slug of another publication")
    ensure_default_list(session, publication)
    return create_list(session, publication, slug, name, double_opt_in=double_opt_in)


def set_double_opt_in(session: Session, slug: str, double_opt_in: bool) -> MailingList:
    """Switch a list between double and single opt-in; returns the list."""
    mailing_list = get_list(session, slug)
    mailing_list.double_opt_in = double_opt_in
    session.flush()
    return mailing_list


def _counts(
    session: Session, list_id: int | None = None
) -> dict[tuple[int, SubscriptionState], int]:
    query = select(Subscription.list_id, Subscription.state, func.count()).group_by(
        Subscription.list_id, Subscription.state
    )
    if list_id is not None:
        query = query.where(Subscription.list_id == list_id)
    return {(found, state): count for found, state, count in session.execute(query)}


def _info(
    mailing_list: MailingList,
    publication_slug: str,
    counts: dict[tuple[int, SubscriptionState], int],
) -> ListInfo:
    return ListInfo(
        slug=mailing_list.slug,
        name=mailing_list.name,
        publication=publication_slug,
        double_opt_in=mailing_list.double_opt_in,
        confirmed=counts.get((mailing_list.id, SubscriptionState.CONFIRMED), 0),
        pending=counts.get((mailing_list.id, SubscriptionState.PENDING), 0),
    )


def all_lists(session: Session) -> list[ListInfo]:
    """Every list with subscriber counts; a default list not created yet shows as empty."""
    counts = _counts(session)
    query = select(MailingList, Publication.slug).join(Publication)
    found = [_info(mailing_list, slug, counts) for mailing_list, slug in session.execute(query)]
    taken = {info.slug for info in found}
    for publication in session.scalars(select(Publication).order_by(Publication.slug)):
        if publication.slug not in taken:
            # What ensure_default_list will create on first use, without creating it now.
            found.append(
                ListInfo(
                    slug=publication.slug,
                    name=publication.name,
                    publication=publication.slug,
                    double_opt_in=True,
                    confirmed=0,
                    pending=0,
                )
            )
    return sorted(found, key=lambda info: info.slug)


def list_info(session: Session, slug: str) -> ListInfo:
    """One stored list with its subscriber counts, or ``NotFoundError``."""
    row = session.execute(
        select(MailingList, Publication.slug).join(Publication).where(MailingList.slug == slug)
    ).first()
    if row is None:
        raise NotFoundError(f"list: no mailing list is called {slug[:64]!r}")
    mailing_list, publication_slug = row
    return _info(mailing_list, publication_slug, _counts(session, mailing_list.id))
