"""The preferences page's changes: lists joined or left, topics, pause."""

from __future__ import annotations

from datetime import timedelta

import pytest

from newsletter.db import Database, utcnow
from newsletter.errors import InvalidInputError
from subscribers import services
from subscribers.models import ConsentSource, MailingList, SubscriptionState
from subscribers.preferences import ListChoice, Preferences, update_preferences
from subscribers.transitions import Evidence
from tests.unit.subscribers.factories import seed, signup, subscription, web_evidence

S = SubscriptionState


def test_preferences_change_topics_lists_and_pause(database: Database) -> None:
    """The preferences form can narrow topics, join another list, leave one and pause all."""
    list_id = seed(database)
    with database.session() as session:
        mailing_list = session.get_one(MailingList, list_id)
        weekend = services.create_list(session, mailing_list.publication, "weekend", "Weekend")
        result = signup(session)
        assert result.subscription is not None
        subscriber = result.subscription.subscriber
        until = utcnow() + timedelta(days=7)
        evidence = Evidence(ConsentSource.EMAIL)
        update_preferences(
            session,
            subscriber,
            mailing_list.publication_id,
            Preferences(
                choices=(
                    ListChoice(list_id, True, ("sport", "Politics")),
                    ListChoice(weekend.id, True),
                ),
                paused_until=until,
            ),
            evidence,
        )
        daily = subscription(session, "ann@example.org", mailing_list)
        extra = subscription(session, "ann@example.org", weekend)
        assert (daily.state, daily.topics, daily.paused_until) == (
            S.CONFIRMED,
            ["Sport", "Politics"],
            until,
        )
        assert (extra.state, extra.topics) == (S.CONFIRMED, [])
        update_preferences(
            session,
            subscriber,
            mailing_list.publication_id,
            Preferences(choices=(ListChoice(list_id, True), ListChoice(weekend.id, False))),
            evidence,
        )
        assert extra.state is S.UNSUBSCRIBED
        assert daily.paused_until is None
        assert daily.topics == []


def test_preferences_refuse_a_list_of_another_publication(database: Database) -> None:
    """A list id outside the publication is refused and nothing changes."""
    list_id = seed(database)
    other = seed(database, "evening")
    with database.session() as session:
        result = signup(session)
        assert result.subscription is not None
        publication_id = session.get_one(MailingList, list_id).publication_id
        with pytest.raises(InvalidInputError, match="not offered"):
            update_preferences(
                session,
                result.subscription.subscriber,
                publication_id,
                Preferences(choices=(ListChoice(other, True),)),
                web_evidence(),
            )
