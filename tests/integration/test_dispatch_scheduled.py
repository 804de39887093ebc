"""Sending ahead under cancellable batch ids, through the real adapter and the test server.

The server's clock is the ledger's clock here (``ServerClock``), so moving it past a
send_at releases the held mail at the server and lets reconciliation release it in the
ledger, without waiting fifteen minutes.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from newsletter.db import Database
from newsletter.delivery import scheduling, services, settling
from newsletter.delivery.models import Delivery, GroupState, ProviderGroup, SendBatch
from newsletter.delivery.reconcile import DEFAULT_WINDOW
from newsletter.delivery.report import delivery_report
from newsletter.delivery.services import DispatchOptions
from newsletter.digests.models import Digest
from newsletter.pipeline import cancel as pipeline_cancel
from newsletter.pipeline.dispatch import dispatch
from newsletter.providers.sendgrid import SendGridSender
from newsletter.schedules.models import EditionKind, EditionState, ScheduledEdition
from newsletter.sendgrid_testserver.server import Endpoint, Fault, SendGridTestServer
from tests.unit.newsletter.delivery.dispatch_factories import (
    BASE_URL,
    batch_states,
    edition_with_readers,
    states,
    tokens,
)

LEAD = timedelta(minutes=15)


@pytest.fixture
def server() -> Iterator[SendGridTestServer]:
    """A SendGrid test server on 127.0.0.1 with a clock tests can move."""
    with SendGridTestServer() as running:
        yield running


class ServerClock:
    """The ledger's clock, read from the test server's (so ``advance`` moves both)."""

    def __init__(self, server: SendGridTestServer) -> None:
        self.server = server

    def __call__(self) -> datetime:
        return datetime.fromtimestamp(self.server.now(), UTC)


def sendgrid(server: SendGridTestServer) -> SendGridSender:
    return SendGridSender(server.api_key, host=server.url, timeout=2)


def send_ahead(
    database: Database, digest_id: int, server: SendGridTestServer, deliver_at: datetime
) -> str:
    report = dispatch(
        database,
        digest_id,
        sendgrid(server),
        base_url=BASE_URL,
        tokens=tokens(),
        options=DispatchOptions(batch_size=10),
        clock=ServerClock(server),
        deliver_at=deliver_at,
    )
    return report.state


def deliver(database: Database, server: SendGridTestServer, at: datetime) -> None:
    """Move the clock to ``at`` and run the tick's reconciliation there."""
    server.advance(max(0.0, (at - ServerClock(server)()).total_seconds()))
    services.reconcile(database, clock=lambda: at, sender=sendgrid(server))


def group_states(database: Database) -> list[str]:
    with database.session() as session:
        rows = session.scalars(select(ProviderGroup.state).order_by(ProviderGroup.id))
        return [state.value for state in rows]


def test_requests_sent_ahead_are_held_until_the_delivery_instant(
    any_database: Database, server: SendGridTestServer
) -> None:
    """Every request carries send_at and its own batch id; nobody gets mail before the instant."""
    digest_id, _ = edition_with_readers(any_database, 25)
    deliver_at = ServerClock(server)() + LEAD
    assert send_ahead(any_database, digest_id, server, deliver_at) == "sending"
    assert states(any_database, digest_id) == {"scheduled": 25}
    assert batch_states(any_database, digest_id) == ["scheduled"] * 3
    payloads = [request.payload for request in server.accepted]
    assert {p["send_at"] for p in payloads} == {int(deliver_at.timestamp())}
    assert len({p["batch_id"] for p in payloads}) == 3
    assert server.delivered_recipients() == {}
    deliver(any_database, server, deliver_at - timedelta(seconds=1))
    assert states(any_database, digest_id) == {"scheduled": 25}
    deliver(any_database, server, deliver_at + timedelta(seconds=1))
    assert set(server.delivered_recipients().values()) == {1}
    assert len(server.delivered_recipients()) == 25
    assert states(any_database, digest_id) == {"accepted": 25}
    with any_database.session() as session:
        assert delivery_report(session, digest_id).state == "sent"
    assert group_states(any_database) == ["released"] * 3


def test_lost_answer_is_cancelled_and_sent_again_under_a_new_batch_id(
    any_database: Database, server: SendGridTestServer
) -> None:
    """A request accepted but unanswered is cancelled, confirmed and resent: one copy each."""
    digest_id, _ = edition_with_readers(any_database, 25)
    deliver_at = ServerClock(server)() + LEAD
    server.inject(Fault.DROP_AFTER_ACCEPT, on=Endpoint.MAIL_SEND)
    assert send_ahead(any_database, digest_id, server, deliver_at) == "sending"
    assert sorted(group_states(any_database)) == ["cancelled", "open", "open", "open"]
    assert list(server.batch_statuses().values()) == ["cancel"]
    assert states(any_database, digest_id) == {"scheduled": 25}
    assert len(server.accepted) == 4  # the lost request is at the server, held
    deliver(any_database, server, deliver_at + timedelta(seconds=1))
    delivered = server.delivered_recipients()
    assert len(delivered) == 25
    assert set(delivered.values()) == {1}
    assert sum(server.discarded_recipients().values()) == 10
    with any_database.session() as session:
        report = delivery_report(session, digest_id)
        resends = session.scalar(select(SendBatch.resends).where(SendBatch.number == 1))
    assert report.state == "sent"
    assert report.by_state == {"accepted": 25}
    assert resends == 1
    assert report.deliver_at == deliver_at
    assert report.cancelled_ids == 1
    assert report.as_dict()["guarantee"].startswith("scheduled")


def test_cancel_that_fails_is_retried_on_the_next_tick(
    any_database: Database, server: SendGridTestServer
) -> None:
    """If the provider cannot take the cancel at once, the group waits and the next pass cancels."""
    digest_id, _ = edition_with_readers(any_database, 5)
    clock = ServerClock(server)
    deliver_at = clock() + LEAD
    server.inject(Fault.DROP_AFTER_ACCEPT, on=Endpoint.MAIL_SEND)
    server.inject(Fault.SERVER_ERROR, count=2, on=Endpoint.SCHEDULED_SENDS)
    assert send_ahead(any_database, digest_id, server, deliver_at) == "sending"
    assert group_states(any_database) == ["cancelling"]
    assert batch_states(any_database, digest_id) == ["unknown"]
    pending = services.reconcile(any_database, clock=clock, sender=sendgrid(server))
    assert pending == [digest_id]
    assert group_states(any_database) == ["cancelled"]
    assert send_ahead(any_database, digest_id, server, deliver_at) == "sending"
    deliver(any_database, server, deliver_at + timedelta(seconds=1))
    delivered = server.delivered_recipients()
    assert len(delivered) == 5
    assert set(delivered.values()) == {1}


def test_lost_answer_too_close_to_the_instant_waits_for_events_after_it(
    any_database: Database, server: SendGridTestServer
) -> None:
    """Past the cancel cutoff a lost answer is never resent before the send_at plus the window."""
    digest_id, _ = edition_with_readers(any_database, 5)
    clock = ServerClock(server)
    deliver_at = clock() + timedelta(minutes=5)  # inside SendGrid's ten-minute cutoff
    server.inject(Fault.DROP_AFTER_ACCEPT, on=Endpoint.MAIL_SEND)
    assert send_ahead(any_database, digest_id, server, deliver_at) == "sending"
    assert group_states(any_database) == ["open"]
    assert server.batch_statuses() == {}
    with any_database.session() as session:
        report = delivery_report(session, digest_id)
    assert report.uncancellable == 1
    assert "too close to the instant" in report.guarantee
    later = deliver_at + DEFAULT_WINDOW - timedelta(seconds=1)
    deliver(any_database, server, later)
    assert batch_states(any_database, digest_id) == ["unknown"]
    assert group_states(any_database) == ["released"]
    # Without any event (none was posted here) the weaker policy resends once, after the window.
    pending = services.reconcile(
        any_database, clock=lambda: deliver_at + DEFAULT_WINDOW, sender=sendgrid(server)
    )
    assert pending == [digest_id]


def test_cancels_stop_at_the_providers_limit_of_ten(any_database: Database) -> None:
    """With ten batch ids held cancelled, a further lost answer waits instead of an eleventh."""
    now = datetime(2026, 12, 3, 6, 0, tzinfo=UTC)
    digest_id, _ = edition_with_readers(any_database, 1)
    with any_database.session() as session:
        for number in range(11):
            session.add(
                ProviderGroup(
                    digest_id=digest_id,
                    provider_batch_id=f"held-{number}",
                    send_at=now + LEAD,
                    state=GroupState.CANCELLED if number < 10 else GroupState.CANCELLING,
                    created_at=now,
                    updated_at=now,
                )
            )
    with any_database.session() as session:
        assert settling.cancels_in_use(session) == 10

    class Refusing:
        def send_batch(self, batch: object) -> object:
            raise AssertionError("no mail is sent here")

        def create_batch_id(self) -> str:
            raise AssertionError("no batch id is made here")

        def cancel_batch(self, batch_id: str) -> None:
            raise AssertionError(f"an eleventh cancel was asked for: {batch_id}")

        def batch_status(self, batch_id: str) -> str | None:
            raise AssertionError("nothing to read")

        def lift_batch(self, batch_id: str) -> None:
            raise AssertionError("nothing to lift")

    settled = settling.settle(any_database, Refusing(), now=now)  # type: ignore[arg-type]
    assert settled.cancelled == 0
    assert group_states(any_database)[-1] == "cancelling"


def test_cancelled_batch_id_is_lifted_an_hour_after_its_send_at(
    database: Database, server: SendGridTestServer
) -> None:
    """Once its mail was discarded, a cancel is lifted to give the provider's budget back."""
    digest_id, _ = edition_with_readers(database, 3)
    clock = ServerClock(server)
    deliver_at = clock() + LEAD
    server.inject(Fault.DROP_AFTER_ACCEPT, on=Endpoint.MAIL_SEND)
    send_ahead(database, digest_id, server, deliver_at)
    assert list(server.batch_statuses().values()) == ["cancel"]
    deliver(database, server, deliver_at + settling.LIFT_AFTER - timedelta(seconds=1))
    assert list(server.batch_statuses().values()) == ["cancel"]
    deliver(database, server, deliver_at + settling.LIFT_AFTER)
    assert server.batch_statuses() == {}
    assert sum(server.delivered_recipients().values()) == 3
    with database.session() as session:
        assert settling.cancels_in_use(session) == 0


def test_refused_cancel_falls_back_to_event_reconciliation(
    database: Database, server: SendGridTestServer
) -> None:
    """A cancel the provider refuses for good leaves the request to events, with the reason kept."""
    digest_id, _ = edition_with_readers(database, 3)
    deliver_at = ServerClock(server)() + LEAD
    server.inject(Fault.DROP_AFTER_ACCEPT, on=Endpoint.MAIL_SEND)
    # Ten batch ids already held cancelled by someone else on the account.
    for _ in range(10):
        batch_id = server.create_batch()
        sendgrid(server).cancel_batch(batch_id)
    send_ahead(database, digest_id, server, deliver_at)
    with database.session() as session:
        group = session.scalars(select(ProviderGroup)).one()
    assert group.state is GroupState.RELEASED
    assert group.error is not None
    assert "could not be cancelled" in group.error
    assert batch_states(database, digest_id) == ["unknown"]


def test_unconfirmed_cancel_gives_up_at_the_cutoff(
    database: Database, server: SendGridTestServer
) -> None:
    """A cancel still unconfirmed when the cutoff comes is released, never resent early."""
    digest_id, _ = edition_with_readers(database, 2)
    clock = ServerClock(server)
    deliver_at = clock() + LEAD
    server.inject(Fault.DROP_AFTER_ACCEPT, on=Endpoint.MAIL_SEND)
    server.inject(Fault.SERVER_ERROR, count=2, on=Endpoint.SCHEDULED_SENDS)
    send_ahead(database, digest_id, server, deliver_at)
    assert group_states(database) == ["cancelling"]
    cutoff = scheduling.cancellable_until(deliver_at)
    services.reconcile(database, clock=lambda: cutoff, sender=sendgrid(server))
    assert group_states(database) == ["released"]
    assert batch_states(database, digest_id) == ["unknown"]


def _edition_for(database: Database, digest_id: int, due_at: datetime) -> int:
    """A started scheduled edition owning the digest, as the tick leaves it."""
    with database.session() as session:
        edition = ScheduledEdition(
            publication_id=session.scalars(select(Digest.publication_id)).one(),
            edition_date=session.scalars(select(Digest.edition_date)).one(),
            due_at=due_at,
            kind=EditionKind.ONCE,
            state=EditionState.STARTED,
            digest_id=digest_id,
        )
        session.add(edition)
        session.flush()
        return edition.id


def test_cancelled_edition_is_withdrawn_from_the_provider(
    any_database: Database, server: SendGridTestServer
) -> None:
    """An editor's cancel during the lead recalls every request sent ahead: nobody gets it."""
    digest_id, _ = edition_with_readers(any_database, 25)
    clock = ServerClock(server)
    deliver_at = clock() + LEAD
    edition_id = _edition_for(any_database, digest_id, deliver_at)
    send_ahead(any_database, digest_id, server, deliver_at)
    with any_database.session() as session:
        result = pipeline_cancel.cancel(session, edition_id, now=clock())
    assert (result.withdrawing, result.unstoppable) == (3, 0)
    assert group_states(any_database) == ["withdrawing"] * 3
    services.reconcile(any_database, clock=clock, sender=sendgrid(server))
    assert group_states(any_database) == ["withdrawn"] * 3
    assert set(server.batch_statuses().values()) == {"cancel"}
    deliver(any_database, server, deliver_at + timedelta(seconds=1))
    assert server.delivered_recipients() == {}
    assert sum(server.discarded_recipients().values()) == 25
    with any_database.session() as session:
        report = delivery_report(session, digest_id)
    assert report.state == "failed"
    assert report.by_state == {"failed": 25}
    with any_database.session() as session:
        errors = set(session.scalars(select(Delivery.last_error)))
    assert len(errors) == 3
    assert all((error or "").startswith("cancelled by an editor") for error in errors)


def test_cancel_past_the_cutoff_says_what_will_still_go_out(
    database: Database, server: SendGridTestServer
) -> None:
    """Requests past the provider's cancel cutoff are counted as unstoppable, and do go out."""
    digest_id, _ = edition_with_readers(database, 25)
    clock = ServerClock(server)
    deliver_at = clock() + timedelta(minutes=5)
    edition_id = _edition_for(database, digest_id, deliver_at)
    send_ahead(database, digest_id, server, deliver_at)
    with database.session() as session:
        result = pipeline_cancel.cancel(session, edition_id, now=clock())
    assert (result.withdrawing, result.unstoppable) == (0, 3)
    deliver(database, server, deliver_at + timedelta(seconds=1))
    assert sum(server.delivered_recipients().values()) == 25
    with database.session() as session:
        assert delivery_report(session, digest_id).state == "sent"
