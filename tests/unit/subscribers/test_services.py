"""Subscriber services: lists, sign-up outcomes, confirmation, unsubscription, suppression."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from newsletter.db import Database, utcnow
from newsletter.errors import InvalidInputError, NotFoundError, TransitionError
from subscribers import services, suppression, transitions
from subscribers.models import (
    Consent,
    ConsentSource,
    MailingList,
    Subscriber,
    SubscriptionState,
    SuppressionReason,
)
from subscribers.services import OptInPolicy, SignupOutcome
from subscribers.tokens import TokenSubject
from subscribers.transitions import Evidence
from tests.unit.subscribers.factories import (
    NoConfirm,
    make_publication,
    seed,
    signup,
    subscription,
)

S = SubscriptionState
CLI = Evidence(ConsentSource.CLI)


def _consents(session: object, subscriber_id: int) -> list[tuple[str | None, str, str]]:
    rows = session.scalars(  # type: ignore[attr-defined]
        select(Consent).where(Consent.subscriber_id == subscriber_id).order_by(Consent.id)
    )
    return [(row.from_state, row.to_state, row.source.value) for row in rows]


def test_default_list_is_created_once_with_the_publication_slug(database: Database) -> None:
    """ensure_default_list creates the list named after the publication, then returns it."""
    with database.session() as session:
        publication = make_publication(session)
        first = services.ensure_default_list(session, publication)
        again = services.ensure_default_list(session, publication)
        assert first.id == again.id
        assert (first.slug, first.name, first.double_opt_in) == ("daily", publication.name, True)


def test_get_list_creates_the_default_list_lazily(database: Database) -> None:
    """Asking for a publication's slug finds (or creates) its default list."""
    with database.session() as session:
        make_publication(session)
        assert services.get_list(session, "daily").slug == "daily"
        assert session.scalar(select(func.count()).select_from(MailingList)) == 1


def test_unknown_list_is_not_found(database: Database) -> None:
    """A slug that is neither a list nor a publication raises NotFoundError naming it."""
    with database.session() as session, pytest.raises(NotFoundError, match="'nope'"):
        services.get_list(session, "nope")


def test_extra_lists_have_unique_slugs(database: Database) -> None:
    """A publication can have more lists; a slug already taken is refused."""
    with database.session() as session:
        publication = make_publication(session)
        services.ensure_default_list(session, publication)
        extra = services.create_list(session, publication, "daily-weekend", "Weekend")
        assert [m.slug for m in services.lists_of_publication(session, publication.id)] == [
            "daily",
            "daily-weekend",
        ]
        assert extra.double_opt_in
        with pytest.raises(InvalidInputError, match="already exists"):
            services.create_list(session, publication, "daily", "Again")


def test_sign_up_creates_a_pending_subscription_and_sends_confirmation(database: Database) -> None:
    """A new web sign-up is pending, asks for confirmation and records consent with IP and UA."""
    seed(database)
    confirmer = NoConfirm()
    with database.session() as session:
        result = signup(
            session, "  Ann@Example.ORG ", confirmer=confirmer, name="Ann", topics=("science",)
        )
        assert result.outcome is SignupOutcome.CONFIRMATION_SENT
        sub = result.subscription
        assert sub is not None
        assert sub.state is S.PENDING
        assert sub.topics == ["Science"]
        assert sub.subscriber.email == "ann@example.org"
        assert confirmer.sent == []  # not before the commit
        consent = session.scalar(select(Consent))
        assert consent is not None
        assert (consent.from_state, consent.to_state) == (None, "pending")
        assert (consent.ip, consent.user_agent) == ("192.0.2.7", "TestBrowser/1.0")
    assert confirmer.sent == [sub.id]


def test_no_confirmation_is_sent_when_the_sign_up_is_rolled_back(database: Database) -> None:
    """A sign-up whose transaction fails emails nobody, and a later commit does not send it."""
    seed(database)
    confirmer = NoConfirm()

    def failing() -> None:
        with database.session() as session:
            signup(session, confirmer=confirmer)
            raise RuntimeError("the commit never happens")

    with pytest.raises(RuntimeError):
        failing()
    assert confirmer.sent == []
    with database.session() as session:
        assert services.find_subscriber(session, "ann@example.org") is None
        signup(session, "bob@example.org", confirmer=confirmer)
        session.rollback()
        signup(session, "cy@example.org", confirmer=confirmer)
    with database.session() as session:
        cy = services.get_subscriber(session, "cy@example.org").subscriptions[0].id
    assert confirmer.sent == [cy]


def test_resend_while_pending_is_throttled_to_once_an_hour(database: Database) -> None:
    """Signing up again while pending re-sends only if the last email is an hour old."""
    seed(database)
    confirmer = NoConfirm()
    with database.session() as session:
        signup(session, confirmer=confirmer)
        again = signup(session, confirmer=confirmer)
        assert again.outcome is SignupOutcome.CONFIRMATION_THROTTLED
    assert len(confirmer.sent) == 1
    with database.session() as session:
        found = services.get_subscriber(session, "ann@example.org").subscriptions[0]
        found.confirmation_sent_at = utcnow() - timedelta(minutes=61)
        later = signup(session, confirmer=confirmer)
        assert later.outcome is SignupOutcome.CONFIRMATION_SENT
    assert len(confirmer.sent) == 2


def test_sign_up_when_confirmed_sends_nothing(database: Database) -> None:
    """A confirmed subscriber signing up again gets no email and no change."""
    list_id = seed(database)
    confirmer = NoConfirm()
    with database.session() as session:
        result = signup(session, confirmer=confirmer)
        assert result.subscription is not None
    with database.session() as session:
        services.confirm(session, TokenSubject(result.subscription.subscriber_id, list_id), CLI)
        again = signup(session, confirmer=confirmer)
        assert again.outcome is SignupOutcome.ALREADY_CONFIRMED
    assert len(confirmer.sent) == 1


def test_single_opt_in_list_confirms_at_once(database: Database) -> None:
    """On a single opt-in list a sign-up is confirmed immediately, without email."""
    list_id = seed(database)
    confirmer = NoConfirm()
    with database.session() as session:
        session.get_one(MailingList, list_id).double_opt_in = False
        result = signup(session, confirmer=confirmer)
        assert result.outcome is SignupOutcome.CONFIRMED
        assert result.subscription is not None
        assert result.subscription.state is S.CONFIRMED
        assert confirmer.sent == []


def test_resubscribing_after_unsubscribe_needs_a_new_confirmation(database: Database) -> None:
    """unsubscribed → pending on a new sign-up, then confirmed again; the trail shows each step."""
    list_id = seed(database)
    with database.session() as session:
        result = signup(session)
        assert result.subscription is not None
        subject = TokenSubject(result.subscription.subscriber_id, list_id)
        services.confirm(session, subject, CLI)
        services.unsubscribe(session, subject, CLI)
        again = signup(session)
        assert again.outcome is SignupOutcome.CONFIRMATION_SENT
        services.confirm(session, subject, CLI)
        assert _consents(session, subject.subscriber_id) == [
            (None, "pending", "web"),
            ("pending", "confirmed", "cli"),
            ("confirmed", "unsubscribed", "cli"),
            ("unsubscribed", "pending", "web"),
            ("pending", "confirmed", "cli"),
        ]


def test_expired_sign_up_can_start_again(database: Database) -> None:
    """expire_pending expires old pending sign-ups; signing up again makes them pending."""
    seed(database)
    with database.session() as session:
        result = signup(session)
        sub = result.subscription
        assert sub is not None
        later = utcnow() + timedelta(days=8)
        assert services.expire_pending(session, now=later) == 1
        assert sub.state is S.EXPIRED
        assert services.expire_pending(session, now=later) == 0
        assert signup(session).outcome is SignupOutcome.CONFIRMATION_SENT
        assert sub.state is S.PENDING


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"email": "not-an-address"}, "email"),
        ({"email": "a@b.c" + "x" * 400}, "longer than"),
        ({"email": "  "}, "required"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"locale": "english!"}, "locale"),
        ({"name": "n" * 201}, "name"),
        ({"topics": ("Cooking",)}, "not a topic"),
        ({"topics": ("x" * 121,)}, "longer than"),
    ],
)
def test_bad_sign_up_input_changes_nothing(
    database: Database, fields: dict[str, object], message: str
) -> None:
    """Invalid address, timezone, locale, name or topic: InvalidInputError naming it, no rows."""
    seed(database)
    with pytest.raises(InvalidInputError, match=message), database.session() as session:
        signup(session, **fields)  # type: ignore[arg-type]
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Subscriber)) == 0


def test_hard_bounced_address_is_not_signed_up(database: Database) -> None:
    """A suppressed address (bounce, spam report, manual) is silently not subscribed."""
    seed(database)
    confirmer = NoConfirm()
    with database.session() as session:
        suppression.suppress(session, "ann@example.org", SuppressionReason.HARD_BOUNCE)
        assert signup(session, confirmer=confirmer).outcome is SignupOutcome.SUPPRESSED
        assert confirmer.sent == []
        assert services.find_subscriber(session, "ann@example.org") is None


def test_new_opt_in_lifts_a_global_unsubscribe(database: Database) -> None:
    """A global unsubscribe is lifted when the same person signs up and confirms again."""
    list_id = seed(database)
    with database.session() as session:
        suppression.suppress(session, "ann@example.org", SuppressionReason.GLOBAL_UNSUBSCRIBE)
        result = signup(session)
        assert result.outcome is SignupOutcome.CONFIRMATION_SENT
        assert suppression.suppression_of(session, "ann@example.org") is not None
        assert result.subscription is not None
        services.confirm(session, TokenSubject(result.subscription.subscriber_id, list_id), CLI)
        assert suppression.suppression_of(session, "ann@example.org") is None


def test_confirm_is_idempotent_and_refuses_unsubscribed(database: Database) -> None:
    """Confirming twice is fine; confirming after unsubscribing raises TransitionError."""
    list_id = seed(database)
    with database.session() as session:
        result = signup(session)
        assert result.subscription is not None
        subject = TokenSubject(result.subscription.subscriber_id, list_id)
        assert services.confirm(session, subject, CLI).state is S.CONFIRMED
        assert services.confirm(session, subject, CLI).state is S.CONFIRMED
        services.unsubscribe(session, subject, CLI)
        with pytest.raises(TransitionError, match="sign up again"):
            services.confirm(session, subject, CLI)


def test_confirming_a_stale_sign_up_expires_it(database: Database) -> None:
    """A pending sign-up older than the expiry cannot be confirmed and becomes expired."""
    list_id = seed(database)
    with database.session() as session:
        result = signup(session)
        assert result.subscription is not None
        subject = TokenSubject(result.subscription.subscriber_id, list_id)
    policy = OptInPolicy(pending_expiry=timedelta(days=1))
    with database.session() as session:
        found = services.confirm(
            session, subject, CLI, policy=policy, now=utcnow() + timedelta(days=2)
        )
        assert found.state is S.EXPIRED
    with database.session() as session:
        # Committed with the caller's transaction, consent row included.
        assert services.subscription_for(session, subject).state is S.EXPIRED
        assert _consents(session, subject.subscriber_id)[-1] == ("pending", "expired", "cli")
        with pytest.raises(TransitionError, match="sign up again"):
            services.confirm(session, subject, CLI, policy=policy)


def test_unsubscribe_is_idempotent(database: Database) -> None:
    """Unsubscribing twice records one transition."""
    list_id = seed(database)
    with database.session() as session:
        result = signup(session)
        assert result.subscription is not None
        subject = TokenSubject(result.subscription.subscriber_id, list_id)
        services.unsubscribe(session, subject, CLI)
        services.unsubscribe(session, subject, CLI)
        assert [c[1] for c in _consents(session, subject.subscriber_id)] == [
            "pending",
            "unsubscribed",
        ]


def test_unknown_token_subject_is_not_found(database: Database) -> None:
    """A token naming no subscription (e.g. after erasure) raises NotFoundError."""
    with database.session() as session, pytest.raises(NotFoundError):
        services.subscription_for(session, TokenSubject(99, 99))


def test_new_subscription_cannot_start_unsubscribed(database: Database) -> None:
    """start_subscription only starts pending or confirmed."""
    list_id = seed(database)
    with database.session() as session:
        subscriber = Subscriber(email="bob@example.org")
        session.add(subscriber)
        session.flush()
        mailing_list = session.get_one(MailingList, list_id)
        with pytest.raises(TransitionError):
            transitions.start_subscription(session, subscriber, mailing_list, S.UNSUBSCRIBED, CLI)


def test_suppress_is_idempotent_and_unsubscribe_everywhere(database: Database) -> None:
    """Suppressing twice keeps the first reason; unsubscribe_everywhere leaves every list."""
    seed(database)
    seed(database, "evening")
    with database.session() as session:
        first = suppression.suppress(session, "Ann@example.org", SuppressionReason.MANUAL, note="x")
        again = suppression.suppress(session, "ann@example.org", SuppressionReason.SPAM_REPORT)
        assert first.id == again.id
        assert again.reason is SuppressionReason.MANUAL
        assert len(suppression.suppressed_hashes(session)) == 1
        services.sign_up(
            session,
            services.SignupRequest("bob@example.org", "daily", CLI),
            confirmer=NoConfirm(),
        )
        services.sign_up(
            session,
            services.SignupRequest("bob@example.org", "evening", CLI, skip_opt_in=True),
            confirmer=NoConfirm(),
        )
        assert services.unsubscribe_everywhere(session, "bob@example.org", CLI) == 2
        assert services.unsubscribe_everywhere(session, "bob@example.org", CLI) == 0
    with database.session() as session, pytest.raises(NotFoundError):
        services.get_subscriber(session, "nobody@example.org")


def test_confirmed_add_confirms_a_pending_sign_up_even_within_the_hour(
    database: Database,
) -> None:
    """A sign-up with recorded consent confirms a pending subscription instead of throttling."""
    seed(database)
    confirmer = NoConfirm()
    with database.session() as session:
        first = signup(session, "ann@example.org", confirmer=confirmer)
        assert first.outcome is SignupOutcome.CONFIRMATION_SENT
    with database.session() as session:
        consent = Evidence(ConsentSource.CLI, text="Phone call, 3 May")
        result = services.sign_up(
            session,
            services.SignupRequest("ann@example.org", "daily", consent, skip_opt_in=True),
            confirmer=confirmer,
        )
        assert result.outcome is SignupOutcome.CONFIRMED
        assert result.subscription is not None
        assert result.subscription.state is S.CONFIRMED
        assert result.subscription.confirmed_at is not None
        assert _consents(session, result.subscription.subscriber_id)[-1] == (
            "pending",
            "confirmed",
            "cli",
        )
    assert len(confirmer.sent) == 1, "no second confirmation email"


def test_a_queued_confirmation_is_not_sent_once_confirmed(database: Database) -> None:
    """A sign-up confirmed later in the same transaction gets no confirmation email."""
    seed(database)
    confirmer = NoConfirm()
    with database.session() as session:
        signup(session, "ann@example.org", confirmer=confirmer)
        consent = Evidence(ConsentSource.CLI, text="Phone call, 3 May")
        services.sign_up(
            session,
            services.SignupRequest("ann@example.org", "daily", consent, skip_opt_in=True),
            confirmer=confirmer,
        )
    assert confirmer.sent == []


def test_single_opt_in_list_confirms_a_pending_sign_up(database: Database) -> None:
    """A pending sign-up on a list since made single opt-in is confirmed by signing up again."""
    list_id = seed(database)
    with database.session() as session:
        signup(session, "ann@example.org")
        session.get_one(MailingList, list_id).double_opt_in = False
    with database.session() as session:
        confirmer = NoConfirm()
        result = signup(session, "ann@example.org", confirmer=confirmer)
        assert result.outcome is SignupOutcome.CONFIRMED
        assert subscription(
            session, "ann@example.org", session.get_one(MailingList, list_id)
        ).state is (S.CONFIRMED)
        assert confirmer.sent == []
