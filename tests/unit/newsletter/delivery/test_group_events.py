"""SendGrid unsubscribe-group events turn a reader's kind of mail off and on, once, recorded."""

from __future__ import annotations

from sqlalchemy import select, update

from newsletter.db import Database
from newsletter.digests.models import Digest
from newsletter.publications.models import Publication
from subscribers.models import Consent, Subscription, SubscriptionState
from tests.unit.newsletter.delivery.test_events import apply, event, sent_edition

S = SubscriptionState
DIGEST_GROUP, ALERT_GROUP = 41, 42


def _grouped_edition(database: Database) -> int:
    digest_id = sent_edition(database)
    with database.session() as session:
        publication_id = session.scalar(select(Digest.publication_id).where(Digest.id == digest_id))
        session.execute(
            update(Publication)
            .where(Publication.id == publication_id)
            .values(digest_group_id=DIGEST_GROUP, alert_group_id=ALERT_GROUP)
        )
        session.execute(update(Subscription).values(alerts=True))
    return digest_id


def _reader(database: Database, subscriber: int) -> tuple[S, bool, bool, list[str]]:
    with database.session() as session:
        subscription = session.scalars(
            select(Subscription).where(Subscription.subscriber_id == subscriber)
        ).one()
        texts = session.scalars(
            select(Consent.text).where(Consent.subscriber_id == subscriber).order_by(Consent.id)
        ).all()
        return subscription.state, subscription.digests, subscription.alerts, list(texts)


def test_leaving_the_alert_group_leaves_alerts_only_once(any_database: Database) -> None:
    digest_id = _grouped_edition(any_database)
    left = event("group_unsubscribe", digest_id, 1, asm_group_id=ALERT_GROUP)
    assert apply(any_database, left).applied == 1
    state, digests, alerts, texts = _reader(any_database, 1)
    assert (state, digests, alerts) == (S.CONFIRMED, True, False)
    assert texts[-1] == "left alerts (SendGrid group_unsubscribe event, group 42)"
    # A retried post applies nothing again: no second consent row.
    assert apply(any_database, left).duplicates == 1
    assert len(_reader(any_database, 1)[3]) == len(texts)
    # The other reader is untouched.
    assert _reader(any_database, 2)[:3] == (S.CONFIRMED, True, True)


def test_rejoining_the_group_takes_the_kind_again(any_database: Database) -> None:
    digest_id = _grouped_edition(any_database)
    apply(
        any_database,
        event("group_unsubscribe", digest_id, 1, asm_group_id=DIGEST_GROUP),
        event("group_resubscribe", digest_id, 1, asm_group_id=DIGEST_GROUP),
        event("group_resubscribe", digest_id, 2, asm_group_id=ALERT_GROUP),  # already on
    )
    state, digests, alerts, texts = _reader(any_database, 1)
    assert (state, digests, alerts) == (S.CONFIRMED, True, True)
    assert texts[-2:] == [
        "left the digest (SendGrid group_unsubscribe event, group 41)",
        "joined the digest (SendGrid group_resubscribe event, group 41)",
    ]
    assert _reader(any_database, 2)[3] == []  # nothing to record: it was on


def test_leaving_both_groups_ends_and_rejoining_restores_one_kind(database: Database) -> None:
    digest_id = _grouped_edition(database)
    apply(
        database,
        event("group_unsubscribe", digest_id, 1, asm_group_id=DIGEST_GROUP),
        event("group_unsubscribe", digest_id, 1, asm_group_id=ALERT_GROUP),
    )
    assert _reader(database, 1)[:3] == (S.UNSUBSCRIBED, False, False)
    apply(database, event("group_resubscribe", digest_id, 1, asm_group_id=ALERT_GROUP))
    state, digests, alerts, texts = _reader(database, 1)
    assert (state, digests, alerts) == (S.CONFIRMED, False, True)
    assert texts[-1] == "joined alerts (SendGrid group_resubscribe event, group 42)"


def test_events_of_other_groups(database: Database) -> None:
    """Leaving a group that is no kind of this publication's ends the subscription (as before);
    rejoining one changes nothing."""
    digest_id = _grouped_edition(database)
    apply(
        database,
        event("group_resubscribe", digest_id, 2, asm_group_id=99),
        event("group_unsubscribe", digest_id, 1, asm_group_id=99),
    )
    assert _reader(database, 1)[:3] == (S.UNSUBSCRIBED, True, True)
    assert _reader(database, 2)[:3] == (S.CONFIRMED, True, True)
    assert _reader(database, 2)[3] == []


def test_a_group_event_for_an_erased_subscription_is_ignored(database: Database) -> None:
    digest_id = _grouped_edition(database)
    with database.session() as session:
        session.execute(Subscription.__table__.delete())
    left = event("group_unsubscribe", digest_id, 1, asm_group_id=ALERT_GROUP)
    assert apply(database, left).applied == 1
    with database.session() as session:
        assert session.scalars(select(Consent)).all() == []
