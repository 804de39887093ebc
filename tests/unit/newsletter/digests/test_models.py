"""The digest state machine: every allowed move works, every other move is refused."""

from __future__ import annotations

import itertools
from datetime import date

import pytest
from sqlalchemy.exc import IntegrityError

from newsletter.db import Database
from newsletter.digests.models import (
    RENDERED_STATES,
    TRANSITIONS,
    Digest,
    DigestItem,
    DigestState,
    can_transition,
    transition,
)
from newsletter.errors import TransitionError
from newsletter.publications.models import Publication
from tests.factories import T0, make_briefing, make_publication

S = DigestState

ALLOWED = {
    (S.ASSEMBLED, S.RENDERED),
    (S.ASSEMBLED, S.MISSED),
    (S.ASSEMBLED, S.CANCELLED),
    (S.RENDERED, S.PUBLISHED),
    (S.RENDERED, S.SENDING),
    (S.RENDERED, S.MISSED),
    (S.RENDERED, S.CANCELLED),
    (S.PUBLISHED, S.SENDING),
    (S.PUBLISHED, S.MISSED),
    (S.PUBLISHED, S.CANCELLED),
    (S.SENDING, S.SENT),
    (S.SENDING, S.PARTIALLY_FAILED),
    (S.SENDING, S.FAILED),
    (S.SENT, S.SENDING),
    (S.PARTIALLY_FAILED, S.SENDING),
    (S.FAILED, S.SENDING),
}
ALL_PAIRS = list(itertools.product(DigestState, repeat=2))


def digest_in(state: DigestState) -> Digest:
    """An unsaved digest in ``state``, attached to an unsaved publication."""
    publication = Publication(slug="morning")
    return Digest(id=7, publication=publication, edition_date=date(2026, 3, 2), state=state)


def test_table_is_exactly_the_specified_moves() -> None:
    """The transition table allows exactly the moves this test lists, and covers every state."""
    assert set(TRANSITIONS) == set(DigestState)
    table = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}
    assert table == ALLOWED


@pytest.mark.parametrize(("current", "to"), sorted(ALLOWED))
def test_allowed_transitions_change_the_state(current: DigestState, to: DigestState) -> None:
    """An allowed move sets the new state."""
    digest = digest_in(current)
    transition(digest, to)
    assert digest.state is to


@pytest.mark.parametrize(("current", "to"), [p for p in ALL_PAIRS if p not in ALLOWED])
def test_refused_transitions_raise_and_change_nothing(
    current: DigestState, to: DigestState
) -> None:
    """A move outside the table raises TransitionError naming both states, state unchanged."""
    digest = digest_in(current)
    assert not can_transition(current, to)
    with pytest.raises(TransitionError) as caught:
        transition(digest, to)
    assert str(caught.value) == (
        f"digest 7 (morning 2026-03-02) cannot go from {current.value} to {to.value}"
    )
    assert digest.state is current


def test_final_states_have_no_way_out() -> None:
    """Skipped, missed and cancelled editions are final; a sent one reopens only to send a
    late reader's copy (same-day catch-up)."""
    for state in (S.SKIPPED, S.MISSED, S.CANCELLED):
        assert TRANSITIONS[state] == frozenset()
    assert TRANSITIONS[S.SENT] == frozenset({S.SENDING})


def test_rendered_states_are_those_reachable_from_rendered() -> None:
    """The 'has been rendered' states are rendered and everything a send can reach."""
    expected = {S.RENDERED, S.PUBLISHED, S.SENDING, S.SENT, S.PARTIALLY_FAILED, S.FAILED}
    assert expected == RENDERED_STATES


def _item(digest: Digest, briefing_id: int, position: int) -> DigestItem:
    return DigestItem(
        digest=digest,
        publication_id=digest.publication_id,
        briefing_id=briefing_id,
        revision=1,
        position=position,
        approved_at=T0,
        title="t",
        content={},
    )


def test_one_briefing_per_publication_is_enforced_by_the_database(database: Database) -> None:
    """The database refuses the same briefing in two editions of one publication."""
    with database.session() as session:
        publication = make_publication(session)
        briefing = make_briefing(session, slug="once")
        first = Digest(publication=publication, edition_date=date(2026, 3, 2), cutoff_at=T0)
        second = Digest(publication=publication, edition_date=date(2026, 3, 3), cutoff_at=T0)
        session.add_all([first, second])
        session.flush()
        session.add(_item(first, briefing.id, 1))
        session.flush()
        session.add(_item(second, briefing.id, 1))
        with pytest.raises(IntegrityError):
            session.flush()
        session.rollback()


def test_one_digest_per_publication_and_date(database: Database) -> None:
    """The database refuses a second digest for the same publication and date."""
    with database.session() as session:
        publication = make_publication(session)
        day = date(2026, 3, 2)
        session.add(Digest(publication=publication, edition_date=day, cutoff_at=T0))
        session.flush()
        session.add(Digest(publication=publication, edition_date=day, cutoff_at=T0))
        with pytest.raises(IntegrityError):
            session.flush()
        session.rollback()
