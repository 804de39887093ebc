"""What editors see before readers do: the next edition, test copies, one briefing.

An edition is frozen when it is assembled. Previewing must not freeze it (briefings
approved later in the day still belong in it), so an edition that is not assembled
yet is assembled and rendered inside a savepoint that is rolled back: the preview
and the test copy show exactly what the renderer would produce now, and nothing
is kept. An edition already rendered is shown as stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from newsletter import urls
from newsletter.content.briefing import BriefingContent
from newsletter.content.edition import Edition, EditionItem, PublicationInfo
from newsletter.db import utcnow
from newsletter.delivery.compose import Personaliser, edition_message
from newsletter.digests.models import RENDERED_STATES, Digest, DigestState
from newsletter.digests.services import (
    assemble_digest,
    find_digest,
    next_edition,
    render_digest,
    tentatively,
)
from newsletter.providers.interfaces import Batch
from newsletter.publications.models import Publication
from newsletter.render import placeholders
from newsletter.render.web import render_briefing_fragment
from subscribers.tokens import Tokens


@dataclass(frozen=True)
class Preview:
    """What the next edition would look like, as plain values."""

    publication: str
    publication_name: str
    edition_date: date
    state: str
    frozen: bool
    subject: str = ""
    preheader: str = ""
    html: str = ""
    text: str = ""
    html_bytes: int = 0
    titles: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    skip_reason: str | None = None
    test_batch: Batch | None = field(default=None, repr=False)


def _fill(text: str, publication: Publication, edition_date: date) -> str:
    """Replace per-recipient markers with links that work for an editor looking at it."""
    signup = urls.subscribe_page(publication.base_url, publication.slug)
    values = {
        placeholders.UNSUBSCRIBE_URL: signup,
        placeholders.PREFERENCES_URL: signup,
        placeholders.VIEW_URL: urls.edition_page(
            publication.base_url, publication.slug, edition_date
        ),
        placeholders.NAME: "",
    }
    for marker, value in values.items():
        text = text.replace(marker, value)
    return text


def _capture(
    digest: Digest, publication: Publication, frozen: bool, test_to: str | None, tokens: Tokens
) -> Preview:
    batch = None
    if test_to is not None:
        message = edition_message(digest, test=True)
        personaliser = Personaliser.for_digest(
            digest, message, base_url=publication.base_url, tokens=tokens
        )
        signup = urls.subscribe_page(publication.base_url, publication.slug)
        recipient = personaliser.anonymous(test_to, signup)
        batch = Batch(f"test-{publication.slug}-{digest.edition_date}", message, (recipient,))
    return Preview(
        publication=publication.slug,
        publication_name=publication.name,
        edition_date=digest.edition_date,
        state=digest.state.value,
        frozen=frozen,
        subject=digest.subject or "",
        preheader=digest.preheader or "",
        html=_fill(digest.html or "", publication, digest.edition_date),
        text=_fill(digest.text or "", publication, digest.edition_date),
        html_bytes=digest.html_bytes or 0,
        titles=tuple(item.title for item in digest.items),
        notes=tuple(digest.notes or ()),
        test_batch=batch,
    )


def _take_write_lock(session: Session, publication: Publication) -> None:
    """On SQLite, start the transaction with a write so it holds the write lock from the start.

    Otherwise the preview reads, then writes inside its savepoint; if another
    connection wrote in between (a webhook, say), SQLite cannot upgrade the read
    transaction and fails at once with "database is locked" instead of waiting.
    A no-op UPDATE as the first statement makes SQLite wait its busy timeout.
    """
    if session.get_bind().dialect.name == "sqlite":
        session.execute(
            text("UPDATE publications SET id = id WHERE id = :id"), {"id": publication.id}
        )


def preview_next(
    session: Session,
    publication: Publication,
    tokens: Tokens,
    *,
    test_to: str | None = None,
    now: datetime | None = None,
) -> Preview:
    """The publication's next edition rendered now; with ``test_to``, a test batch for it."""
    now = now or utcnow()
    _take_write_lock(session, publication)
    edition_date = next_edition(publication, now)
    stored = find_digest(session, publication.id, edition_date)
    if stored is not None and stored.state in RENDERED_STATES:
        return _capture(stored, publication, True, test_to, tokens)
    with tentatively(session):
        result = assemble_digest(session, publication, edition_date, now=now)
        digest = result.digest
        if digest.state is DigestState.SKIPPED:
            return Preview(
                publication=publication.slug,
                publication_name=publication.name,
                edition_date=edition_date,
                state=digest.state.value,
                frozen=not result.created,
                skip_reason=digest.skip_reason,
            )
        digest = render_digest(session, digest.id)
        return _capture(digest, publication, not result.created, test_to, tokens)


def briefing_fragment(
    content: BriefingContent, *, base_url: str, now: datetime | None = None
) -> str:
    """A briefing as the archive page and feeds show it (the same fragment renderer).

    The briefing is placed alone in a throwaway edition of a stand-in publication, so
    the preview never touches the database and shows exactly the archive's markup.
    """
    now = now or utcnow()
    publication = PublicationInfo(slug="preview", name="Preview", base_url=base_url)
    item = EditionItem(briefing_id=0, revision=0, content=content, approved_at=now, position=1)
    edition = Edition(
        id=0, publication=publication, edition_date=now.date(), items=(item,), assembled_at=now
    )
    return render_briefing_fragment(edition, item)
