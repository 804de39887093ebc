"""SendGrid unsubscribe groups end to end: the real adapter, the SendGrid test server, the
signed Event Webhook and the applier.

An edition of a publication with a digest group goes out with ``asm.group_id`` (which
the test server checks as SendGrid's schema does); the group events the server then
makes for two readers (as SendGrid posts them when a reader leaves or rejoins the group
on its pages) switch the digest off for one and leave the other as they were, once,
with a consent row, even when SendGrid posts the same events again.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select, update

from newsletter.db import Database
from newsletter.delivery.events import apply_pending
from newsletter.digests.models import Digest
from newsletter.pipeline.dispatch import dispatch
from newsletter.publications.models import Publication
from newsletter.sendgrid_testserver.server import SendGridTestServer
from subscribers.models import Consent, Subscriber, Subscription, SubscriptionState
from tests.integration.test_dispatch_sendgrid import post_events, sendgrid, webhook
from tests.unit.newsletter.delivery.dispatch_factories import (
    BASE_URL,
    edition_with_readers,
    tokens,
)

DIGEST_GROUP, ALERT_GROUP = 1401, 1402


def _reader(database: Database, email: str) -> tuple[SubscriptionState, bool, bool, list[str]]:
    with database.session() as session:
        subscription = session.scalars(
            select(Subscription).join(Subscriber).where(Subscriber.email == email)
        ).one()
        texts = session.scalars(
            select(Consent.text).where(Consent.subscriber_id == subscription.subscriber_id)
        ).all()
        return subscription.state, subscription.digests, subscription.alerts, list(texts)


def test_group_events_from_sendgrid_switch_the_digest(database: Database, data_dir: Path) -> None:
    digest_id, _ = edition_with_readers(database, 3)
    with database.session() as session:
        publication_id = session.scalar(select(Digest.publication_id).where(Digest.id == digest_id))
        session.execute(
            update(Publication)
            .where(Publication.id == publication_id)
            .values(digest_group_id=DIGEST_GROUP, alert_group_id=ALERT_GROUP)
        )
        session.execute(update(Subscription).values(alerts=True))
    with SendGridTestServer() as server:
        dispatch(database, digest_id, sendgrid(server), base_url=BASE_URL, tokens=tokens())
        assert server.accepted, "the test server accepted the requests, asm and all"
        assert {request.payload["asm"]["group_id"] for request in server.accepted} == {DIGEST_GROUP}
        left = server.events("group_unsubscribe", addresses=["reader1@example.org"])
        rejoined = server.events("group_resubscribe", addresses=["reader2@example.org"])
        assert [event["asm_group_id"] for event in left + rejoined] == [DIGEST_GROUP] * 2
        with webhook(database, server, data_dir) as client:
            for _ in range(2):  # SendGrid retries a post whose answer it did not get
                answer = post_events(client, server, left + rejoined)
                assert answer.status_code == 200, answer.text
        apply_pending(database)
    state, digests, alerts, texts = _reader(database, "reader1@example.org")
    assert (state, digests, alerts) == (SubscriptionState.CONFIRMED, False, True)
    assert texts == [f"left the digest (SendGrid group_unsubscribe event, group {DIGEST_GROUP})"]
    # Reader 2 already had the digest: nothing changes and nothing is recorded.
    assert _reader(database, "reader2@example.org") == (SubscriptionState.CONFIRMED, True, True, [])
