"""List management: extra lists per publication, opt-in mode, and the overview with counts."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from newsletter.db import Database
from newsletter.errors import InvalidInputError, NotFoundError
from subscribers import lists
from subscribers.models import MailingList
from tests.unit.subscribers.factories import make_publication, seed, signup


def test_add_list_creates_the_default_list_too_and_refuses_duplicates(database: Database) -> None:
    """An extra list sits beside the publication's default list; its slug must be new."""
    seed(database)
    with database.session() as session:
        extra = lists.add_list(
            session, "daily", "daily-sport", " Sport  news ", double_opt_in=False
        )
        assert (extra.name, extra.double_opt_in) == ("Sport news", False)
    with database.session() as session, pytest.raises(InvalidInputError, match="already exists"):
        lists.add_list(session, "daily", "daily-sport", "Again")


def test_a_list_may_not_take_another_publications_slug(database: Database) -> None:
    """A list named like another publication would hide that publication's default list."""
    with database.session() as session:
        make_publication(session, "daily")
        make_publication(session, "evening")
    with (
        database.session() as session,
        pytest.raises(InvalidInputError, match="another publication"),
    ):
        lists.add_list(session, "daily", "evening", "Evening extra")
    with database.session() as session, pytest.raises(NotFoundError, match="--publication"):
        lists.add_list(session, "weekly", "weekly-extra", "Extra")


def test_overview_counts_confirmed_and_pending_per_list(database: Database) -> None:
    """all_lists shows every publication's default list, even before first use, with counts."""
    seed(database)
    with database.session() as session:
        make_publication(session, "evening")
        signup(session, "ann@example.org")
        lists.set_double_opt_in(session, "daily", False)
        signup(session, "bob@example.org")
    with database.session() as session:
        found = {info.slug: info for info in lists.all_lists(session)}
    assert set(found) == {"daily", "evening"}
    assert (found["daily"].pending, found["daily"].confirmed) == (1, 1)
    assert found["daily"].double_opt_in is False
    assert (
        found["evening"].pending,
        found["evening"].confirmed,
        found["evening"].double_opt_in,
    ) == (0, 0, True)


def test_overview_is_a_pure_read(database: Database) -> None:
    """all_lists shows a default list not created yet but creates nothing itself."""
    with database.session() as session:
        make_publication(session, "daily")
    with database.session() as session:
        [info] = lists.all_lists(session)
        assert (info.slug, info.publication, info.double_opt_in) == ("daily", "daily", True)
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(MailingList)) == 0


def test_list_info_counts_one_list(database: Database) -> None:
    """list_info gives one stored list's counts; a list not stored is NotFoundError."""
    seed(database)
    with database.session() as session:
        make_publication(session, "evening")
        signup(session, "ann@example.org")
        signup(session, "bob@example.org", slug="evening")
    with database.session() as session:
        info = lists.list_info(session, "daily")
        assert (info.slug, info.pending, info.confirmed) == ("daily", 1, 0)
        with pytest.raises(NotFoundError, match="'nowhere'"):
            lists.list_info(session, "nowhere")
