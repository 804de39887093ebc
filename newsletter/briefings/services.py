"""Briefing services: import with revisions, the editorial workflow, and look-ups.

Every function takes an open ``Session`` and leaves committing to the caller, so a
whole folder import is one transaction: it lands entirely or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.briefings.models import Briefing, BriefingEvent, BriefingRevision, BriefingState
from newsletter.briefings.workflow import Action, next_state
from newsletter.content.briefing import BriefingContent, ImportWarning
from newsletter.db import utcnow
from newsletter.errors import InvalidInputError, NotFoundError

IMPORT_EDITOR = "import"
MAX_EDITOR_LENGTH = 120


class ImportAction(StrEnum):
    """What importing one briefing did."""

    CREATED = "created"
    REVISED = "revised"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class ImportOutcome:
    """The result of importing one briefing."""

    slug: str
    briefing_id: int
    action: ImportAction
    revision: int
    state: BriefingState
    approved: bool
    warnings: tuple[ImportWarning, ...]
    source: str | None


def check_editor(editor: str | None, *, parameter: str = "--editor") -> str:
    """A cleaned editor name, or ``InvalidInputError`` naming ``parameter``."""
    name = (editor or "").strip()
    if not name:
        raise InvalidInputError(f"{parameter}: an editor name is required")
    if len(name) > MAX_EDITOR_LENGTH:
        raise InvalidInputError(f"{parameter}: at most {MAX_EDITOR_LENGTH} characters")
    return name


def import_content(
    session: Session,
    content: BriefingContent,
    *,
    source: str | None = None,
    approve_as: str | None = None,
    now: datetime | None = None,
) -> ImportOutcome:
    """Create a briefing, add a revision when its content changed, or do nothing.

    With ``approve_as`` (an editor name) the resulting draft is approved at once, for
    trusted upstream pipelines.
    """
    now = now or utcnow()
    briefing = session.scalars(select(Briefing).where(Briefing.slug == content.slug)).one_or_none()
    if briefing is None:
        briefing = Briefing(slug=content.slug, state=BriefingState.DRAFT, latest_revision=1)
        briefing.created_at = briefing.updated_at = now
        session.add(briefing)
        session.flush()
        _add_revision(session, briefing, 1, content, source, now)
        _record(session, briefing, Action.CREATE, None, IMPORT_EDITOR, source or "", now)
        action = ImportAction.CREATED
    elif _latest(session, briefing).content_hash == content.content_hash():
        action = ImportAction.UNCHANGED
    else:
        number = briefing.latest_revision + 1
        _add_revision(session, briefing, number, content, source, now)
        briefing.latest_revision = number
        _apply(session, briefing, Action.REVISE, IMPORT_EDITOR, source or "", now)
        action = ImportAction.REVISED
    if approve_as is not None and briefing.state is BriefingState.DRAFT:
        _apply(
            session, briefing, Action.APPROVE, check_editor(approve_as), "approved on import", now
        )
    return ImportOutcome(
        slug=briefing.slug,
        briefing_id=briefing.id,
        action=action,
        revision=briefing.latest_revision,
        state=briefing.state,
        approved=briefing.approved_revision == briefing.latest_revision,
        warnings=content.warnings,
        source=source,
    )


def import_many(
    session: Session,
    items: Sequence[tuple[BriefingContent, str]],
    *,
    approve_as: str | None = None,
) -> list[ImportOutcome]:
    """Import parsed briefings (content, source) in one go; two sources may not share a slug."""
    seen: dict[str, tuple[str, str]] = {}
    for content, source in items:
        digest = content.content_hash()
        earlier = seen.setdefault(content.slug, (digest, source))
        if earlier[0] != digest:
            raise InvalidInputError(
                f"{source}: slug {content.slug!r} is also used by {earlier[1]} with other content"
            )
    now = utcnow()
    return [import_content(session, c, source=s, approve_as=approve_as, now=now) for c, s in items]


def get_briefing(session: Session, id_or_slug: str) -> Briefing:
    """The briefing with this numeric id or slug, or ``NotFoundError``."""
    key = id_or_slug.strip()
    query = select(Briefing)
    query = (
        query.where(Briefing.id == int(key)) if key.isdigit() else query.where(Briefing.slug == key)
    )
    briefing = session.scalars(query).one_or_none()
    if briefing is None:
        raise NotFoundError(f"no briefing with id or slug {id_or_slug!r}")
    return briefing


def list_briefings(session: Session, state: BriefingState | None = None) -> list[Briefing]:
    """Briefings, newest change first, optionally in one state."""
    query = select(Briefing).order_by(Briefing.updated_at.desc(), Briefing.id.desc())
    if state is not None:
        query = query.where(Briefing.state == state)
    return list(session.scalars(query))


def revision(session: Session, briefing: Briefing, number: int | None = None) -> BriefingRevision:
    """One revision of ``briefing`` (the latest by default), or ``NotFoundError``."""
    wanted = number if number is not None else briefing.latest_revision
    found = session.scalars(
        select(BriefingRevision).where(
            BriefingRevision.briefing_id == briefing.id, BriefingRevision.number == wanted
        )
    ).one_or_none()
    if found is None:
        raise NotFoundError(f"briefing {briefing.slug!r} has no revision {wanted}")
    return found


def approve(session: Session, briefing: Briefing, editor: str, comment: str = "") -> Briefing:
    """Approve the latest revision; editions use it from now on."""
    return _apply(session, briefing, Action.APPROVE, check_editor(editor), comment, utcnow())


def reject(session: Session, briefing: Briefing, editor: str, comment: str = "") -> Briefing:
    """Reject the latest revision (an approved older revision, if any, stays live)."""
    return _apply(session, briefing, Action.REJECT, check_editor(editor), comment, utcnow())


def withdraw(session: Session, briefing: Briefing, editor: str, comment: str = "") -> Briefing:
    """Take the briefing out of every later edition."""
    return _apply(session, briefing, Action.WITHDRAW, check_editor(editor), comment, utcnow())


def history(session: Session, briefing: Briefing) -> list[BriefingEvent]:
    """The audit trail of ``briefing``, oldest first."""
    return list(
        session.scalars(
            select(BriefingEvent)
            .where(BriefingEvent.briefing_id == briefing.id)
            .order_by(BriefingEvent.at, BriefingEvent.id)
        )
    )


def _latest(session: Session, briefing: Briefing) -> BriefingRevision:
    return revision(session, briefing)


def _add_revision(
    session: Session,
    briefing: Briefing,
    number: int,
    content: BriefingContent,
    source: str | None,
    now: datetime,
) -> None:
    session.add(
        BriefingRevision(
            briefing_id=briefing.id,
            number=number,
            title=content.title,
            content=content.model_dump(mode="json"),
            content_hash=content.content_hash(),
            source=source,
            created_at=now,
        )
    )


def _apply(
    session: Session,
    briefing: Briefing,
    action: Action,
    editor: str,
    comment: str,
    now: datetime,
) -> Briefing:
    before = briefing.state
    briefing.state = next_state(
        before, action, has_live_revision=briefing.approved_revision is not None
    )
    if action is Action.APPROVE:
        briefing.approved_revision = briefing.latest_revision
        briefing.approved_at = now
        briefing.approved_by = editor
    elif action is Action.WITHDRAW:
        briefing.approved_revision = None
    briefing.updated_at = now
    _record(session, briefing, action, before, editor, comment, now)
    return briefing


def _record(
    session: Session,
    briefing: Briefing,
    action: Action,
    before: BriefingState | None,
    editor: str,
    comment: str,
    now: datetime,
) -> None:
    session.add(
        BriefingEvent(
            briefing_id=briefing.id,
            revision=briefing.latest_revision,
            action=action.value,
            from_state=before.value if before else None,
            to_state=briefing.state.value,
            editor=editor,
            comment=comment,
            at=now,
        )
    )
    session.flush()
