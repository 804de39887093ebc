"""Batches nobody recorded are found, confirmed by events, or resent once after the window."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from newsletter.db import Database
from newsletter.delivery import ledger, services
from newsletter.delivery.models import SendBatch
from newsletter.delivery.reconcile import (
    DEFAULT_WINDOW,
    NOT_STARTED,
    UNKNOWN_TWICE,
    expire_leases,
)
from newsletter.delivery.report import delivery_report
from newsletter.delivery.services import DispatchOptions
from newsletter.errors import OutcomeUnknownError
from newsletter.pipeline import dispatch as pipeline
from newsletter.pipeline.steps import plan
from newsletter.providers.memory import MemorySender
from tests.unit.newsletter.delivery.dispatch_factories import (
    BASE_URL,
    NOW,
    batch_states,
    edition_with_readers,
    states,
    tokens,
)
from tests.unit.newsletter.delivery.test_services import Scripted, raise_

LEASE = timedelta(minutes=5)


def dispatch(database: Database, digest_id: int, sender: object, at: object = NOW) -> str:
    report = pipeline.dispatch(
        database,
        digest_id,
        sender,  # type: ignore[arg-type]
        base_url=BASE_URL,
        tokens=tokens(),
        clock=lambda: at,  # type: ignore[arg-type,return-value]
    )
    return report.state


def _claim(database: Database, digest_id: int) -> ledger.Claim:
    plan(database, digest_id, clock=lambda: NOW)
    with database.session() as session:
        batch_id = ledger.next_due_batch(session, digest_id, NOW)
        assert batch_id is not None
        claim = ledger.claim_batch(session, batch_id, now=NOW, lease=LEASE)
    assert claim is not None
    return claim


def test_stale_claim_becomes_unknown(any_database: Database) -> None:
    """A batch left sending past its lease after its request started is unknown, not resent."""
    digest_id, _ = edition_with_readers(any_database, 2)
    claim = _claim(any_database, digest_id)
    with any_database.session() as session:
        assert ledger.mark_started(session, claim, now=NOW)
    with any_database.session() as session:
        assert expire_leases(session, now=NOW + LEASE - timedelta(seconds=1)) == []
        assert expire_leases(session, now=NOW + LEASE + timedelta(seconds=1)) == [digest_id]
    assert batch_states(any_database, digest_id) == ["unknown"]


def test_claim_that_never_started_is_planned_again_when_its_lease_ends(
    any_database: Database,
) -> None:
    """A worker that died before calling the provider frees its batch at the lease, not later."""
    digest_id, _ = edition_with_readers(any_database, 2)
    _claim(any_database, digest_id)
    with any_database.session() as session:
        assert expire_leases(session, now=NOW + LEASE + timedelta(seconds=1)) == [digest_id]
    assert batch_states(any_database, digest_id) == ["planned"]
    assert states(any_database, digest_id) == {"queued": 2}
    with any_database.session() as session:
        assert ledger.next_due_batch(session, digest_id, NOW + LEASE) is not None
    sender = MemorySender()
    assert dispatch(any_database, digest_id, sender, NOW + LEASE + LEASE) == "sent"
    assert len(sender.sent) == 2


def test_a_lost_claim_cannot_be_marked_started(database: Database) -> None:
    """A worker whose claim was released must not mark (and then make) the request."""
    digest_id, _ = edition_with_readers(database, 1)
    claim = _claim(database, digest_id)
    with database.session() as session:
        expire_leases(session, now=NOW + LEASE + timedelta(seconds=1))
    with database.session() as session:
        assert not ledger.mark_started(session, claim, now=NOW + LEASE)
        assert session.scalar(select(SendBatch.error)) == NOT_STARTED


def test_unconfirmed_batch_is_resent_once_after_the_window(any_database: Database) -> None:
    """Without any event within the window, an unknown batch is sent again, exactly once."""
    digest_id, _ = edition_with_readers(any_database, 2)
    sender = Scripted(raise_(OutcomeUnknownError("no answer")))
    assert dispatch(any_database, digest_id, sender) == "sending"
    early = NOW + DEFAULT_WINDOW - timedelta(seconds=1)
    assert services.reconcile(any_database, clock=lambda: early) == []
    assert batch_states(any_database, digest_id) == ["unknown"]
    late = NOW + DEFAULT_WINDOW
    assert services.reconcile(any_database, clock=lambda: late) == [digest_id]
    assert states(any_database, digest_id) == {"queued": 2}
    assert dispatch(any_database, digest_id, sender, late) == "sent"
    assert len(sender.memory.sent) == 2


def test_second_unknown_outcome_gives_up(database: Database) -> None:
    """A batch unknown again after its one resend fails with a clear reason, not a third try."""
    digest_id, _ = edition_with_readers(database, 1)
    sender = Scripted(*[raise_(OutcomeUnknownError("no answer")) for _ in range(2)])
    dispatch(database, digest_id, sender)
    late = NOW + DEFAULT_WINDOW
    services.reconcile(database, clock=lambda: late)
    dispatch(database, digest_id, sender, late)
    later = late + DEFAULT_WINDOW
    assert services.reconcile(database, clock=lambda: later) == []
    with database.session() as session:
        report = delivery_report(session, digest_id)
    assert report.state == "failed"
    assert report.by_state == {"failed": 1}
    assert sender.calls == 2
    from sqlalchemy import select

    from newsletter.delivery.models import Delivery

    with database.session() as session:
        assert session.scalar(select(Delivery.last_error)) == UNKNOWN_TWICE


def test_reconcile_with_nothing_to_do(database: Database) -> None:
    """A reconciliation pass over a finished edition changes nothing."""
    digest_id, _ = edition_with_readers(database, 1)
    dispatch(database, digest_id, MemorySender())
    assert services.reconcile(database, clock=lambda: NOW + timedelta(days=1)) == []
    assert batch_states(database, digest_id) == ["accepted"]


def test_zero_window_resends_at_once(database: Database) -> None:
    """A custom window is honoured: zero means resend at the first pass."""
    digest_id, _ = edition_with_readers(database, 1)
    sender = Scripted(raise_(OutcomeUnknownError("no answer")))
    dispatch(database, digest_id, sender)
    assert services.reconcile(database, window=timedelta(0), clock=lambda: NOW) == [digest_id]
    options = DispatchOptions()
    report = pipeline.dispatch(
        database, digest_id, sender, base_url=BASE_URL, tokens=tokens(), options=options
    )
    assert report.state == "sent"


class _Replacing(Scripted):
    """A scripted provider whose resends replace what an earlier attempt left (the outbox)."""

    resends_replace = True


def test_a_provider_whose_resends_replace_is_asked_again_at_once_and_as_often_as_needed(
    database: Database,
) -> None:
    """The outbox cannot make a second copy: an unknown batch goes again at once, every time."""
    digest_id, _ = edition_with_readers(database, 2)
    lost = [raise_(OutcomeUnknownError("killed mid-write")) for _ in range(3)]
    sender = _Replacing(*lost)
    for attempt in range(3):
        assert dispatch(database, digest_id, sender) == "sending", attempt
        assert batch_states(database, digest_id) == ["unknown"]
        # No window to wait for, and no limit of one resend.
        assert services.reconcile(database, clock=lambda: NOW, sender=sender) == [digest_id]
        assert states(database, digest_id) == {"queued": 2}
    assert dispatch(database, digest_id, sender) == "sent"
    assert sender.calls == 4
    assert len(sender.memory.sent) == 2
