"""Publication services: create, edit, load (all or nothing, upsert by slug), look up."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from newsletter.db import Database
from newsletter.errors import InvalidInputError, NotFoundError
from newsletter.publications import services
from newsletter.publications.models import Publication
from newsletter.publications.spec import PublicationSpec
from tests.factories import make_publication, publication_values

TABLE = """
[[publication]]
slug = "{slug}"
name = "{name}"
from_email = "{slug}@example.org"
base_url = "https://{slug}.example.org"
postal_address = "1 Road"
topics = ["Science"]
"""


def count(database: Database) -> int:
    """How many publications are stored."""
    with database.session() as session:
        return int(session.scalar(select(func.count()).select_from(Publication)) or 0)


def test_create_stores_every_field(any_database: Database) -> None:
    """A created publication stores the spec's values; the sender name defaults to the name."""
    values = publication_values(from_name="", topics=["Science"], send_time="06:45")
    with any_database.session() as session:
        services.create_publication(session, PublicationSpec.model_validate(values))
    with any_database.session() as session:
        stored = services.get_publication(session, "morning")
        assert stored.from_name == "The Morning Test"
        assert stored.topics == ["Science"]
        assert stored.send_time == time(6, 45)
        assert stored.weekdays == ["mon", "tue", "wed", "thu", "fri"]


def test_create_refuses_an_existing_slug(database: Database) -> None:
    """Adding a slug that exists is refused with a hint to edit."""
    with database.session() as session:
        make_publication(session)
        with pytest.raises(InvalidInputError, match="'morning' already exists"):
            make_publication(session)


def test_unknown_slug_is_not_found(database: Database) -> None:
    """Looking up or editing an unknown slug raises NotFoundError naming it."""
    with database.session() as session:
        with pytest.raises(NotFoundError, match="unknown publication 'nope'"):
            services.get_publication(session, "nope")
        with pytest.raises(NotFoundError):
            services.edit_publication(session, "nope", {"name": "x"})


def test_edit_validates_the_result_as_a_whole(database: Database) -> None:
    """Edits change only the given fields, and an invalid value changes nothing."""
    with database.session() as session:
        make_publication(session)
    with database.session() as session:
        services.edit_publication(session, "morning", {"max_briefings": 3, "topics": ["Arts"]})
    with (
        database.session() as session,
        pytest.raises(InvalidInputError, match="publication 'morning': timezone: unknown"),
    ):
        services.edit_publication(session, "morning", {"timezone": "Nowhere/City"})
    with database.session() as session:
        stored = services.get_publication(session, "morning")
        assert (stored.max_briefings, stored.topics, stored.timezone) == (3, ["Arts"], "UTC")
        assert stored.name == "The Morning Test"


def test_edit_can_rename_but_not_onto_a_taken_slug(database: Database) -> None:
    """A slug may change, but not to one another publication uses."""
    with database.session() as session:
        make_publication(session)
        make_publication(session, slug="evening")
        with pytest.raises(InvalidInputError, match="slug 'evening' is taken"):
            services.edit_publication(session, "morning", {"slug": "evening"})
        services.edit_publication(session, "morning", {"slug": "dawn"})
        assert [p.slug for p in services.list_publications(session)] == ["dawn", "evening"]


def test_load_creates_updates_and_reports(database: Database, tmp_path: Path) -> None:
    """Loading creates new slugs, updates changed ones and leaves identical ones alone."""
    path = tmp_path / "pubs.toml"
    path.write_text(TABLE.format(slug="one", name="One") + TABLE.format(slug="two", name="Two"))
    with database.session() as session:
        first = services.load_publications(session, path)
    assert [(o.slug, o.action) for o in first] == [("one", "created"), ("two", "created")]
    path.write_text(TABLE.format(slug="one", name="One") + TABLE.format(slug="two", name="2"))
    with database.session() as session:
        second = services.load_publications(session, path)
    assert [(o.slug, o.action) for o in second] == [("one", "unchanged"), ("two", "updated")]
    with database.session() as session:
        assert services.get_publication(session, "two").name == "2"


def test_load_is_all_or_nothing(database: Database, tmp_path: Path) -> None:
    """One bad table means no publication from the file is written."""
    path = tmp_path / "pubs.toml"
    bad = TABLE.format(slug="two", name="Two").replace("1 Road", "")
    path.write_text(TABLE.format(slug="one", name="One") + bad)
    with database.session() as session, pytest.raises(InvalidInputError, match="#2"):
        services.load_publications(session, path)
    assert count(database) == 0


def test_info_and_summary_reflect_the_row(database: Database) -> None:
    """The renderer's PublicationInfo and the JSON summary come from the stored row."""
    with database.session() as session:
        publication = make_publication(session, logo_url="https://cdn.example.org/l.png")
        info = services.publication_info(publication)
        summary = services.publication_summary(publication)
    assert info.slug == "morning"
    assert info.base_url == "https://news.example.org"
    assert info.logo_url == "https://cdn.example.org/l.png"
    assert info.postal_address == "1 Test Street, Testville"
    assert summary["send_time"] == "07:00"
    assert summary["weekdays"] == ["mon", "tue", "wed", "thu", "fri"]
    assert summary["paused"] is False
