"""Pipeline steps on their own: stopping for cancelled or late editions, skipping, nudging."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from newsletter.db import Database
from newsletter.delivery.memory import MemorySender
from newsletter.delivery.models import SendBatch
from newsletter.digests.models import DigestState
from newsletter.digests.services import assemble_digest, get_digest
from newsletter.schedules import services, steps
from newsletter.schedules.models import EditionState
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
        return services.claim_due(session, NOW, window=WINDOW).started[0]


def test_unknown_or_empty_edition_stops_at_assembly(database: Database) -> None:
    """No edition, or an edition without approved briefings (skipped), renders nothing."""
    edition_id = started(database, briefings=0)
    with database.session() as session:
        assert steps.assemble_step(session, 999, now=NOW, window=WINDOW) is None
        assert steps.assemble_step(session, edition_id, now=NOW, window=WINDOW) is None
        edition = services.get_edition(session, edition_id)
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
        edition = services.get_edition(session, edition_id)
        assert edition.state is EditionState.MISSED
        assert (edition.reason or "").startswith("not sent within 3:00:00")
        assert steps.publish_step(session, digest_id, now=late, window=WINDOW) is None


def test_cancelled_edition_stops_every_later_step(database: Database) -> None:
    """After a cancel, render and publish do nothing."""
    edition_id = started(database)
    with database.session() as session:
        digest_id = steps.assemble_step(session, edition_id, now=NOW, window=WINDOW)
        assert digest_id is not None
        services.cancel(session, edition_id, now=NOW)
        assert steps.render_step(session, digest_id, now=NOW, window=WINDOW) is False
        assert get_digest(session, digest_id).state is DigestState.CANCELLED


def test_hand_assembled_digest_runs_without_an_edition(database: Database) -> None:
    """A digest the scheduler did not start still renders and publishes (no freshness rule)."""
    with database.session() as session:
        pub = seed.publication(session)
        digest = assemble_digest(session, pub, NOW.date(), now=NOW).digest
        late = NOW + timedelta(days=2)
        assert steps.render_step(session, digest.id, now=late, window=WINDOW) is True
        urls = steps.publish_step(session, digest.id, now=late, window=WINDOW)
        assert urls is not None
        assert "https://news.example.org/p/morning/feeds/editions/rss.xml" in urls
        assert steps.render_step(session, digest.id, now=late, window=WINDOW) is True


def test_late_edition_already_sending_is_finished(database: Database) -> None:
    """Once sending began, lateness no longer stops the edition."""
    edition_id = started(database, readers=3)
    with database.session() as session:
        digest_id = steps.assemble_step(session, edition_id, now=NOW, window=WINDOW)
        assert digest_id is not None
        steps.render_step(session, digest_id, now=NOW, window=WINDOW)
        steps.publish_step(session, digest_id, now=NOW, window=WINDOW)
    first = steps.plan_step(database, digest_id, now=NOW, window=WINDOW, batch_size=2)
    late = NOW + timedelta(hours=5)
    again = steps.plan_step(database, digest_id, now=late, window=WINDOW, batch_size=2)
    assert len(first) == 2
    assert again == first
    sender = MemorySender()
    tokens = Tokens("steps-test-secret-0123456789abcdef0123")
    for batch_id in first:
        outcome = steps.send_batch_step(
            database,
            batch_id,
            sender,
            now=late,
            base_url="https://x.test",
            tokens=tokens,
            lease=LEASE,
        )
        assert outcome == steps.BatchOutcome(digest_id)
    assert len(sender.sent) == 3
    with database.session() as session:
        assert steps.finalise_step(session, digest_id) is DigestState.SENT
        assert steps.stalled(session, late, timedelta(0)) == []


def test_send_batch_step_skips_gone_and_postponed_batches(database: Database) -> None:
    """A batch that is gone or already sent gives None; one not yet due says when to retry."""
    edition_id = started(database, readers=2)
    with database.session() as session:
        digest_id = steps.assemble_step(session, edition_id, now=NOW, window=WINDOW)
        assert digest_id is not None
        steps.render_step(session, digest_id, now=NOW, window=WINDOW)
        steps.publish_step(session, digest_id, now=NOW, window=WINDOW)
    (batch_id,) = steps.plan_step(database, digest_id, now=NOW, window=WINDOW, batch_size=5)
    with database.session() as session:
        batch = session.get(SendBatch, batch_id)
        assert batch is not None
        batch.not_before = NOW + timedelta(seconds=30)
        nudges = steps.stalled(session, NOW + timedelta(seconds=10), timedelta(0))
        assert nudges == []  # postponed, not stalled
    sender = MemorySender()
    tokens = Tokens("steps-test-secret-0123456789abcdef0123")
    kwargs = {"base_url": "https://x.test", "tokens": tokens, "lease": LEASE}
    outcome = steps.send_batch_step(database, batch_id, sender, now=NOW, **kwargs)
    assert outcome == steps.BatchOutcome(digest_id, 30.0)
    assert steps.send_batch_step(database, 999, sender, now=NOW, **kwargs) is None
    later = NOW + timedelta(minutes=1)
    assert steps.send_batch_step(database, batch_id, sender, now=later, **kwargs) is not None
    assert steps.send_batch_step(database, batch_id, sender, now=later, **kwargs) is None
    with database.session() as session:
        assert steps.stalled(session, later, timedelta(0)) == [steps.Nudge("finalise", digest_id)]
