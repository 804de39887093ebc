"""The welcome email: once per confirmation, after the commit, never for an import, and the
claim that keeps two senders (the web process and the tick) from mailing it twice."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from newsletter.db import Database, utcnow
from newsletter.errors import OutcomeUnknownError, PermanentError, RetryableError
from newsletter.providers.interfaces import Batch
from newsletter.providers.memory import MemorySender
from newsletter.publications.models import Publication
from subscribers import csvio, services
from subscribers.links import Links
from subscribers.models import ConsentSource, Subscription, SubscriptionState
from subscribers.services import SignupRequest
from subscribers.tokens import Purpose, Tokens, TokenSubject
from subscribers.transitions import Evidence
from subscribers.welcome import (
    EmailWelcomer,
    clean_welcome,
    paragraphs,
    send_welcomes,
    welcome_due,
)
from tests.unit.subscribers.factories import NoConfirm, seed, web_evidence

WINDOW = timedelta(hours=24)
TOKENS = Tokens("welcome-test-secret")
LINKS = Links("https://news.example.org", TOKENS)


def _welcomer(sender: MemorySender) -> EmailWelcomer:
    return EmailWelcomer(sender, LINKS)


def _single_signup(database: Database, sender: MemorySender, email: str = "ann@example.org") -> int:
    """A single opt-in web sign-up, welcomed after its commit; the subscription id."""
    with database.session() as session:
        request = SignupRequest(
            email=email, list_slug="daily", evidence=web_evidence(), skip_opt_in=True
        )
        result = services.sign_up(
            session, request, confirmer=NoConfirm(), welcomer=_welcomer(sender)
        )
        assert result.subscription is not None
        return result.subscription.id


def _welcomed_at(database: Database, subscription_id: int) -> object:
    with database.session() as session:
        return session.scalar(
            select(Subscription.welcomed_at).where(Subscription.id == subscription_id)
        )


def test_a_single_opt_in_sign_up_is_welcomed_once_after_the_commit(database: Database) -> None:
    """The welcome leaves after the commit, with the reader's own links, and is claimed."""
    seed(database)
    sender = MemorySender()
    subscription_id = _single_signup(database, sender)
    [mail] = sender.to("ann@example.org")
    assert mail.subject == "Welcome to The Daily Briefing"
    assert "you are subscribed to The Daily Briefing" in mail.text
    assert "https://news.example.org/unsubscribe/" in mail.text
    assert "https://news.example.org/preferences/" in mail.text
    assert "%%" not in mail.text + mail.html
    assert mail.headers["List-Unsubscribe"].startswith("<https://news.example.org/")
    assert mail.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert mail.headers["List-Id"] == '"The Daily Briefing" <daily.news.example.org>'
    assert _welcomed_at(database, subscription_id) is not None
    # The tick finds nothing owed, and sending again sends nothing.
    with database.session() as session:
        assert welcome_due(session, now=utcnow(), window=WINDOW) == []
    assert (
        send_welcomes(database.sessions, _welcomer(sender), [subscription_id], window=WINDOW) == 0
    )
    assert len(sender.sent) == 1


def test_a_rolled_back_confirmation_sends_no_welcome(database: Database) -> None:
    """Nothing leaves when the confirming transaction does not commit."""
    seed(database)
    sender = MemorySender()
    request = SignupRequest(
        email="ann@example.org", list_slug="daily", evidence=web_evidence(), skip_opt_in=True
    )

    def failing_request() -> None:
        with database.session() as session:
            services.sign_up(session, request, confirmer=NoConfirm(), welcomer=_welcomer(sender))
            raise RuntimeError("the request failed after the sign-up")

    with pytest.raises(RuntimeError):
        failing_request()
    assert sender.sent == []


def test_double_opt_in_welcomes_at_the_confirmation_not_the_sign_up(database: Database) -> None:
    """A pending sign-up gets no welcome; confirming its link does, once."""
    list_id = seed(database)
    sender = MemorySender()
    with database.session() as session:
        request = SignupRequest(email="bob@example.org", list_slug="daily", evidence=web_evidence())
        result = services.sign_up(
            session, request, confirmer=NoConfirm(), welcomer=_welcomer(sender)
        )
        assert result.subscription is not None
        subject = TokenSubject(result.subscription.subscriber_id, list_id)
    assert sender.sent == []
    evidence = Evidence(ConsentSource.EMAIL)
    for _ in range(2):  # confirming twice (a reload) welcomes once
        with database.session() as session:
            services.confirm(session, subject, evidence, welcomer=_welcomer(sender))
    assert [m.subject for m in sender.to("bob@example.org")] == ["Welcome to The Daily Briefing"]


def test_each_new_confirmation_owes_its_own_welcome(database: Database) -> None:
    """Leaving and coming back is a new confirmation: a new welcome."""
    list_id = seed(database)
    sender = MemorySender()
    subscription_id = _single_signup(database, sender)
    with database.session() as session:
        subscriber_id = session.get_one(Subscription, subscription_id).subscriber_id
        services.unsubscribe(session, TokenSubject(subscriber_id, list_id), web_evidence())
    _single_signup(database, sender)
    assert len(sender.to("ann@example.org")) == 2


def test_an_owed_welcome_is_sent_by_the_sweep_once(database: Database) -> None:
    """A confirmation whose process died before sending is owed; the sweep sends it once,
    and two sweeps racing send it once (the claim)."""
    seed(database)
    dead = MemorySender()
    with database.session() as session:
        request = SignupRequest(
            email="cat@example.org", list_slug="daily", evidence=web_evidence(), skip_opt_in=True
        )
        # No welcomer: as if the process died right after the commit.
        result = services.sign_up(session, request, confirmer=NoConfirm())
        assert result.subscription is not None
        subscription_id = result.subscription.id
    assert dead.sent == []
    with database.session() as session:
        assert welcome_due(session, now=utcnow(), window=WINDOW) == [subscription_id]
    sender = MemorySender()
    ids = [subscription_id, subscription_id]  # the same id twice: a second sender racing
    assert send_welcomes(database.sessions, _welcomer(sender), ids, window=WINDOW) == 1
    assert len(sender.to("cat@example.org")) == 1
    with database.session() as session:
        assert welcome_due(session, now=utcnow(), window=WINDOW) == []


def test_a_welcome_older_than_the_window_is_let_go(database: Database) -> None:
    """Past the window the sweep no longer sends a missed welcome."""
    seed(database)
    with database.session() as session:
        request = SignupRequest(
            email="dan@example.org", list_slug="daily", evidence=web_evidence(), skip_opt_in=True
        )
        services.sign_up(session, request, confirmer=NoConfirm())
    later = utcnow() + WINDOW + timedelta(minutes=1)
    with database.session() as session:
        assert welcome_due(session, now=later, window=WINDOW) == []


def test_imports_are_never_welcomed(database: Database, tmp_path: Path) -> None:
    """A confirmed import owes no welcome (an import never mails)."""
    seed(database)
    path = tmp_path / "readers.csv"
    path.write_text("email\nimported@example.org\n", encoding="utf-8")
    with database.session() as session:
        csvio.import_csv(
            session, path, list_slug="daily", confirmed=True, consent="paper form", confirmer=None
        )
    with database.session() as session:
        state = session.scalar(select(Subscription.state))
        assert state is SubscriptionState.CONFIRMED
        assert welcome_due(session, now=utcnow(), window=WINDOW) == []


class _Failing:
    """A sender whose provider call fails with ``error``, after building the batch."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.calls = 0

    def send_batch(self, batch: Batch) -> None:
        self.calls += 1
        raise self.error


@pytest.mark.parametrize(
    ("error", "owed_again"),
    [
        (RetryableError("503 from the provider"), True),
        (OutcomeUnknownError("no answer"), False),
        (PermanentError("400: bad request"), False),
    ],
)
def test_a_failed_send_is_owed_again_only_when_nothing_can_have_left(
    database: Database, error: Exception, owed_again: bool
) -> None:
    """A refused connection or 5xx releases the claim; a lost answer or a refusal does not
    (a second copy must never be possible)."""
    seed(database)
    with database.session() as session:
        request = SignupRequest(
            email="eve@example.org", list_slug="daily", evidence=web_evidence(), skip_opt_in=True
        )
        services.sign_up(session, request, confirmer=NoConfirm())
    failing = _Failing(error)
    with database.session() as session:
        owed = welcome_due(session, now=utcnow(), window=WINDOW)
    welcomer = EmailWelcomer(failing, LINKS)  # type: ignore[arg-type]
    assert send_welcomes(database.sessions, welcomer, owed, window=WINDOW) == 0
    assert failing.calls == 1
    with database.session() as session:
        assert bool(welcome_due(session, now=utcnow(), window=WINDOW)) is owed_again


def test_the_publications_own_text_is_used_and_escaped(database: Database) -> None:
    """An admin's subject and paragraphs replace the built-in text, as plain text."""
    seed(
        database,
        welcome_subject="Hello <new> reader",
        welcome_body="First <b>para</b> & more.\n\nSecond\nline.",
    )
    sender = MemorySender()
    _single_signup(database, sender)
    [mail] = sender.sent
    assert mail.subject == "Hello <new> reader"
    assert "First <b>para</b> & more." in mail.text
    assert "Second line." in mail.text
    assert "First &lt;b&gt;para&lt;/b&gt; &amp; more." in mail.html
    assert "<b>para</b>" not in mail.html
    assert "Thank you for confirming" not in mail.text


def test_welcome_links_are_signed_for_the_reader(database: Database) -> None:
    """The unsubscribe link in the welcome unsubscribes this reader from this list."""
    list_id = seed(database)
    sender = MemorySender()
    subscription_id = _single_signup(database, sender)
    [mail] = sender.sent
    token = mail.text.split("https://news.example.org/unsubscribe/")[1].split()[0]
    with database.session() as session:
        subscriber_id = session.get_one(Subscription, subscription_id).subscriber_id
    assert TOKENS.read(Purpose.UNSUBSCRIBE, token) == TokenSubject(subscriber_id, list_id)


def test_clean_welcome_and_paragraphs() -> None:
    """Subject on one line, limits named by field; paragraphs split on blank lines."""
    assert clean_welcome("  Hi\n there ", " a\n\n b ") == ("Hi there", "a\n\n b")
    with pytest.raises(ValueError, match="welcome_subject: at most 300"):
        clean_welcome("x" * 301, "")
    with pytest.raises(ValueError, match="welcome_body: at most 5000"):
        clean_welcome("", "x" * 5001)
    assert paragraphs("one\ntwo\n\n\nthree  ") == ["one two", "three"]
    assert paragraphs("   ") == []


def test_the_window_and_the_state_are_checked_again_at_send_time(database: Database) -> None:
    """A subscription that left before its welcome went is not welcomed."""
    seed(database)
    with database.session() as session:
        request = SignupRequest(
            email="fay@example.org", list_slug="daily", evidence=web_evidence(), skip_opt_in=True
        )
        services.sign_up(session, request, confirmer=NoConfirm())
        owed = welcome_due(session, now=utcnow(), window=WINDOW)
    with database.session() as session:
        session.execute(update(Subscription).values(state=SubscriptionState.UNSUBSCRIBED))
    sender = MemorySender()
    assert send_welcomes(database.sessions, _welcomer(sender), owed, window=WINDOW) == 0
    assert sender.sent == []
    with database.session() as session:
        assert session.scalar(select(Publication.welcome_subject)) == ""


class _Broken(EmailWelcomer):
    """A welcomer whose template fails to render."""

    def batch(self, subscription: Subscription) -> Batch:
        raise RuntimeError("template broke")


def test_a_welcome_that_fails_after_the_commit_keeps_the_confirmation(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """The confirmation stands; the error is logged; the welcome stays owed for the tick."""
    seed(database)
    sender = MemorySender()
    with database.session() as session:
        request = SignupRequest(
            email="gus@example.org", list_slug="daily", evidence=web_evidence(), skip_opt_in=True
        )
        services.sign_up(session, request, confirmer=NoConfirm(), welcomer=_Broken(sender, LINKS))
    assert "welcome mail after confirmation failed" in caplog.text
    assert sender.sent == []
    with database.session() as session:
        assert session.scalar(select(Subscription.state)) is SubscriptionState.CONFIRMED
        assert len(welcome_due(session, now=utcnow(), window=WINDOW)) == 1
