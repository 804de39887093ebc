"""Briefing services: import with revisions, the editorial workflow, and look-ups.

Every function takes an open ``Session`` and leaves committing to the caller, so a
whole folder import is one transaction: it lands entirely or not at all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.briefings.models import (
    Briefing,
    BriefingCorrection,
    BriefingEvent,
    BriefingRevision,
    BriefingState,
    CorrectionKind,
)
from newsletter.briefings.workflow import Action, next_state
from newsletter.content.briefing import BriefingContent, ImportWarning
from newsletter.db import utcnow
from newsletter.errors import InvalidInputError, NotFoundError, TransitionError
from newsletter.parsing import is_id, read_id

# Whether a briefing was published (its approval is then a correction, which needs a
# note): handed down by the layers that know editions (newsletter.publishing).
PublishedCheck = Callable[[Session, Briefing], bool]

IMPORT_EDITOR = "import"
MAX_EDITOR_LENGTH = 120
MAX_NOTE_LENGTH = 2000


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
    # Why ``approve_as`` did not approve it (a published briefing needs a correction note).
    held: str | None = None


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
    editor: str = IMPORT_EDITOR,
    is_published: PublishedCheck | None = None,
) -> ImportOutcome:
    """Create a briefing, add a revision when its content changed, or do nothing.

    ``editor`` is who wrote the revision (the audit trail's name: ``import`` for
    files, the editor's name for an edit in the editors' app). With ``approve_as``
    (an editor name) the resulting draft is approved at once, for trusted upstream
    pipelines; a derived title counts as confirmed by them. A changed revision of a
    briefing that was published (``is_published``; without it, of any briefing approved
    before) is not approved: that is a correction, which needs an editor's note.
    """
    now = now or utcnow()
    briefing = session.scalars(select(Briefing).where(Briefing.slug == content.slug)).one_or_none()
    if briefing is None:
        briefing = Briefing(slug=content.slug, state=BriefingState.DRAFT, latest_revision=1)
        briefing.created_at = briefing.updated_at = now
        session.add(briefing)
        session.flush()
        _add_revision(session, briefing, 1, content, source, now)
        _record(session, briefing, Action.CREATE, None, editor, source or "", now)
        action = ImportAction.CREATED
    elif _latest(session, briefing).content_hash == content.content_hash():
        action = ImportAction.UNCHANGED
    else:
        number = briefing.latest_revision + 1
        _add_revision(session, briefing, number, content, source, now)
        briefing.latest_revision = number
        _apply(session, briefing, Action.REVISE, editor, source or "", now)
        action = ImportAction.REVISED
    held = None
    if approve_as is not None and briefing.state is BriefingState.DRAFT:
        approver = check_editor(approve_as)
        published = (
            is_published(session, briefing)
            if is_published is not None
            else briefing.approved_at is not None
        )
        if published:
            held = "published before: approve it as a correction, with a note"
        else:
            _check_approvable(session, briefing, approver, confirm_title=True)
            _apply(session, briefing, Action.APPROVE, approver, "approved on import", now)
    return ImportOutcome(
        slug=briefing.slug,
        briefing_id=briefing.id,
        action=action,
        revision=briefing.latest_revision,
        state=briefing.state,
        approved=briefing.approved_revision == briefing.latest_revision,
        warnings=content.warnings,
        source=source,
        held=held,
    )


def import_many(
    session: Session,
    items: Sequence[tuple[BriefingContent, str]],
    *,
    approve_as: str | None = None,
    is_published: PublishedCheck | None = None,
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
    return [
        import_content(
            session, c, source=s, approve_as=approve_as, now=now, is_published=is_published
        )
        for c, s in items
    ]


def get_briefing(session: Session, id_or_slug: str) -> Briefing:
    """The briefing with this id (all digits) or slug (never all digits), or ``NotFoundError``.

    A slug made before slugs had to have a letter may still be all digits: when it is
    also another briefing's id the look-up refuses to guess and says so.
    """
    key = id_or_slug.strip()
    by_slug = session.scalars(select(Briefing).where(Briefing.slug == key)).one_or_none()
    if not is_id(key):
        if by_slug is None:
            raise NotFoundError(f"no briefing with slug {key[:130]!r}")
        return by_slug
    number = read_id(key)
    by_id = session.get(Briefing, number) if number is not None else None
    if by_id is not None and by_slug is not None and by_id is not by_slug:
        raise InvalidInputError(
            f"{key!r} is the id of briefing {by_id.slug!r} and the slug of briefing id "
            f"{by_slug.id}: name the one you mean by its slug or by its id"
        )
    found = by_id or by_slug
    if found is None:
        raise NotFoundError(f"no briefing with id {key[:20]}")
    return found


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


def check_note(note: str | None, *, parameter: str) -> str:
    """A cleaned, non-empty note (a correction note, a takedown reason), or a clear error."""
    text = (note or "").strip()
    if not text:
        raise InvalidInputError(f"{parameter}: required")
    if len(text) > MAX_NOTE_LENGTH:
        raise InvalidInputError(f"{parameter}: at most {MAX_NOTE_LENGTH} characters")
    return text


def needs_title_confirmation(session: Session, briefing: Briefing) -> bool:
    """Whether the latest revision's title was derived from the text and nobody confirmed it."""
    latest = _latest(session, briefing)
    return bool(latest.content.get("title_derived")) and latest.title_confirmed_by is None


def approve(
    session: Session,
    briefing: Briefing,
    editor: str,
    comment: str = "",
    *,
    confirm_title: bool = False,
    correction_note: str | None = None,
) -> Briefing:
    """Approve the latest revision; editions use it from now on.

    A title the importer derived from the text must be confirmed (``confirm_title``)
    or edited first. ``correction_note`` records the approval as a correction of a
    published briefing (the caller decides when one is needed: see
    ``newsletter.publishing.corrections``).
    """
    editor = check_editor(editor)
    note = None if correction_note is None else check_note(correction_note, parameter="note")
    _check_approvable(session, briefing, editor, confirm_title=confirm_title)
    now = utcnow()
    _apply(session, briefing, Action.APPROVE, editor, comment or (note or ""), now)
    if note is not None:
        _add_correction(session, briefing, CorrectionKind.CORRECTION, note, editor, now)
    return briefing


def check_not_taken_down(briefing: Briefing) -> None:
    """``TransitionError`` if the briefing was taken down (it can never be approved again)."""
    if briefing.taken_down_at is not None:
        raise TransitionError(
            f"briefing {briefing.slug!r} was taken down on {briefing.taken_down_at:%Y-%m-%d}: "
            "it cannot be approved again"
        )


def _check_approvable(
    session: Session, briefing: Briefing, editor: str, *, confirm_title: bool
) -> None:
    check_not_taken_down(briefing)
    if not needs_title_confirmation(session, briefing):
        return
    if not confirm_title:
        title = _latest(session, briefing).title
        raise InvalidInputError(
            f"briefing {briefing.slug!r}: its title {title!r} was derived from the text; "
            "confirm it (--confirm-title, confirm_title) or edit it before approving"
        )
    latest = _latest(session, briefing)
    latest.title_confirmed_by = editor
    _record(session, briefing, Action.CONFIRM_TITLE, briefing.state, editor, latest.title, utcnow())


def reject(session: Session, briefing: Briefing, editor: str, comment: str = "") -> Briefing:
    """Reject the latest revision (an approved older revision, if any, stays live)."""
    return _apply(session, briefing, Action.REJECT, check_editor(editor), comment, utcnow())


def withdraw(
    session: Session, briefing: Briefing, editor: str, comment: str = "", *, public: bool = False
) -> Briefing:
    """Take the briefing out of every later edition.

    ``public`` records the withdrawal of a published briefing, which pages show in
    place of its text and the next edition lists with ``comment`` as its note.
    """
    editor = check_editor(editor)
    now = utcnow()
    _apply(session, briefing, Action.WITHDRAW, editor, comment, now)
    if public:
        _add_correction(session, briefing, CorrectionKind.WITHDRAWAL, comment.strip(), editor, now)
    return briefing


def takedown(session: Session, briefing: Briefing, editor: str, reason: str) -> Briefing:
    """Take the briefing's text out of everything served or exported, for good.

    For legal requests: the briefing is withdrawn, can never be approved again, and
    every page and feed that carried it shows only that it was removed. The reason
    is kept in the audit trail, never shown to readers.
    """
    editor = check_editor(editor)
    why = check_note(reason, parameter="reason")
    if briefing.taken_down_at is not None:
        raise TransitionError(
            f"briefing {briefing.slug!r} was already taken down on "
            f"{briefing.taken_down_at:%Y-%m-%d %H:%M} UTC by {briefing.taken_down_by}"
        )
    now = utcnow()
    _apply(session, briefing, Action.TAKEDOWN, editor, why, now)
    briefing.taken_down_at = now
    briefing.taken_down_by = editor
    briefing.takedown_reason = why
    _add_correction(session, briefing, CorrectionKind.TAKEDOWN, why, editor, now)
    return briefing


def expire(session: Session, briefing: Briefing, now: datetime | None = None) -> Briefing:
    """Mark a published briefing expired (its ``Expires:`` time passed); idempotent."""
    if briefing.expired_at is not None:
        return briefing
    now = now or utcnow()
    briefing.expired_at = now
    _record(session, briefing, Action.EXPIRE, briefing.state, "expiry", "Expires: passed", now)
    _add_correction(session, briefing, CorrectionKind.EXPIRY, "", "expiry", now)
    return briefing


def corrections(session: Session, briefing_ids: Sequence[int]) -> list[BriefingCorrection]:
    """The public changes of these briefings, oldest first."""
    if not briefing_ids:
        return []
    return list(
        session.scalars(
            select(BriefingCorrection)
            .where(BriefingCorrection.briefing_id.in_(briefing_ids))
            .order_by(BriefingCorrection.at, BriefingCorrection.id)
        )
    )


def _add_correction(
    session: Session,
    briefing: Briefing,
    kind: CorrectionKind,
    note: str,
    editor: str,
    now: datetime,
) -> None:
    revision = briefing.approved_revision or briefing.latest_revision
    session.add(
        BriefingCorrection(
            briefing_id=briefing.id, kind=kind, revision=revision, note=note, editor=editor, at=now
        )
    )
    session.flush()


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
    elif action in (Action.WITHDRAW, Action.TAKEDOWN):
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
