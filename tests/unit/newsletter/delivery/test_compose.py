"""The edition's message is built once; each recipient gets only their links, headers and id."""

from __future__ import annotations

import dataclasses
from urllib.parse import unquote

import pytest

from newsletter.content.edition import Cadence, MailKind
from newsletter.db import Database
from newsletter.delivery.compose import Personaliser, edition_message, for_batch
from newsletter.digests.services import get_digest
from newsletter.errors import InvalidInputError
from newsletter.render import placeholders
from subscribers.links import Links
from subscribers.tokens import Purpose, Tokens, TokenSubject
from tests.unit.newsletter.delivery.dispatch_factories import (
    BASE_URL,
    SECRET,
    rendered_digest,
    tokens,
)


def test_message_carries_publication_settings(database: Database) -> None:
    """From, reply-to, categories, tracking and the edition id come from the edition."""
    with database.session() as session:
        digest_id, _ = rendered_digest(session)
        digest = get_digest(session, digest_id)
        digest.publication.track_opens = True
        message = edition_message(digest)
        test = edition_message(digest, test=True)
    assert message.from_email == "morning@example.org"
    assert message.reply_to == "editors@example.org"
    assert message.categories == ("morning", "edition")
    assert message.track_opens is True
    assert message.track_clicks is False
    assert message.custom_args == {"edition_id": str(digest_id)}
    assert message.headers == {
        "List-Id": '"The Morning Test" <morning.news.example.org>',
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    assert test.headers == message.headers
    assert test.subject == "[TEST] " + message.subject
    assert test.custom_args == {}
    tagged = for_batch(message, 7)
    assert tagged.custom_args == {"edition_id": str(digest_id), "batch_id": "7"}
    assert tagged.html is message.html


def test_unrendered_edition_is_refused(database: Database) -> None:
    """An edition without rendered content cannot become a message."""
    with database.session() as session:
        digest_id, _ = rendered_digest(session)
        digest = get_digest(session, digest_id)
        digest.html = None
        with pytest.raises(InvalidInputError, match="not rendered yet"):
            edition_message(digest)


def test_recipient_links_headers_and_ids(database: Database) -> None:
    """Each recipient gets a one-click https URL and a mailto, working tokens and only ids."""
    with database.session() as session:
        digest_id, list_id = rendered_digest(session)
        digest = get_digest(session, digest_id)
        message = edition_message(digest)
        personaliser = Personaliser.for_digest(digest, message, base_url=BASE_URL, tokens=tokens())
    recipient = personaliser.recipient(42, list_id, "ann@example.org", "Ann")
    assert recipient.custom_args == {"subscriber_id": "42"}
    one_click, mailto = recipient.headers["List-Unsubscribe"].split(", ")
    assert one_click.startswith(f"<{BASE_URL}/u/")
    assert mailto.startswith("<mailto:editors@example.org?subject=unsubscribe")
    token = one_click.removeprefix(f"<{BASE_URL}/u/").removesuffix(">")
    # A digest's unsubscribe links leave the digest only.
    assert tokens().read(Purpose.UNSUBSCRIBE, token) == TokenSubject(42, list_id, MailKind.DIGEST)
    assert token in unquote(mailto)
    subs = recipient.substitutions
    assert set(subs) == personaliser.used
    assert subs[placeholders.UNSUBSCRIBE_URL] == f"{BASE_URL}/unsubscribe/{token}"
    assert subs[placeholders.VIEW_URL] == "https://news.example.org/p/morning/2026-03-02/"
    assert placeholders.NAME not in subs  # the templates do not greet by name


def test_a_name_is_safe_in_subject_text_and_html(database: Database) -> None:
    """A subscriber's name with markup characters is substituted as harmless look-alikes."""
    with database.session() as session:
        digest_id, list_id = rendered_digest(session)
        digest = get_digest(session, digest_id)
        message = edition_message(digest)
        personaliser = Personaliser.for_digest(digest, message, base_url=BASE_URL, tokens=tokens())
    greeting = dataclasses.replace(personaliser, used=frozenset(placeholders.ALL))
    recipient = greeting.recipient(7, list_id, "x@example.org", "<b>Tom & 'Jerry'</b>")
    assert recipient.substitutions[placeholders.NAME] == "‹b›Tom ＆ ’Jerry’‹/b›"


def test_anonymous_recipient_for_test_sends(database: Database) -> None:
    """A test recipient who is not a subscriber gets sign-up links, in List-Unsubscribe too.

    The test copy says List-Unsubscribe-Post like every edition, which RFC 8058 only
    allows beside a List-Unsubscribe (it once came without one).
    """
    with database.session() as session:
        digest_id, _ = rendered_digest(session)
        digest = get_digest(session, digest_id)
        message = edition_message(digest, test=True)
        personaliser = Personaliser.for_digest(digest, message, base_url=BASE_URL, tokens=tokens())
    recipient = personaliser.anonymous("editor@example.org", f"{BASE_URL}/subscribe/morning")
    assert recipient.headers == {"List-Unsubscribe": f"<{BASE_URL}/subscribe/morning>"}
    assert "List-Unsubscribe-Post" in message.headers
    assert recipient.substitutions[placeholders.UNSUBSCRIBE_URL].endswith("/subscribe/morning")


def test_all_personal_links_share_one_unsubscribe_token(database: Database) -> None:
    """The page, one-click and mailto links carry one token; preferences gets its own."""
    with database.session() as session:
        digest_id, list_id = rendered_digest(session)
        digest = get_digest(session, digest_id)
        message = edition_message(digest)
        personaliser = Personaliser.for_digest(digest, message, base_url=BASE_URL, tokens=tokens())
    everything = dataclasses.replace(personaliser, used=frozenset(placeholders.ALL))
    recipient = everything.recipient(42, list_id, "ann@example.org", "Ann")
    maker = Links(BASE_URL, tokens())
    links = maker.for_subscriber(42, list_id, kind=MailKind.DIGEST)
    token = recipient.substitutions[placeholders.UNSUBSCRIBE_URL].rsplit("/", 1)[1]
    assert recipient.headers["List-Unsubscribe"] == (
        f"<{BASE_URL}/u/{token}>, <mailto:editors@example.org?subject=unsubscribe%20{token}>"
    )
    preferences = recipient.substitutions[placeholders.PREFERENCES_URL]
    assert preferences.startswith(f"{BASE_URL}/preferences/")
    subject = TokenSubject(42, list_id)
    assert tokens().read(Purpose.PREFERENCES, preferences.rsplit("/", 1)[1]) == subject
    assert links.preferences is not None
    assert (
        links.mailto("x@example.org") == f"mailto:x@example.org?subject=unsubscribe%20{links.token}"
    )
    assert (links.unsubscribe, links.one_click) == (
        f"{BASE_URL}/unsubscribe/{links.token}",
        f"{BASE_URL}/u/{links.token}",
    )
    assert maker.for_subscriber(42, list_id, preferences=False).preferences is None


@pytest.mark.parametrize("used", [placeholders.ALL, (placeholders.UNSUBSCRIBE_URL,), ()])
def test_recipient_links_are_exactly_those_links_makes(
    database: Database, used: tuple[str]
) -> None:
    """The inline links equal ``Links.for_subscriber``'s, token for token, whatever is used."""
    with database.session() as session:
        digest_id, list_id = rendered_digest(session)
        digest = get_digest(session, digest_id)
        message = edition_message(digest)
    fixed = Tokens(SECRET, clock=lambda: 1_700_000_000.0)
    base = Personaliser.for_digest(digest, message, base_url=BASE_URL, tokens=fixed)
    personaliser = dataclasses.replace(base, used=frozenset(used))
    for subscriber_id in (1, 42, 123_456_789):
        recipient = personaliser.recipient(subscriber_id, list_id, "ann@example.org", "Ann")
        links = Links(BASE_URL, fixed).for_subscriber(
            subscriber_id,
            list_id,
            preferences=placeholders.PREFERENCES_URL in used,
            kind=MailKind.DIGEST,
        )
        assert recipient.headers == {
            "List-Unsubscribe": f"<{links.one_click}>, <{links.mailto('editors@example.org')}>"
        }
        expected = {
            placeholders.UNSUBSCRIBE_URL: links.unsubscribe,
            placeholders.PREFERENCES_URL: links.preferences,
            placeholders.VIEW_URL: personaliser.view_url,
            placeholders.NAME: "Ann",
        }
        assert recipient.substitutions == {key: expected[key] for key in used}


@pytest.mark.parametrize(
    ("cadence", "kind", "group"),
    [
        (Cadence.DAILY, MailKind.DIGEST, 41),
        (Cadence.WEEKLY, MailKind.DIGEST, 41),
        (Cadence.ALERT, MailKind.ALERT, 42),
    ],
)
def test_each_kind_of_mail_carries_its_own_unsubscribe_and_group(
    database: Database, cadence: Cadence, kind: MailKind, group: int
) -> None:
    """An alert's links leave alerts, a digest's the digest; each names its publication group."""
    with database.session() as session:
        digest_id, list_id = rendered_digest(session)
        digest = get_digest(session, digest_id)
        digest.cadence = cadence
        digest.publication.digest_group_id = 41
        digest.publication.alert_group_id = 42
        message = edition_message(digest)
        test = edition_message(digest, test=True)
        personaliser = Personaliser.for_digest(digest, message, base_url=BASE_URL, tokens=tokens())
        digest.publication.alert_group_id = None
        digest.publication.digest_group_id = None
        ungrouped = edition_message(digest)
        session.rollback()
    assert message.unsubscribe_group == group
    assert test.unsubscribe_group is None  # a test send is no reader's kind of mail
    assert ungrouped.unsubscribe_group is None
    recipient = personaliser.recipient(42, list_id, "ann@example.org", "Ann")
    for url in (
        recipient.substitutions[placeholders.UNSUBSCRIBE_URL],
        recipient.headers["List-Unsubscribe"].split(", ")[0].strip("<>"),
    ):
        token = url.rsplit("/", 1)[1]
        assert tokens().read(Purpose.UNSUBSCRIBE, token) == TokenSubject(42, list_id, kind)
