"""Pipeline steps on their own: stopping for cancelled or late editions, skipping, nudging."""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.orm import Session

from newsletter.db import Database
from newsletter.delivery import ledger
from newsletter.delivery.models import BatchState, SendBatch
from newsletter.delivery.recording import record_retry
from newsletter.digests.models import DigestState
from newsletter.digests.services import EmbargoPending, assemble_digest, get_digest
from newsletter.errors import TransitionError
from newsletter.pipeline import batches, steps, tick
from newsletter.pipeline import cancel as pipeline_cancel
from newsletter.providers.interfaces import Batch, SendResult
from newsletter.providers.memory import MemorySender
from newsletter.publishing import changes
from newsletter.publishing.models import ChangeState
from newsletter.schedules import claim, editions, services
from newsletter.schedules.models import EditionKind, EditionState, ScheduledEdition
from subscribers.tokens import Tokens
from tests.unit.newsletter.schedules import seed

WINDOW = timedelta(hours=3)
NOW = datetime(2026, 3, 4, 7, 5, tzinfo=UTC)
LEASE = timedelta(minutes=1)


def started(database: Database, *, briefings: int = 2, readers: int = 0) -> int:
    """A publication whose 07:00 edition today was just started; returns the edition id."""
    with database.session() as session:
        pub = seed.publication(session, briefings=briefings, created=NOW - timedelta(hours=1))
        seed.readers(session, pub, readers)
        return claim.claim_due(session, NOW, window=WINDOW).started[0]


def test_unknown_or_empty_edition_stops_at_assembly(database: Database) -> None:
    """No edition, or an edition without approved briefings (skipped), renders nothing."""
    edition_id = started(database, briefings=0)
    with database.session() as session:
        assert steps.assemble_step(session, 999, now=NOW, window=WINDOW) is None
        assert steps.assemble_step(session, edition_id, now=NOW, window=WINDOW) is None
        edition = editions.get_edition(session, edition_id)
        assert edition.digest_id is not None
        assert get_digest(session, edition.digest_id).state is DigestState.SKIPPED


def test_late_render_marks_edition_and_digest_missed(database: Database) -> None:
    """A step that runs past the window marks the edition and its digest missed."""
    edition_id = started(database)
    with database.session() as session:
        digest_id = steps.assemble_step(session, edition_id, now=NOW, window=WINDOW)
        assert digest_id is not None
        late = NOW + WINDOW + timedelta(minutes=1)
        assert steps.render_step(session, digest_id, now=late, window=WINDOW) is False
        assert get_digest(session, digest_id).state is DigestState.MISSED
        edition = editions.get_edition(session, edition_id)
        assert edition.state is EditionState.MISSED
        assert (edition.reason or "").startswith("not sent within 3:00:00")
        assert steps.publish_step(session, digest_id, now=late, window=WINDOW) is None


def test_cancelled_edition_stops_every_later_step(database: Database) -> None:
    """After a cancel, render and publish do nothing."""
    edition_id = started(database)
    with database.session() as session:
        digest_id = steps.assemble_step(session, edition_id, now=NOW, window=WINDOW)
        assert digest_id is not None
        pipeline_cancel.cancel(session, edition_id, now=NOW)
        assert steps.render_step(session, digest_id, now=NOW, window=WINDOW) is False
        assert get_digest(session, digest_id).state is DigestState.CANCELLED


def test_hand_assembled_digest_runs_without_an_edition(database: Database) -> None:
    """A digest the scheduler did not start still renders and publishes (no freshness rule)."""
    with database.session() as session:
        pub = seed.publication(session)
        digest = assemble_digest(session, pub, NOW.date(), now=NOW).digest
        late = NOW + timedelta(days=2)
        assert steps.render_step(session, digest.id, now=late, window=WINDOW) is True
        published = steps.publish_step(session, digest.id, now=late, window=WINDOW)
        assert published is not None
        assert published.slug == "morning"
        assert "https://news.example.org/p/morning/feeds/editions/rss.xml" in published.feed_urls
        assert steps.render_step(session, digest.id, now=late, window=WINDOW) is True


def test_late_edition_already_sending_is_finished(database: Database) -> None:
    """Once sending began, lateness no longer stops the edition."""
    edition_id = started(database, readers=3)
    digest_id = ready_to_plan(database, edition_id)
    first = steps.plan_step(database, digest_id, now=NOW, window=WINDOW, batch_size=2)
    late = NOW + timedelta(hours=5)
    again = steps.plan_step(database, digest_id, now=late, window=WINDOW, batch_size=2)
    assert len(first) == 2
    assert again == first
    sender = MemorySender()
    tokens = Tokens("steps-test-secret-0123456789abcdef0123")
    outcomes = [
        batches.send_batch_step(
            database,
            batch_id,
            sender,
            now=late,
            base_url="https://x.test",
            tokens=tokens,
            lease=LEASE,
        )
        for batch_id in first
    ]
    # Only the batch that settled last says it is time to finalise.
    assert outcomes == [batches.BatchOutcome(digest_id), batches.BatchOutcome(digest_id, last=True)]
    assert len(sender.sent) == 3
    with database.session() as session:
        assert steps.finalise_step(session, digest_id) is DigestState.SENT
        assert tick.stalled(session, late, timedelta(0)) == []


def test_a_batch_is_sent_with_the_cycle_collector_paused(database: Database) -> None:
    """The provider call runs inside ``gcpause`` (a batch's objects die young); after it, not."""
    edition_id = started(database, readers=2)
    digest_id = ready_to_plan(database, edition_id)
    (batch_id,) = steps.plan_step(database, digest_id, now=NOW, window=WINDOW, batch_size=5)
    collecting: list[bool] = []

    class Watching(MemorySender):
        def send_batch(self, batch: Batch) -> SendResult:
            collecting.append(gc.isenabled())
            return super().send_batch(batch)

    tokens = Tokens("steps-test-secret-0123456789abcdef0123")
    kwargs = {"base_url": "https://x.test", "tokens": tokens, "lease": LEASE}
    assert gc.isenabled()
    outcome = batches.send_batch_step(database, batch_id, Watching(), now=NOW, **kwargs)
    assert outcome == batches.BatchOutcome(digest_id, last=True)
    assert collecting == [False]
    assert gc.isenabled()


def test_send_batch_step_skips_gone_and_postponed_batches(database: Database) -> None:
    """A batch gone, sent or not yet due gives None and no retry message; the tick sends it."""
    edition_id = started(database, readers=2)
    digest_id = ready_to_plan(database, edition_id)
    (batch_id,) = steps.plan_step(database, digest_id, now=NOW, window=WINDOW, batch_size=5)
    with database.session() as session:
        assert tick.due_batches(session, NOW, timedelta(minutes=5)) == [batch_id]
        batch = session.get(SendBatch, batch_id)
        assert batch is not None
        batch.not_before = NOW + timedelta(seconds=30)
        batch.updated_at = NOW  # as a retry recorded on this test's clock would
        nudges = tick.stalled(session, NOW + timedelta(seconds=10), timedelta(0))
        assert nudges == []  # postponed, not stalled
    sender = MemorySender()
    tokens = Tokens("steps-test-secret-0123456789abcdef0123")
    kwargs = {"base_url": "https://x.test", "tokens": tokens, "lease": LEASE}
    assert batches.send_batch_step(database, batch_id, sender, now=NOW, **kwargs) is None
    with database.session() as session:  # its message came early: none is out for it now
        assert session.get(SendBatch, batch_id).enqueued_for is None  # type: ignore[union-attr]
        assert tick.due_batches(session, NOW + timedelta(seconds=10), timedelta(minutes=5)) == []
    assert batches.send_batch_step(database, 999, sender, now=NOW, **kwargs) is None
    later = NOW + timedelta(minutes=1)
    with database.session() as session:
        assert tick.due_batches(session, later, timedelta(minutes=5)) == [batch_id]
        assert tick.due_batches(session, later, timedelta(minutes=5)) == []  # already out
    assert batches.send_batch_step(database, batch_id, sender, now=later, **kwargs) is not None
    assert batches.send_batch_step(database, batch_id, sender, now=later, **kwargs) is None
    with database.session() as session:
        assert tick.stalled(session, later, timedelta(0)) == [tick.Nudge("finalise", digest_id)]


def ready_to_plan(database: Database, edition_id: int) -> int:
    """Assemble, render and publish a started edition; returns its digest id."""
    with database.session() as session:
        digest_id = steps.assemble_step(session, edition_id, now=NOW, window=WINDOW)
        assert digest_id is not None
        assert steps.render_step(session, digest_id, now=NOW, window=WINDOW) is True
        assert steps.publish_step(session, digest_id, now=NOW, window=WINDOW) is not None
        return digest_id


def test_publish_step_records_its_public_change_and_writes_no_files(
    database: Database, tmp_path: Path
) -> None:
    """Publishing changes the state and records the public change; files come with the flush."""
    edition_id = started(database)
    with database.session() as session:
        digest_id = steps.assemble_step(session, edition_id, now=NOW, window=WINDOW)
        assert digest_id is not None
        steps.render_step(session, digest_id, now=NOW, window=WINDOW)
        published = steps.publish_step(session, digest_id, now=NOW, window=WINDOW)
        assert published is not None
        assert get_digest(session, digest_id).state is DigestState.PUBLISHED
        [(slug, change)] = changes.list_changes(session)
        assert (slug, change.feed_urls) == ("morning", published.feed_urls)
        # Run again, the step finds the edition published and records nothing new.
        assert steps.publish_step(session, digest_id, now=NOW, window=WINDOW) == published
        assert len(changes.list_changes(session)) == 1
    assert list(tmp_path.rglob("*.xml")) == []
    [outcome] = changes.flush(database, tmp_path, None)
    assert outcome.state is ChangeState.DONE
    feeds = tmp_path / "p" / "morning" / "feeds" / "editions"
    assert (feeds / "atom.xml").read_bytes().startswith(b"<?xml")


def test_publish_step_waits_for_an_embargo(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An edition under embargo stays rendered, with no public change, until a later nudge."""
    edition_id = started(database)
    with database.session() as session:
        digest_id = steps.assemble_step(session, edition_id, now=NOW, window=WINDOW)
        assert digest_id is not None
        steps.render_step(session, digest_id, now=NOW, window=WINDOW)

    def embargoed(*args: Any, **kwargs: Any) -> None:
        raise EmbargoPending("under embargo", until=NOW + timedelta(hours=1))

    monkeypatch.setattr(steps, "publish_digest", embargoed)
    with database.session() as session:
        assert steps.publish_step(session, digest_id, now=NOW, window=WINDOW) is None
        assert get_digest(session, digest_id).state is DigestState.RENDERED
        assert changes.list_changes(session) == []


def test_publish_rolled_back_drops_its_public_change(database: Database) -> None:
    """A publish whose transaction rolls back leaves no pending public change behind."""
    edition_id = started(database)
    with database.session() as session:
        digest_id = steps.assemble_step(session, edition_id, now=NOW, window=WINDOW)
        assert digest_id is not None
        steps.render_step(session, digest_id, now=NOW, window=WINDOW)

    def publish_then_fail() -> None:
        with database.session() as session:
            assert steps.publish_step(session, digest_id, now=NOW, window=WINDOW) is not None
            raise RuntimeError("the commit failed")

    with pytest.raises(RuntimeError):
        publish_then_fail()
    with database.session() as session:
        assert changes.list_changes(session, finished=True) == []


def test_sending_an_unpublished_edition_records_its_public_change(database: Database) -> None:
    """Planning a rendered edition makes it public and records that; planning again does not."""
    edition_id = started(database)
    with database.session() as session:
        digest_id = steps.assemble_step(session, edition_id, now=NOW, window=WINDOW)
        assert digest_id is not None
        steps.render_step(session, digest_id, now=NOW, window=WINDOW)
    steps.plan(database, digest_id, clock=lambda: NOW)
    steps.plan(database, digest_id, clock=lambda: NOW)
    with database.session() as session:
        [(slug, change)] = changes.list_changes(session)
        assert slug == "morning"
        assert change.reason.startswith("edition sent: ")
        assert any(url.endswith("/feeds/editions/rss.xml") for url in change.feed_urls)


def finished_editions(database: Database, days: range) -> None:
    """Editions of the past, started by the scheduler and long since sent."""
    with database.session() as session:
        pub = services.get_publication(session, "morning")
        for offset in days:
            day = date(2026, 1, 1) + timedelta(days=offset)
            due_at = datetime.combine(day, pub.send_time, tzinfo=UTC)
            digest = assemble_digest(session, pub, day, now=due_at).digest
            digest.state = DigestState.SENT
            session.add(
                ScheduledEdition(
                    publication=pub,
                    edition_date=day,
                    due_at=due_at,
                    kind=EditionKind.RECURRING,
                    state=EditionState.STARTED,
                    digest_id=digest.id,
                    started_at=due_at,
                )
            )


def statements(database: Database, run: Callable[[Session], Any]) -> tuple[int, Any]:
    """How many SQL statements ``run`` sends on a fresh session, and what it returned."""
    count = 0

    def counted(*_args: Any) -> None:
        nonlocal count
        count += 1

    event.listen(database.engine, "before_cursor_execute", counted)
    try:
        with database.session() as session:
            result = run(session)
    finally:
        event.remove(database.engine, "before_cursor_execute", counted)
    return count, result


def test_stalled_costs_the_same_however_many_editions_went_out(database: Database) -> None:
    """The tick's stall check sends a fixed number of statements as sent editions pile up."""
    edition_id = started(database)
    with database.session() as session:
        digest_id = steps.assemble_step(session, edition_id, now=NOW, window=WINDOW)
        assert digest_id is not None
        get_digest(session, digest_id).updated_at = NOW
    later = NOW + timedelta(minutes=5)

    def check(session: Session) -> list[tick.Nudge]:
        return tick.stalled(session, later, timedelta(minutes=1))

    finished_editions(database, range(3))
    few, nudged = statements(database, check)
    finished_editions(database, range(3, 30))
    many, nudged_again = statements(database, check)
    assert nudged == nudged_again == [tick.Nudge("render", digest_id)]
    assert many == few


def test_stalled_nudges_an_edition_whose_assembly_was_lost(database: Database) -> None:
    """A started edition with no digest after the stall time is assembled again."""
    edition_id = started(database)
    with database.session() as session:
        assert tick.stalled(session, NOW, timedelta(minutes=1)) == []
        nudges = tick.stalled(session, NOW + timedelta(minutes=2), timedelta(minutes=1))
        assert nudges == [tick.Nudge("assemble", edition_id)]


def lock_waits(database: Database) -> int:
    """How many connections to the test database wait on a row lock right now."""
    with database.session() as session:
        return int(
            session.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
            or 0
        )


def test_cancel_committed_between_check_and_claim_stops_the_batch(
    pg_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cancel that commits after a worker checked the edition but before it claimed the
    batch still stops that batch: the check and the claim are one locked transaction."""
    database = pg_database
    edition_id = started(database, readers=2)
    digest_id = ready_to_plan(database, edition_id)
    (batch_id,) = steps.plan_step(database, digest_id, now=NOW, window=WINDOW, batch_size=5)
    # Another worker holds the batch while the editor's cancel looks for open batches...
    with database.session() as session:
        held = ledger.claim_batch(session, batch_id, now=NOW, lease=LEASE)
    assert held is not None
    looked, go_on = threading.Event(), threading.Event()
    real_open, real_claim = batches.open_batches, ledger.claim_batch

    def open_then_wait(session: Session, digest: int) -> list[int]:
        found = real_open(session, digest)
        if not looked.is_set():
            looked.set()
            go_on.wait(timeout=30)
        return found

    problems: list[BaseException] = []

    def cancel() -> None:
        try:
            with database.session() as session:
                pipeline_cancel.cancel(session, edition_id, now=NOW)
        except BaseException as exc:  # reported by the assertion below
            problems.append(exc)

    monkeypatch.setattr(batches, "open_batches", open_then_wait)
    canceller = threading.Thread(target=cancel)
    canceller.start()
    assert looked.wait(timeout=30)
    # ...and gives it back (a rate limit) before the cancel commits.
    with database.session() as session:
        assert record_retry(session, held, "429", not_before=NOW, now=NOW)

    def claim_after_cancel(session: Session, batch: int, **kwargs: Any) -> Any:
        if not go_on.is_set():  # the worker got past its check: let the cancel commit now
            go_on.set()
            canceller.join(timeout=30)
        return real_claim(session, batch, **kwargs)

    monkeypatch.setattr(ledger, "claim_batch", claim_after_cancel)
    sender = MemorySender()
    outcomes: list[Any] = []

    def send() -> None:
        try:
            outcomes.append(
                batches.send_batch_step(
                    database,
                    batch_id,
                    sender,
                    now=NOW,
                    base_url="https://x.test",
                    tokens=Tokens("steps-test-secret-0123456789abcdef0123"),
                    lease=LEASE,
                )
            )
        except BaseException as exc:  # reported by the assertion below
            problems.append(exc)

    worker = threading.Thread(target=send)
    worker.start()
    # The worker either reaches its claim (no lock) or waits on the edition row (locked).
    deadline = datetime.now(UTC) + timedelta(seconds=30)
    while not go_on.is_set() and lock_waits(database) == 0:
        assert datetime.now(UTC) < deadline, "the worker neither claimed nor waited"
        go_on.wait(timeout=0.02)
    go_on.set()
    canceller.join(timeout=30)
    worker.join(timeout=30)
    assert problems == []
    assert outcomes == [batches.BatchOutcome(digest_id, last=True)]
    assert sender.sent == []
    with database.session() as session:
        batch = session.get(SendBatch, batch_id)
        assert batch is not None
        assert (batch.state, batch.error) == (BatchState.FAILED, batches.CANCELLED_WHILE_SENDING)


def test_a_cancel_between_the_check_and_planning_is_a_quiet_stop(
    database: Database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The cancel wins the race: planning finds the edition cancelled, plans nobody, no error."""
    edition_id = started(database, readers=3)
    digest_id = ready_to_plan(database, edition_id)
    real_plan = steps.plan

    def cancelled_first(*args: Any, **kwargs: Any) -> Any:
        with database.session() as session:  # an editor's cancel commits just now
            pipeline_cancel.cancel(session, edition_id, now=NOW)
        return real_plan(*args, **kwargs)

    monkeypatch.setattr(steps, "plan", cancelled_first)
    with caplog.at_level("INFO", logger="newsletter.pipeline.steps"):
        assert steps.plan_step(database, digest_id, now=NOW, window=WINDOW, batch_size=2) == []
    assert f"digest {digest_id} stopped (cancelled) before it was planned" in caplog.text
    with database.session() as session:
        assert get_digest(session, digest_id).state is DigestState.CANCELLED
        assert batches.open_batches(session, digest_id) == []


def test_planning_refused_for_another_reason_still_raises(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a stop is quiet: a refusal while the digest is still sendable is a real error."""
    edition_id = started(database, readers=1)
    digest_id = ready_to_plan(database, edition_id)

    def refuses(*args: Any, **kwargs: Any) -> Any:
        raise TransitionError("refused for a reason of its own")

    monkeypatch.setattr(steps, "plan", refuses)
    with pytest.raises(TransitionError, match="reason of its own"):
        steps.plan_step(database, digest_id, now=NOW, window=WINDOW, batch_size=2)
