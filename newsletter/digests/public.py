"""What readers see of published editions now: the newsroom's current word on each briefing.

An edition's snapshot (``DigestItem.content``) is what its email said and never
changes. Its public copies (the web page, feeds, the static export) show instead
what the newsroom stands behind now:

- a **corrected** briefing (a newer revision approved with a correction note) shows
  the corrected text with each dated note made after this edition's revision;
- a **withdrawn** or **expired** briefing shows a notice instead of its text and
  leaves the feeds;
- a **taken-down** briefing (a legal request) carries no original text at all: the
  item's content is a placeholder, so no renderer can leak it.

``refresh_web_copies`` re-renders the stored web page of every published edition
that carried a briefing after such a change.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from newsletter.briefings.models import (
    Briefing,
    BriefingCorrection,
    BriefingRevision,
    CorrectionKind,
)
from newsletter.briefings.services import corrections
from newsletter.content.briefing import BriefingContent
from newsletter.content.edition import CorrectionNote, Edition, EditionItem, ItemStatus
from newsletter.db import utcnow
from newsletter.digests.corrections_block import corrections_for
from newsletter.digests.models import Digest, DigestItem
from newsletter.digests.services import build_edition
from newsletter.publications.topics import topic_slugs
from newsletter.render.web import render_edition_page

REMOVED_TITLE = "Removed"
REMOVED_TEXT = "This briefing has been removed."


def removed_content(slug: str) -> BriefingContent:
    """The placeholder a taken-down briefing's items carry instead of its text."""
    return BriefingContent(title=REMOVED_TITLE, slug=slug, lede=(REMOVED_TEXT,))


def status_of(briefing: Briefing) -> ItemStatus:
    """A published briefing's public status now."""
    if briefing.taken_down_at is not None:
        return ItemStatus.TAKEN_DOWN
    if briefing.expired_at is not None:
        return ItemStatus.EXPIRED
    if briefing.approved_revision is None:
        return ItemStatus.WITHDRAWN
    return ItemStatus.LIVE


class _Overlay:
    """The briefings, approved texts and public changes behind a set of editions."""

    def __init__(self, session: Session, briefing_ids: Iterable[int]) -> None:
        ids = sorted(set(briefing_ids))
        self.briefings = {
            b.id: b for b in session.scalars(select(Briefing).where(Briefing.id.in_(ids)))
        }
        self.changes: dict[int, list[BriefingCorrection]] = {}
        for change in corrections(session, ids):
            self.changes.setdefault(change.briefing_id, []).append(change)
        self.texts = self._approved_texts(session)

    def _approved_texts(self, session: Session) -> dict[int, BriefingContent]:
        # Only briefings corrected since some edition need their approved text loaded.
        corrected = [
            briefing.id
            for briefing_id, changes in self.changes.items()
            if any(c.kind is CorrectionKind.CORRECTION for c in changes)
            and (briefing := self.briefings[briefing_id]).approved_revision is not None
        ]
        if not corrected:
            return {}
        rows = session.scalars(
            select(BriefingRevision).where(
                BriefingRevision.briefing_id.in_(corrected),
                BriefingRevision.number
                == select(Briefing.approved_revision)
                .where(Briefing.id == BriefingRevision.briefing_id)
                .scalar_subquery(),
            )
        )
        return {row.briefing_id: row.parsed() for row in rows}

    def item(self, item: EditionItem, published_at: datetime | None) -> EditionItem:
        briefing = self.briefings.get(item.briefing_id)
        if briefing is None:
            return item
        status = status_of(briefing)
        changes = self.changes.get(item.briefing_id, [])
        later = [c for c in changes if published_at is None or c.at > published_at]
        updated_at = max((c.at for c in later), default=None)
        if status is ItemStatus.TAKEN_DOWN:
            return replace(
                item,
                content=removed_content(item.content.slug),
                status=status,
                corrections=(),
                updated_at=updated_at,
            )
        notes = tuple(
            CorrectionNote(at=c.at, note=c.note)
            for c in changes
            if c.kind is CorrectionKind.CORRECTION and c.revision > item.revision
        )
        content = item.content
        if notes and briefing.approved_revision is not None:
            content = self.texts.get(item.briefing_id, content)
        return replace(
            item, content=content, status=status, corrections=notes, updated_at=updated_at
        )


def public_editions(session: Session, digests: Sequence[Digest]) -> list[Edition]:
    """The public view of these digests, in order (one query per kind of row, not per digest)."""
    overlay = _Overlay(session, (item.briefing_id for d in digests for item in d.items))
    blocks = corrections_for(session, digests)
    slugs_by_publication: dict[int, tuple[tuple[str, str], ...]] = {}
    out = []
    for digest in digests:
        if digest.publication_id not in slugs_by_publication:
            slugs = topic_slugs(session, digest.publication)
            slugs_by_publication[digest.publication_id] = tuple(slugs.items())
        edition = build_edition(digest)
        items = tuple(overlay.item(item, digest.published_at) for item in edition.items)
        slugs_here = slugs_by_publication[digest.publication_id]
        corrections = blocks[digest.id]
        out.append(replace(edition, items=items, topic_slugs=slugs_here, corrections=corrections))
    return out


def public_edition(session: Session, digest: Digest) -> Edition:
    """The public view of one digest (see the module docstring)."""
    return public_editions(session, [digest])[0]


def digests_carrying(session: Session, briefing_id: int) -> list[Digest]:
    """The published digests that carried a briefing, oldest first."""
    return list(
        session.scalars(
            select(Digest)
            .join(DigestItem, DigestItem.digest_id == Digest.id)
            .where(DigestItem.briefing_id == briefing_id, Digest.published_at.is_not(None))
            .order_by(Digest.published_at, Digest.id)
            .options(selectinload(Digest.items))
        )
    )


def refresh_web_copies(session: Session, briefing_id: int) -> list[Digest]:
    """Re-render the stored web page of every published digest carrying the briefing.

    Emails already sent are not touched. Each digest's ``updated_at`` moves, which
    is what the feed caches key on.
    """
    digests = digests_carrying(session, briefing_id)
    for digest, edition in zip(digests, public_editions(session, digests), strict=True):
        digest.web_html = render_edition_page(edition)
        digest.updated_at = utcnow()
    session.flush()
    return digests
