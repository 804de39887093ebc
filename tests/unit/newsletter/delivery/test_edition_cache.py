"""Batches of one edition share its message, built once per process, and never a stale one."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from newsletter.db import Database
from newsletter.delivery.compose import Personaliser, edition_message
from newsletter.delivery.edition_cache import EditionCache, editions_of
from newsletter.delivery.services import Edition, load_edition
from newsletter.digests.models import Digest
from newsletter.digests.services import get_digest
from newsletter.errors import InvalidInputError, NotFoundError
from subscribers.tokens import Tokens
from tests.unit.newsletter.delivery.dispatch_factories import (
    BASE_URL,
    NOW,
    rendered_digest,
    tokens,
)


def fresh(database: Database, digest_id: int, maker: Tokens) -> Edition:
    """The edition built from scratch, as it was before any cache."""
    with database.session() as session:
        digest = get_digest(session, digest_id)
        message = edition_message(digest)
        personaliser = Personaliser.for_digest(digest, message, base_url=BASE_URL, tokens=maker)
    return Edition(digest_id, message, personaliser)


def test_batches_of_one_edition_share_what_was_built(database: Database) -> None:
    """A second batch reuses the first one's message and personaliser, with its own instant."""
    with database.session() as session:
        digest_id, _ = rendered_digest(session)
    maker = tokens()
    first = load_edition(database, digest_id, base_url=BASE_URL, tokens=maker)
    second = load_edition(database, digest_id, base_url=BASE_URL, tokens=maker, deliver_at=NOW)
    assert second.message is first.message
    assert second.personaliser is first.personaliser
    assert (first.deliver_at, second.deliver_at) == (None, NOW)
    expected = fresh(database, digest_id, maker)
    assert (first.message, first.personaliser) == (expected.message, expected.personaliser)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("from_email", "desk@changed.example"),
        ("from_name", "Changed Desk"),
        ("reply_to", "letters@changed.example"),
        ("slug", "changed"),
        ("base_url", "https://changed.example"),
        ("track_opens", True),
        ("track_clicks", True),
    ],
)
def test_an_editors_change_reaches_the_next_batch(
    database: Database, field: str, value: Any
) -> None:
    """A publication setting changed mid-send is in the very next batch's message or links."""
    with database.session() as session:
        digest_id, _ = rendered_digest(session)
    maker = tokens()
    before = load_edition(database, digest_id, base_url=BASE_URL, tokens=maker)
    with database.session() as session:
        publication = get_digest(session, digest_id).publication
        assert getattr(publication, field) != value
        setattr(publication, field, value)
    after = load_edition(database, digest_id, base_url=BASE_URL, tokens=maker)
    expected = fresh(database, digest_id, maker)
    assert (after.message, after.personaliser) == (expected.message, expected.personaliser)
    assert (after.message, after.personaliser) != (before.message, before.personaliser)


def test_a_new_rendering_is_never_served_stale(database: Database) -> None:
    """Content written with a new rendering instant replaces the kept message."""
    with database.session() as session:
        digest_id, _ = rendered_digest(session)
    maker = tokens()
    before = load_edition(database, digest_id, base_url=BASE_URL, tokens=maker)
    with database.session() as session:
        digest = get_digest(session, digest_id)
        assert digest.rendered_at is not None
        digest.html = "<p>Rendered again</p>"
        digest.rendered_at = digest.rendered_at + timedelta(seconds=1)
    after = load_edition(database, digest_id, base_url=BASE_URL, tokens=maker)
    assert after.message.html == "<p>Rendered again</p>" != before.message.html


def test_other_links_tokens_or_database_build_their_own(database: Database) -> None:
    """Another base URL, token maker or database never gets this one's personaliser."""
    with database.session() as session:
        digest_id, _ = rendered_digest(session)
    maker = tokens()
    first = load_edition(database, digest_id, base_url=BASE_URL, tokens=maker)
    other_url = load_edition(database, digest_id, base_url="https://other.example", tokens=maker)
    other_maker = load_edition(database, digest_id, base_url=BASE_URL, tokens=tokens())
    assert other_url.personaliser.links.base_url == "https://other.example"
    assert other_maker.personaliser.links.tokens is not maker
    assert other_maker.personaliser is not first.personaliser
    assert editions_of(database) is editions_of(database)
    elsewhere = Database("sqlite://")
    try:
        assert editions_of(elsewhere) is not editions_of(database)
    finally:
        elsewhere.dispose()


def test_unknown_or_unrendered_digest_is_refused_and_not_kept(database: Database) -> None:
    """An unknown digest is not found; an unrendered one is refused, then built once rendered."""
    with database.session() as session:
        digest_id, _ = rendered_digest(session)
        html = get_digest(session, digest_id).html
    with pytest.raises(NotFoundError, match="unknown digest 999"):
        load_edition(database, 999, base_url=BASE_URL, tokens=tokens())
    with database.session() as session:
        session.get(Digest, digest_id).html = None  # type: ignore[union-attr]
    maker = tokens()
    with pytest.raises(InvalidInputError, match="not rendered yet"):
        load_edition(database, digest_id, base_url=BASE_URL, tokens=maker)
    with database.session() as session:
        session.get(Digest, digest_id).html = html  # type: ignore[union-attr]
    assert load_edition(database, digest_id, base_url=BASE_URL, tokens=maker).message.html == html


def test_only_the_last_few_editions_are_kept(database: Database) -> None:
    """Past its size the cache forgets the edition used longest ago, and builds it again."""
    with database.session() as session:
        digest_id, _ = rendered_digest(session)
    cache = EditionCache(size=2)
    maker = tokens()

    def shared(base_url: str) -> Personaliser:
        with database.session() as session:
            return cache.shared(session, digest_id, base_url=base_url, tokens=maker)[1]

    a, b = shared("https://a.example"), shared("https://b.example")
    assert shared("https://a.example") is a  # now used last: b is the oldest
    shared("https://c.example")
    assert shared("https://a.example") is a
    assert shared("https://b.example") is not b
    cache.clear()
    assert shared("https://a.example") is not a
