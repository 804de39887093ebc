"""The "Corrections" block: the next edition of each publication lists changes to briefings
it already published.

When an edition is assembled, every correction and withdrawal of a briefing that an
earlier published edition of the same publication carried, made after that edition
went public and not yet listed, is linked to the new edition (``digest_corrections``,
unique per publication and correction: each change is listed once per publication).
Skipped editions take none, so the changes wait for the next real edition; the lines
of an edition cancelled or missed before it went public move to the next one.

The block's lines are read back when rendering (``corrections_of``): the title is
the corrected one for a correction and the one readers saw for a withdrawal; a
briefing taken down since is left out, so the block never carries its title.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from newsletter import urls
from newsletter.briefings.models import (
    Briefing,
    BriefingCorrection,
    BriefingRevision,
    CorrectionKind,
)
from newsletter.content.edition import CorrectionNotice
from newsletter.digests.models import Digest, DigestCorrection, DigestItem, DigestState

# The changes the block lists; takedowns and expiries are shown only where the briefing was.
LISTED = (CorrectionKind.CORRECTION, CorrectionKind.WITHDRAWAL)

# Final states of editions that never went out: their lines go to the next edition.
NEVER_OUT = (DigestState.CANCELLED, DigestState.MISSED)


def attach_corrections(session: Session, digest: Digest) -> int:
    """Link the publication's unlisted corrections and withdrawals to ``digest``; how many."""
    publication_id = digest.publication_id
    # Lines given to an edition that was cancelled or missed never reached anyone:
    # take them back, so this edition lists those changes instead.
    never_out = select(Digest.id).where(
        Digest.publication_id == publication_id,
        Digest.state.in_(NEVER_OUT),
        Digest.published_at.is_(None),
    )
    session.execute(
        delete(DigestCorrection).where(
            DigestCorrection.publication_id == publication_id,
            DigestCorrection.digest_id.in_(never_out),
        )
    )
    listed = select(DigestCorrection.correction_id).where(
        DigestCorrection.publication_id == publication_id
    )
    rows = session.scalars(
        select(BriefingCorrection.id)
        .join(DigestItem, DigestItem.briefing_id == BriefingCorrection.briefing_id)
        .join(Digest, Digest.id == DigestItem.digest_id)
        .where(
            DigestItem.publication_id == publication_id,
            Digest.id != digest.id,
            Digest.published_at.is_not(None),
            Digest.published_at < BriefingCorrection.at,
            BriefingCorrection.kind.in_(LISTED),
            BriefingCorrection.id.not_in(listed),
        )
        .order_by(BriefingCorrection.at, BriefingCorrection.id)
    ).all()
    for correction_id in rows:
        session.add(
            DigestCorrection(
                digest_id=digest.id, publication_id=publication_id, correction_id=correction_id
            )
        )
    session.flush()
    return len(rows)


def corrections_for(
    session: Session, digests: Sequence[Digest]
) -> dict[int, tuple[CorrectionNotice, ...]]:
    """The "Corrections" block of each digest (by id), oldest change first."""
    if not digests:
        return {}
    out: dict[int, list[CorrectionNotice]] = {digest.id: [] for digest in digests}
    by_id = {digest.id: digest for digest in digests}
    rows = session.execute(
        select(DigestCorrection.digest_id, BriefingCorrection, Briefing, DigestItem.title)
        .join(BriefingCorrection, BriefingCorrection.id == DigestCorrection.correction_id)
        .join(Briefing, Briefing.id == BriefingCorrection.briefing_id)
        .join(
            DigestItem,
            (DigestItem.briefing_id == Briefing.id)
            & (DigestItem.publication_id == DigestCorrection.publication_id),
        )
        .where(DigestCorrection.digest_id.in_(list(by_id)))
        .order_by(BriefingCorrection.at, BriefingCorrection.id)
    ).all()
    titles = _revision_titles(session, [row[1] for row in rows])
    for digest_id, change, briefing, seen_title in rows:
        if briefing.taken_down_at is not None:
            continue
        pub = by_id[digest_id].publication
        title = seen_title
        if change.kind is CorrectionKind.CORRECTION:
            title = titles.get((change.briefing_id, change.revision), seen_title)
        out[digest_id].append(
            CorrectionNotice(
                kind=change.kind.value,
                slug=briefing.slug,
                title=title,
                note=change.note,
                at=change.at,
                url=urls.briefing_page(pub.base_url, pub.slug, briefing.slug),
            )
        )
    return {digest_id: tuple(notices) for digest_id, notices in out.items()}


def corrections_of(session: Session, digest: Digest) -> tuple[CorrectionNotice, ...]:
    """The "Corrections" block of one digest, oldest change first."""
    return corrections_for(session, [digest])[digest.id]


def _revision_titles(
    session: Session, changes: Sequence[BriefingCorrection]
) -> dict[tuple[int, int], str]:
    """(briefing id, revision) → title, for the revisions these corrections approved."""
    ids = {change.briefing_id for change in changes if change.kind is CorrectionKind.CORRECTION}
    if not ids:
        return {}
    rows = session.execute(
        select(BriefingRevision.briefing_id, BriefingRevision.number, BriefingRevision.title).where(
            BriefingRevision.briefing_id.in_(sorted(ids))
        )
    )
    return {(briefing_id, number): title for briefing_id, number, title in rows}
