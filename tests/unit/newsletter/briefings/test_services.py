"""Importing briefings makes revisions only on real change; the workflow is audited."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from newsletter.briefings import services
from newsletter.briefings.models import Briefing, BriefingEvent, BriefingRevision, BriefingState
from newsletter.briefings.parser import parse_bytes
from newsletter.briefings.services import ImportAction
from newsletter.content.briefing import BriefingContent
from newsletter.db import Database
from newsletter.errors import InvalidInputError, NotFoundError, TransitionError
from tests.factories import make_briefing


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
        with pytest.raises(NotFoundError, match="no briefing with id 42"):
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


@pytest.mark.parametrize("slug", ["2", "0", "2024"])
def test_a_slug_is_never_all_digits(slug: str) -> None:
    """An all-digit slug would read as an id (issue 17 B5): refused on every way in."""
    with pytest.raises(ValidationError, match="slug"):
        content(slug=slug)
    with pytest.raises(InvalidInputError, match="not all digits"):
        parse_bytes(
            f"Title: The 2024 budget\nSlug: {slug}\n\nWhat's happened\nIt passed.\n".encode(),
            filename="b.txt",
        )
    with pytest.raises(InvalidInputError, match=r"b\.json: \$\.slug"):
        parse_bytes(
            json.dumps({"slug": slug, "title": "Budget", "lede": ["It passed."]}).encode(),
            filename="b.json",
        )
    derived = parse_bytes(b"Title: 2024\n\nWhat's happened\nIt passed.\n", filename="t.txt")
    assert derived.slug == "briefing-2024"


def test_lookups_say_which_briefing_they_mean(any_database: Database) -> None:
    """Digits are an id; a legacy all-digit slug that is another's id is refused, not guessed."""
    with any_database.session() as session:
        first = make_briefing(session, slug="first")
        legacy = make_briefing(session, slug="legacy")
        session.flush()
        legacy.slug = str(first.id)  # an all-digit slug made before the rule
        first_id, legacy_id = first.id, legacy.id
    with any_database.session() as session:
        assert services.get_briefing(session, "first").id == first_id
        assert services.get_briefing(session, str(legacy_id)).id == legacy_id
        with pytest.raises(InvalidInputError, match="name the one you mean"):
            services.get_briefing(session, str(first_id))
        for missing in ("0", "99999999999999999999999", "9223372036854775808", "²", "nope"):
            with pytest.raises(NotFoundError, match="no briefing with"):
                services.get_briefing(session, missing)
