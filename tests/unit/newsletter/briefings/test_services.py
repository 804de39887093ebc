"""Importing briefings makes revisions only on real change; the workflow is audited."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from newsletter.briefings import services
from newsletter.briefings.models import Briefing, BriefingEvent, BriefingRevision, BriefingState
from newsletter.briefings.services import ImportAction
from newsletter.content.briefing import BriefingContent
from newsletter.db import Database
from newsletter.errors import InvalidInputError, NotFoundError, TransitionError


def content(slug: str = "flood-barrier", **changes: Any) -> BriefingContent:
    """A small valid briefing."""
    fields: dict[str, Any] = {
        "title": "The flood barrier closes early",
        "slug": slug,
        "lede": ("Engineers closed the river barrier two days ahead of the storm.",),
    }
    fields.update(changes)
    return BriefingContent(**fields)


def counts(database: Database) -> tuple[int, int, int]:
    """Rows in briefings, revisions and events."""
    with database.session() as session:
        return tuple(  # type: ignore[return-value]
            session.scalar(select(func.count()).select_from(model))
            for model in (Briefing, BriefingRevision, BriefingEvent)
        )


def test_first_import_creates_a_draft_with_revision_one(any_database: Database) -> None:
    """A new slug creates a draft at revision 1 with a 'create' event."""
    with any_database.session() as session:
        outcome = services.import_content(session, content(), source="a.txt")
    assert outcome.action is ImportAction.CREATED
    assert (outcome.revision, outcome.state, outcome.approved) == (1, BriefingState.DRAFT, False)
    with any_database.session() as session:
        briefing = services.get_briefing(session, "flood-barrier")
        events = services.history(session, briefing)
        assert [(e.action, e.to_state, e.editor) for e in events] == [("create", "draft", "import")]
        assert services.revision(session, briefing).source == "a.txt"


def test_identical_reimport_is_a_no_op(any_database: Database) -> None:
    """Importing the same content again changes nothing at all."""
    with any_database.session() as session:
        services.import_content(session, content())
    before = counts(any_database)
    with any_database.session() as session:
        outcome = services.import_content(session, content())
    assert outcome.action is ImportAction.UNCHANGED
    assert counts(any_database) == before


def test_changed_draft_gets_a_new_revision(database: Database) -> None:
    """Changed content of a draft makes revision 2, still a draft."""
    with database.session() as session:
        services.import_content(session, content())
        outcome = services.import_content(session, content(lede=("Revised first paragraph.",)))
    assert (outcome.action, outcome.revision, outcome.state) == (
        ImportAction.REVISED,
        2,
        BriefingState.DRAFT,
    )


def test_changed_approved_briefing_needs_approval_again(any_database: Database) -> None:
    """A change to an approved briefing waits for approval; the old revision stays live."""
    with any_database.session() as session:
        services.import_content(session, content(), approve_as="Ada")
        outcome = services.import_content(session, content(title="A corrected headline"))
        assert outcome.state is BriefingState.DRAFT
        briefing = services.get_briefing(session, "flood-barrier")
        assert (briefing.latest_revision, briefing.approved_revision) == (2, 1)
        live = services.revision(session, briefing, briefing.approved_revision).parsed()
        assert live.title == "The flood barrier closes early"
        services.approve(session, briefing, "Grace", "checked the correction")
        assert (briefing.state, briefing.approved_revision) == (BriefingState.APPROVED, 2)
        assert briefing.approved_by == "Grace"


def test_import_with_approval_records_the_editor(database: Database) -> None:
    """--approve on import approves at once and records who did it."""
    with database.session() as session:
        outcome = services.import_content(session, content(), approve_as="Ada")
        briefing = services.get_briefing(session, str(outcome.briefing_id))
        events = services.history(session, briefing)
    assert outcome.approved
    assert outcome.state is BriefingState.APPROVED
    assert [(e.action, e.editor) for e in events] == [("create", "import"), ("approve", "Ada")]


def test_reject_then_change_returns_to_draft(database: Database) -> None:
    """A rejected briefing goes back to draft when its content changes."""
    with database.session() as session:
        services.import_content(session, content())
        briefing = services.get_briefing(session, "flood-barrier")
        services.reject(session, briefing, "Ada", "needs a source")
        unchanged = services.import_content(session, content())
        assert unchanged.state is BriefingState.REJECTED
        changed = services.import_content(session, content(source="Reuters"))
        assert changed.state is BriefingState.DRAFT
        trail = [(e.from_state, e.to_state, e.comment) for e in services.history(session, briefing)]
    assert trail[1:] == [("draft", "rejected", "needs a source"), ("rejected", "draft", "")]


def test_withdraw_clears_the_live_revision(database: Database) -> None:
    """Withdrawing takes the approved revision out of later editions."""
    with database.session() as session:
        services.import_content(session, content(), approve_as="Ada")
        briefing = services.withdraw(
            session, services.get_briefing(session, "flood-barrier"), "Ada", "legal hold"
        )
        assert (briefing.state, briefing.approved_revision) == (BriefingState.WITHDRAWN, None)
        with pytest.raises(TransitionError):
            services.approve(session, briefing, "Ada")


def test_approving_needs_an_editor(database: Database) -> None:
    """An empty editor name is refused and nothing changes."""
    with database.session() as session:
        services.import_content(session, content())
    with pytest.raises(InvalidInputError, match="--editor"), database.session() as session:
        services.approve(session, services.get_briefing(session, "flood-barrier"), "  ")
    with database.session() as session:
        assert services.get_briefing(session, "flood-barrier").state is BriefingState.DRAFT
    with pytest.raises(InvalidInputError, match="at most"):
        services.check_editor("x" * 121)


def test_refused_transition_changes_nothing(database: Database) -> None:
    """Rejecting an approved briefing is refused and leaves no event behind."""
    with database.session() as session:
        services.import_content(session, content(), approve_as="Ada")
    before = counts(database)
    with pytest.raises(TransitionError), database.session() as session:
        services.reject(session, services.get_briefing(session, "flood-barrier"), "Ada")
    assert counts(database) == before


def test_many_with_one_slug_and_two_contents_is_refused(database: Database) -> None:
    """Two files claiming one slug with different content import nothing."""
    items = [(content(), "a.txt"), (content(title="Other"), "b.txt")]
    with (
        pytest.raises(
            InvalidInputError, match=r"b\.txt: slug 'flood-barrier' is also used by a\.txt"
        ),
        database.session() as session,
    ):
        services.import_many(session, items)
    assert counts(database) == (0, 0, 0)


def test_many_tolerates_the_same_file_twice(database: Database) -> None:
    """The same briefing named twice is imported once."""
    with database.session() as session:
        outcomes = services.import_many(session, [(content(), "a.txt"), (content(), "a2.txt")])
    assert [o.action for o in outcomes] == [ImportAction.CREATED, ImportAction.UNCHANGED]


def test_lookups_name_what_is_missing(database: Database) -> None:
    """Unknown ids, slugs and revisions raise NotFoundError naming them."""
    with database.session() as session:
        with pytest.raises(NotFoundError, match="'nope'"):
            services.get_briefing(session, "nope")
        with pytest.raises(NotFoundError, match="'42'"):
            services.get_briefing(session, "42")
        services.import_content(session, content())
        briefing = services.get_briefing(session, "flood-barrier")
        with pytest.raises(NotFoundError, match="no revision 7"):
            services.revision(session, briefing, 7)


def test_list_filters_by_state(database: Database) -> None:
    """Listing by state returns only briefings in that state."""
    with database.session() as session:
        services.import_content(session, content("one"), approve_as="Ada")
        services.import_content(session, content("two"))
        approved = services.list_briefings(session, BriefingState.APPROVED)
        everything = services.list_briefings(session)
    assert [b.slug for b in approved] == ["one"]
    assert sorted(b.slug for b in everything) == ["one", "two"]
