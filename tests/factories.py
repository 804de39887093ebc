"""Factories for test data: briefings with revisions, and publications.

They write rows directly (no services), so tests of any feature can set up the
exact state they need, e.g. an approved briefing whose newer draft awaits review.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from newsletter.briefings.models import Briefing, BriefingRevision, BriefingState
from newsletter.content.briefing import BriefingContent
from newsletter.db import Database
from newsletter.editors.models import Role
from newsletter.editors.services import create_editor
from newsletter.publications.models import Publication
from newsletter.publications.services import create_publication
from newsletter.publications.spec import PublicationSpec

# A fixed, timezone-aware moment that tests count from, so results never depend on "now".
T0 = datetime(2026, 3, 2, 5, 0, tzinfo=UTC)


def briefing_content(
    *,
    slug: str,
    title: str | None = None,
    topics: Sequence[str] = (),
    priority: int = 0,
    lede: str | None = None,
    **extra: Any,
) -> BriefingContent:
    """A valid ``BriefingContent`` with sensible defaults for everything not given."""
    return BriefingContent.model_validate(
        {
            "title": title or slug.replace("-", " ").capitalize(),
            "slug": slug,
            "lede": [lede or f"What happened in {slug}."],
            "behind_the_headline": [
                {"heading": "The background", "paragraphs": [f"Context for {slug}."]}
            ],
            "topics": [{"name": name, "description": ""} for name in topics],
            "priority": priority,
            **extra,
        }
    )


def add_revision(session: Session, briefing: Briefing, content: BriefingContent) -> int:
    """Append a revision to a briefing and return its number (state is left to the caller)."""
    number = briefing.latest_revision + 1
    revision = BriefingRevision(
        number=number,
        title=content.title,
        content=content.model_dump(mode="json"),
        content_hash=content.content_hash(),
    )
    briefing.revisions.append(revision)
    briefing.latest_revision = number
    session.flush()
    return number


def make_briefing(
    session: Session,
    *,
    slug: str,
    title: str | None = None,
    topics: Sequence[str] = (),
    priority: int = 0,
    approved_at: datetime | None = T0,
    state: BriefingState = BriefingState.APPROVED,
    approved_revision: int | None = 1,
    revisions: int = 1,
    approved_by: str = "Test Editor",
    **extra: Any,
) -> Briefing:
    """Insert a briefing with ``revisions`` revisions; the first is approved by default.

    Pass ``state=DRAFT`` with ``revisions=2`` for an approved briefing whose newer
    revision awaits re-approval, or ``approved_revision=None`` for a plain draft.
    """
    if state is BriefingState.DRAFT and revisions == 1 and approved_revision == 1:
        approved_revision = None
    briefing = Briefing(slug=slug, state=state, latest_revision=0)
    session.add(briefing)
    for number in range(1, revisions + 1):
        suffix = "" if number == 1 else f" (revision {number})"
        heading = (title or slug.replace("-", " ").capitalize()) + suffix
        content = briefing_content(
            slug=slug, title=heading, topics=topics, priority=priority, **extra
        )
        add_revision(session, briefing, content)
    if approved_revision is not None:
        briefing.approved_revision = approved_revision
        briefing.approved_at = approved_at
        briefing.approved_by = approved_by
    session.flush()
    return briefing


def make_briefings(session: Session, count: int, **overrides: Any) -> list[Briefing]:
    """``count`` approved briefings approved one minute apart, slugs ``story-1`` ..."""
    start: datetime = overrides.pop("approved_at", T0)
    return [
        make_briefing(
            session,
            slug=f"story-{index}",
            approved_at=start + timedelta(minutes=index),
            **overrides,
        )
        for index in range(1, count + 1)
    ]


def publication_values(**overrides: Any) -> dict[str, Any]:
    """The values of a valid publication (as a TOML table or CLI would give them)."""
    values: dict[str, Any] = {
        "slug": "morning",
        "name": "The Morning Test",
        "tagline": "Tested before breakfast.",
        "from_name": "The Morning Test",
        "from_email": "morning@example.org",
        "reply_to": "editors@example.org",
        "base_url": "https://news.example.org",
        "postal_address": "1 Test Street, Testville",
        "timezone": "UTC",
        "send_time": "07:00",
        "weekdays": ["mon", "tue", "wed", "thu", "fri"],
        "max_briefings": 10,
        "topics": [],
        "accent_color": "#1a56db",
        "logo_url": "",
    }
    values.update(overrides)
    return values


def make_publication(session: Session, **overrides: Any) -> Publication:
    """Insert a valid publication (through its spec, so it obeys the same rules)."""
    return create_publication(
        session, PublicationSpec.model_validate(publication_values(**overrides))
    )


def make_editors(database: Database, *names: str, role: Role = Role.EDITOR) -> None:
    """Editor accounts (no password) for commands whose ``--editor`` must name one."""
    with database.session() as session:
        for name in names:
            email = f"{name.lower().replace(' ', '.')}@example.org"
            create_editor(session, name, email, role)
