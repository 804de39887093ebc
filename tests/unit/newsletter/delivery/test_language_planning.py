"""Planning per language: each reader gets the publication's language their locale picks,
each (selection, language) is rendered once, never per reader, and the database's bulk
path and the Python pass put every reader in the same cell."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.db import Database
from newsletter.delivery import ledger, roster
from newsletter.delivery.models import Delivery, SendBatch
from newsletter.delivery.report import delivery_report
from newsletter.digests.models import Digest, DigestVariant
from newsletter.digests.services import assemble_digest, render_digest
from newsletter.digests.variant_pages import variant_html
from newsletter.digests.variants import split_key
from subscribers.models import Subscriber, Subscription, SubscriptionState
from subscribers.services import ensure_default_list
from tests.factories import T0, make_briefing, make_publication

DAY = date(2026, 3, 30)
NOW = T0 + timedelta(hours=2)
# (name, locale as stored, topics) -> the language they must get from an en+de publication.
READERS = {
    ("ann", "", ()): "en",  # never chose: the default
    ("bob", "de", ()): "de",
    ("cai", "de-AT", ()): "de",  # base language offered
    ("dee", "fr", ()): "en",  # not offered: the default
    ("eve", "en-GB", ()): "en",
    ("fay", "de", ("Climate",)): "de",
    ("gus", "", ("Climate",)): "en",
    ("hal", "DE", ("Science",)): "de",  # stored before tags were checked
}


def _edition(session: Session) -> tuple[Digest, int]:
    publication = make_publication(session, language="en", languages=["en", "de"])
    for index, topics in enumerate((["Climate"], ["Energy"], ["Science"]), start=1):
        make_briefing(
            session, slug=f"story-{index}", topics=topics, approved_at=T0 + timedelta(minutes=index)
        )
    digest = assemble_digest(session, publication, DAY, now=T0 + timedelta(hours=1)).digest
    render_digest(session, digest.id)
    list_id = ensure_default_list(session, publication).id
    for name, locale, topics in READERS:
        subscriber = Subscriber(email=f"{name}@example.org", name=name, locale=locale)
        session.add(subscriber)
        session.flush()
        session.add(
            Subscription(
                subscriber_id=subscriber.id,
                list_id=list_id,
                state=SubscriptionState.CONFIRMED,
                topics=list(topics),
            )
        )
    session.flush()
    return digest, list_id


def _languages(database: Database, digest_id: int) -> dict[str, tuple[str, str | None]]:
    """Each reader's (language, variant key) as their batch records it."""
    with database.session() as session:
        rows = session.execute(
            select(Subscriber.name, DigestVariant.language, DigestVariant.key)
            .join(Delivery, Delivery.subscriber_id == Subscriber.id)
            .join(SendBatch, SendBatch.id == Delivery.batch_id)
            .outerjoin(DigestVariant, DigestVariant.id == SendBatch.variant_id)
            .where(Delivery.digest_id == digest_id)
        ).all()
    return {name: (language or "en", key) for name, language, key in rows}


@pytest.mark.parametrize("path", ["bulk", "python"])
def test_each_reader_gets_their_language_rendered_once_per_selection(
    any_database: Database, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    """Both planning paths give each reader the language their locale picks; the edition is
    rendered once per (selection, language): the digest (all, en) and three variants."""
    if path == "python":
        monkeypatch.setattr(roster, "bulk_groups", lambda *args: [])
    with any_database.session() as session:
        digest, _ = _edition(session)
        digest_id = digest.id
    with any_database.session() as session:
        result = ledger.plan_dispatch(session, digest_id, now=NOW)
    assert (result.queued, result.skipped) == (len(READERS), {})
    got = _languages(any_database, digest_id)
    assert {name: got[name][0] for name, _, _ in READERS} == {
        name: language for (name, _, _), language in READERS.items()
    }
    assert got["ann"] == ("en", None)  # the full edition, no variant
    assert got["bob"] == got["cai"] == ("de", "1.2.3-de")
    assert got["fay"] == ("de", "1-de")
    assert got["gus"] == ("en", "1")
    assert got["hal"] == ("de", "3-de")
    with any_database.session() as session:
        variants = session.execute(
            select(DigestVariant.key, DigestVariant.language, DigestVariant.html).where(
                DigestVariant.digest_id == digest_id
            )
        ).all()
        report = delivery_report(session, digest_id)
    assert sorted((key, language) for key, language, _ in variants) == [
        ("1", "en"),
        ("1-de", "de"),
        ("1.2.3-de", "de"),
        ("3-de", "de"),
    ]
    for key, language, html in variants:
        assert f'lang="{language}"' in html, key
    assert report.by_language == {
        "en": {"readers": 4, "sent": 0, "failed": 0},
        "de": {"readers": 4, "sent": 0, "failed": 0},
    }
    assert [row.language for row in report.variants][:2] == ["en", "en"]


def test_a_second_pass_reuses_each_language_variant(any_database: Database) -> None:
    """A reader who joins later in an already rendered language renders nothing new."""
    with any_database.session() as session:
        digest, list_id = _edition(session)
        digest_id = digest.id
    with any_database.session() as session:
        ledger.plan_dispatch(session, digest_id, now=NOW)
    with any_database.session() as session:
        subscriber = Subscriber(email="ida@example.org", name="ida", locale="de")
        session.add(subscriber)
        session.flush()
        session.add(
            Subscription(
                subscriber_id=subscriber.id, list_id=list_id, state=SubscriptionState.CONFIRMED
            )
        )
    with any_database.session() as session:
        again = ledger.plan_dispatch(session, digest_id, now=NOW)
        count = len(
            session.scalars(
                select(DigestVariant.id).where(DigestVariant.digest_id == digest_id)
            ).all()
        )
    assert again.queued == 1
    assert count == 4
    assert _languages(any_database, digest_id)["ida"] == ("de", "1.2.3-de")
    # "View in browser" of the German copy: the page in German.
    with any_database.session() as session:
        session.get(Digest, digest_id).published_at = NOW  # type: ignore[union-attr]
    with any_database.session() as session:
        german = variant_html(session, "morning", DAY, "1.2.3-de")
        english = variant_html(session, "morning", DAY, "1")
    assert '<html lang="de"' in german
    assert '<html lang="en"' in english


@pytest.mark.parametrize(
    ("key", "parsed"),
    [("3.1", ((3, 1), "")), ("3.1-de", ((3, 1), "de")), ("1.2-pt-BR", ((1, 2), "pt-BR"))],
)
def test_variant_keys_carry_the_language(key: str, parsed: tuple[tuple[int, ...], str]) -> None:
    """A key names its positions and, unless the default, its language."""
    assert split_key(key) == parsed


@pytest.mark.parametrize("key", ["3.1-DE", "3.1-xx", "3.1-", "-de", "03.1", "3.1-de-", ""])
def test_a_malformed_or_unknown_language_key_is_refused(key: str) -> None:
    """Only one spelling per page: a tag not canonical, unknown or empty is no key."""
    with pytest.raises(ValueError, match="is not a variant key"):
        split_key(key)
