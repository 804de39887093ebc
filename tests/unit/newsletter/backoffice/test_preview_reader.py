"""The preview as one reader gets it: their topics, their zone, their cadence."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from newsletter.backoffice.previews import (
    ReaderChoice,
    preview_for,
    read_choice,
    reader_timing,
)
from newsletter.content.edition import Cadence
from newsletter.db import Database, utcnow
from newsletter.digests.models import Digest, DigestVariant
from newsletter.editors.models import Role
from newsletter.errors import InvalidInputError
from newsletter.publications.models import Publication, TopicMode
from newsletter.publications.services import get_publication
from tests.factories import make_briefing, make_publication
from tests.unit.newsletter.delivery.dispatch_factories import tokens
from tests.unit.newsletter.delivery.variant_factories import (
    DAY,
    STORIES,
    published_edition,
    variant_of,
)

SignIn = Callable[[Role], str]
EVERY_DAY = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _upcoming(db: Database, **settings: object) -> None:
    """A publication sending every day, offering the four stories' topics, the stories
    approved two hours ago, not assembled."""
    offered = sorted({topic for _, _, topics in STORIES for topic in topics})
    with db.session() as session:
        publication = make_publication(session, weekdays=EVERY_DAY, topics=offered)
        for name, value in settings.items():
            setattr(publication, name, value)
        for number, (slug, title, topics) in enumerate(STORIES):
            make_briefing(
                session,
                slug=slug,
                title=title,
                topics=list(topics),
                approved_at=utcnow() - timedelta(hours=2) + timedelta(minutes=number),
            )


def _frame(page: str) -> str:
    """The email in the 800 px frame, unescaped."""
    match = re.search(r'title="Email at 800 pixels"[^>]*srcdoc="([^"]*)"', page)
    assert match, "no email frame"
    return html.unescape(match.group(1))


def _stored(db: Database) -> tuple[int, int]:
    with db.session() as session:
        digests = session.scalar(select(func.count()).select_from(Digest)) or 0
        variants = session.scalar(select(func.count()).select_from(DigestVariant)) or 0
    return digests, variants


def test_a_readers_topics_select_their_briefings_and_nothing_is_frozen(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """Ticking Climate shows only the Climate briefings, their variant key and web page."""
    _upcoming(db)
    signed_in(Role.EDITOR)
    page = client.get("/editor/preview?publication=morning&topics=climate")
    assert page.status_code == 200, page.text
    email = _frame(page.text)
    assert "Heat record in the south" in email
    assert "New rules for chip makers" in email
    assert "Tram line vote" not in email
    assert "2 of the 4 briefings" in page.text
    key = re.search(r'<span class="chip" title="Positions[^"]*">([0-9.]+)</span>', page.text)
    assert key is not None
    assert f"/for/{key.group(1)}/" in page.text  # the view-in-browser link
    assert f"/for/{key.group(1)}/" in email
    assert 'value="Climate" checked' in page.text
    assert 'value="Harbour &amp; Docks">' in page.text  # escaped, not ticked
    assert _stored(db) == (0, 0)

    everything = client.get("/editor/preview?publication=morning").text
    assert "Tram line vote" in _frame(everything)
    assert "The full edition" in everything
    assert "every topic" in everything


def test_a_reader_whose_topics_match_nothing_gets_nothing(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """A topic the publication offers but no briefing carries: the reader is left out."""
    _upcoming(db, topics=["Climate", "Transport", "Sport"])
    signed_in(Role.EDITOR)
    page = client.get("/editor/preview?publication=morning&topics=Sport")
    assert page.status_code == 200
    assert "none of this edition’s briefings is on Sport" in page.text
    assert "no_matching_topic" in page.text
    assert "Email at 800 pixels" not in page.text


def test_topics_first_keeps_every_briefing_in_the_readers_order(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """With topic mode "first" the reader's briefings lead and the rest follow."""
    _upcoming(db, topic_mode=TopicMode.FIRST)
    signed_in(Role.EDITOR)
    email = _frame(client.get("/editor/preview?publication=morning&topics=Transport").text)
    tram, heat = email.index("Tram line vote tonight"), email.index("Heat record in the south")
    assert tram < heat


@pytest.mark.parametrize("local", [True, False])
def test_the_readers_zone_gives_the_delivery_instant(db: Database, local: bool) -> None:
    """Local delivery: 07:00 on the reader's clock; otherwise the publication's instant."""
    with db.session() as session:
        published_edition(session, local_delivery=local)
    with db.session() as session:
        publication = get_publication(session, "morning")
        choice = read_choice(session, publication, timezone="Asia/Tokyo")
        view = preview_for(
            session, publication, tokens(), choice, now=datetime(2026, 3, 2, 8, tzinfo=UTC)
        )
    assert view.edition_date == date(2026, 3, 3)
    assert view.timing is not None
    assert view.timing.zone == "Asia/Tokyo"
    if local:
        assert view.timing.deliver_at == datetime(2026, 3, 2, 22, tzinfo=UTC)
    else:
        assert view.timing.deliver_at == datetime(2026, 3, 3, 7, tzinfo=UTC)


def test_arrival_follows_daylight_saving_in_the_readers_zone(db: Database) -> None:
    """07:00 in New York is 12:00 UTC before the clocks change on 8 March 2026, 11:00 after."""
    with db.session() as session:
        publication = make_publication(session, timezone="Europe/London")
        publication.local_delivery = True
        publication.send_time = time(7, 0)
        before = reader_timing(publication, date(2026, 3, 7), "America/New_York")
        after = reader_timing(publication, date(2026, 3, 9), "America/New_York")
        own = reader_timing(publication, date(2026, 3, 30), None)
    assert before.deliver_at == datetime(2026, 3, 7, 12, tzinfo=UTC)
    assert after.deliver_at == datetime(2026, 3, 9, 11, tzinfo=UTC)
    assert (after.local.hour, after.local.minute) == (7, 0)
    assert (own.zone, own.deliver_at) == ("Europe/London", datetime(2026, 3, 30, 6, tzinfo=UTC))


def test_a_frozen_edition_shows_the_stored_variant(db: Database) -> None:
    """Once planning rendered a variant, the preview shows that very email."""
    with db.session() as session:
        published = published_edition(session)
    with db.session() as session:
        publication = get_publication(session, "morning")
        view = preview_for(
            session,
            publication,
            tokens(),
            ReaderChoice(topics=("Climate",)),
            now=datetime(2026, 3, 2, 6, tzinfo=UTC),
        )
        stored = variant_of(session, published.variants["Climate"])
        assert view.frozen
        assert view.variant_key == stored.key
        assert view.subject == stored.subject
        assert view.html.startswith(stored.html[:200])
        assert "%%" not in view.html  # every per-reader marker filled for the editor
        assert view.view_url.endswith(f"/p/morning/{DAY}/for/{stored.key}/")


def test_a_weekly_reader_sees_the_next_roundup(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """Weekly: the roundup (unsaved), its /weekly/ page, their topics' briefings only."""
    _upcoming(db, weekly_days=EVERY_DAY)
    signed_in(Role.EDITOR)
    page = client.get("/editor/preview?publication=morning&cadence=weekly&topics=Transport")
    assert page.status_code == 200, page.text
    assert "Next weekly roundup" in page.text
    email = _frame(page.text)
    assert "Tram line vote tonight" in email
    assert "Heat record" not in email
    assert "/weekly/" in page.text
    assert "Send test" not in page.text  # test copies are of the daily edition
    assert _stored(db) == (0, 0)
    assert 'value="weekly" selected' in page.text


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("topics=Nope", "topics", "topics: &#39;Nope&#39; is not a topic of this publication"),
        ("timezone=Mars/Olympus", "timezone", "timezone: &#39;Mars/Olympus&#39; is not an IANA"),
        ("cadence=hourly", "cadence", "cadence: &#39;hourly&#39; is not daily or weekly"),
        ("cadence=weekly", "cadence", "cadence: this publication offers no weekly roundup"),
        ("topics=%3Cb%3Ex", "topics", "topics: &#39;&lt;b&gt;x&#39; is not a topic"),
    ],
)
def test_bad_choices_are_refused_naming_the_field(
    client: TestClient, db: Database, signed_in: SignIn, query: str, field: str, message: str
) -> None:
    """A topic, zone or cadence the publication does not offer: 400, the field named, no email."""
    _upcoming(db)
    signed_in(Role.EDITOR)
    page = client.get(f"/editor/preview?publication=morning&{query}")
    assert page.status_code == 400
    assert "Nothing was previewed." in page.text
    assert message in page.text
    assert f'id="f-{field}-error"' in page.text
    assert "Email at 800 pixels" not in page.text
    assert "<b>x" not in page.text
    assert _stored(db) == (0, 0)


def test_read_choice_keeps_the_publications_spelling(db: Database) -> None:
    """Topics are matched case-insensitively and kept as the publication spells them."""
    with db.session() as session:
        publication: Publication = make_publication(session, topics=["Climate", "Transport"])
        choice = read_choice(
            session, publication, topics=["climate", "CLIMATE"], timezone=" Europe/Paris "
        )
        assert choice == ReaderChoice(("Climate",), "Europe/Paris", Cadence.DAILY)
        assert read_choice(session, publication) == ReaderChoice()
        with pytest.raises(InvalidInputError, match=r"^topics: at most"):
            read_choice(session, publication, topics=["x"] * 201)


def test_the_preview_shows_each_offered_language(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """A publication offering en and de: the preview offers both; German shows the email
    in German (the whole edition, keyed 1.2.3.4-de); a language not offered is refused
    naming the field; nothing is frozen."""
    _upcoming(db, languages=["en", "de"])
    signed_in(Role.EDITOR)
    page = client.get("/editor/preview?publication=morning")
    assert '<option value="de" lang="de">de</option>' in page.text
    german = client.get("/editor/preview?publication=morning&language=de")
    assert german.status_code == 200, german.text
    assert '<html lang="de"' in _frame(german.text)
    assert '<html lang="en"' in _frame(page.text)
    refused = client.get("/editor/preview?publication=morning&language=fr")
    assert refused.status_code == 400
    assert "language: &#39;fr&#39; is not offered by this publication (en, de)" in refused.text
    assert _stored(db) == (0, 0)
