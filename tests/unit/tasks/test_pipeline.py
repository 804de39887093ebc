"""The task graph, run in-process: every step once, duplicates harmless, stalls resumed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

import tasks.pipeline
from newsletter.db import utcnow
from newsletter.delivery.models import BatchState, SendBatch
from newsletter.digests.models import Digest, DigestState
from newsletter.errors import RetryableError
from newsletter.pipeline import cancel as pipeline_cancel
from newsletter.pipeline import steps as steps_module
from newsletter.providers.memory import MemorySender
from newsletter.publishing import changes
from newsletter.publishing.models import ChangeState
from newsletter.runtime import Runtime
from newsletter.schedules import editions
from newsletter.schedules.models import EditionState, ScheduledEdition
from newsletter.settings import EmailBackend, Settings
from subscribers import services as subscriber_services
from subscribers.models import ConsentSource
from subscribers.services import SignupRequest
from subscribers.transitions import Evidence
from tests.unit.newsletter.schedules import seed
from tests.unit.tasks.inline import Inline, inline

READERS = 5


@pytest.fixture
def pipeline(data_dir: Path, mailbox: MemorySender) -> Iterator[Inline]:
    """An inline pipeline on SQLite with the memory sender and batches of two."""
    settings = Settings(
        data_dir=data_dir,
        email_backend=EmailBackend.MEMORY,
        dispatch_batch_size=2,
    )
    runtime = Runtime(settings)
    runtime.ensure_schema()
    with runtime.database.session() as session:
        pub = seed.publication(session, created=utcnow() - timedelta(minutes=1))
        seed.readers(session, pub, READERS)
    yield inline(runtime)
    runtime.close()


def runtime_of(driver: Inline) -> Runtime:
    """The runtime the inline app's tasks use."""
    from tasks.runtimes import runtime_of as lookup

    return lookup(driver.app)


def send_now(driver: Inline) -> int:
    """Schedule today's edition now; returns its id."""
    with runtime_of(driver).database.session() as session:
        return editions.send_now(session, "morning").id


def digest_of(driver: Inline) -> Digest:
    """The only digest."""
    with runtime_of(driver).database.session() as session:
        return session.scalars(select(Digest)).one()


def test_due_edition_goes_through_every_step(pipeline: Inline, mailbox: MemorySender) -> None:
    """tick → assemble → render → publish → plan → send batches → finalise, each reader once."""
    send_now(pipeline)
    assert pipeline.run("tick")["started"] == 1
    pipeline.drain()
    assert sorted(e.to for e in mailbox.sent) == sorted(
        f"reader{n}@example.org" for n in range(1, READERS + 1)
    )
    assert digest_of(pipeline).state is DigestState.SENT
    steps = pipeline.steps()
    assert list(dict.fromkeys(steps))[:4] == ["assemble", "render", "publish", "plan"]
    assert steps.count("send_batch") == 3  # five readers in batches of two
    assert steps.count("finalise") == 1  # by the batch that settled last, not one per batch
    settings = runtime_of(pipeline).settings
    feeds = settings.data_dir / "public" / "p" / "morning" / "feeds" / "editions"
    assert (feeds / "rss.xml").exists()


def test_every_message_twice_sends_nothing_twice(pipeline: Inline, mailbox: MemorySender) -> None:
    """Replaying every message of a finished run (a duplicating broker) sends no second copy."""
    send_now(pipeline)
    pipeline.run("tick")
    pipeline.drain()
    replay = list(pipeline.history)
    for message in replay:
        pipeline.run(message.step, *message.args)
    pipeline.drain()
    assert len(mailbox.sent) == READERS
    assert pipeline.run("tick")["started"] == 0


def test_lost_messages_are_resumed_by_the_tick(pipeline: Inline, mailbox: MemorySender) -> None:
    """Messages the broker lost (any step) are re-sent by the next tick; nothing is lost."""
    runtime_of(pipeline).settings.stall_after = timedelta(0)  # every step counts as stalled
    send_now(pipeline)
    pipeline.run("tick")
    for lost in ("assemble", "render", "publish", "plan", "send_batch"):
        pipeline.drain(drop=lambda m, lost=lost: m.step == lost)  # type: ignore[misc]
        pipeline.run("tick")
    pipeline.drain()
    assert len(mailbox.sent) == READERS
    assert digest_of(pipeline).state is DigestState.SENT


def test_late_edition_is_missed_not_sent(pipeline: Inline, mailbox: MemorySender) -> None:
    """An edition whose assembly starts after the window is marked missed and not sent."""
    edition_id = send_now(pipeline)
    pipeline.run("tick")
    with runtime_of(pipeline).database.session() as session:
        edition = session.get(ScheduledEdition, edition_id)
        assert edition is not None
        edition.due_at = utcnow() - timedelta(hours=4)
    pipeline.drain()
    with runtime_of(pipeline).database.session() as session:
        edition = session.get(ScheduledEdition, edition_id)
        assert edition is not None
        assert edition.state is EditionState.MISSED
    assert mailbox.sent == []


def test_cancel_while_sending_stops_the_unsent_batches(
    pipeline: Inline, mailbox: MemorySender
) -> None:
    """Cancelling mid-send stops the batches not yet sent; the digest ends partially failed."""
    edition_id = send_now(pipeline)
    pipeline.run("tick")
    pipeline.drain(drop=lambda m: m.step == "send_batch")
    batches = [m for m in pipeline.history if m.step == "send_batch"]
    pipeline.run("send_batch", *batches[0].args)
    with runtime_of(pipeline).database.session() as session:
        result = pipeline_cancel.cancel(session, edition_id)
    assert result.stopped_batches == 2
    for message in batches[1:]:
        pipeline.run("send_batch", *message.args)
    pipeline.drain()
    assert len(mailbox.sent) == 2
    assert digest_of(pipeline).state is DigestState.PARTIALLY_FAILED


def test_retryable_provider_error_postpones_the_batch(
    pipeline: Inline, mailbox: MemorySender, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 429 puts the batch back with a short countdown; the retry sends it once."""
    send_now(pipeline)
    pipeline.run("tick")
    pipeline.drain(drop=lambda m: m.step == "send_batch")
    first = next(m for m in pipeline.history if m.step == "send_batch")
    real = mailbox.send_batch
    calls = []

    def limited(batch):  # type: ignore[no-untyped-def]
        calls.append(batch.key)
        if len(calls) == 1:
            raise RetryableError("429 too many requests", retry_after=5)
        return real(batch)

    monkeypatch.setattr(mailbox, "send_batch", limited)
    # As if the send took 30 s (a loaded machine): the wait still counts from the answer.
    started = utcnow() - timedelta(seconds=30)
    monkeypatch.setattr(tasks.pipeline, "utcnow", lambda: started)
    pipeline.run("send_batch", *first.args)
    monkeypatch.undo()
    retry = pipeline.queue[-1]
    assert retry.step == "send_batch"
    assert 4 < retry.options["countdown"] < 6  # the rate limit's reset, not a guess
    with runtime_of(pipeline).database.session() as session:
        batch = session.get(SendBatch, first.args[0])
        assert batch is not None
        batch.not_before = utcnow() - timedelta(seconds=1)  # the countdown has passed
    pipeline.queue.clear()
    pipeline.run("send_batch", *first.args)
    assert len(mailbox.sent) == 2
    with runtime_of(pipeline).database.session() as session:
        assert session.get(SendBatch, first.args[0]).state is BatchState.ACCEPTED  # type: ignore[union-attr]


def test_recover_resends_batches_whose_worker_died(pipeline: Inline, mailbox: MemorySender) -> None:
    """A batch claimed by a worker that died is expired, reconciled and sent by recover."""
    send_now(pipeline)
    pipeline.run("tick")
    pipeline.drain(drop=lambda m: m.step == "send_batch")
    database = runtime_of(pipeline).database
    with database.session() as session:
        batch = session.scalars(select(SendBatch).order_by(SendBatch.number)).first()
        assert batch is not None
        # What a SIGKILL before the provider call leaves: claimed, lease run out, no answer.
        batch.state = BatchState.UNKNOWN
        batch.unknown_since = utcnow() - timedelta(hours=1)
    assert pipeline.run("recover") >= 1
    pipeline.drain()
    assert len(mailbox.sent) == READERS
    assert digest_of(pipeline).state is DigestState.SENT


def test_unreachable_websub_hub_does_not_hold_the_edition_back(
    pipeline: Inline, mailbox: MemorySender, caplog: pytest.LogCaptureFixture
) -> None:
    """A hub that cannot be reached is logged; the edition is still published and sent."""
    runtime_of(pipeline).settings.websub_hub_url = "http://127.0.0.1:9/hub"
    send_now(pipeline)
    pipeline.run("tick")
    pipeline.drain()
    assert len(mailbox.sent) == READERS
    assert "WebSub hub not told" in caplog.text
    assert "unreachable" in caplog.text
    with runtime_of(pipeline).database.session() as session:
        [(_, change)] = changes.list_changes(session)
        assert (change.state, change.attempts) == (ChangeState.PENDING, 1)
        assert change.exported_at is not None
        assert change.announced_at is None


def test_tick_retries_a_pending_public_change(pipeline: Inline, mailbox: MemorySender) -> None:
    """A change left pending (the hub was down) is retried by the tick once it is due."""
    settings = runtime_of(pipeline).settings
    settings.websub_hub_url = "http://127.0.0.1:9/hub"
    send_now(pipeline)
    pipeline.run("tick")
    pipeline.drain()
    database = runtime_of(pipeline).database
    with database.session() as session:
        [(_, change)] = changes.list_changes(session)
        change.next_attempt_at = utcnow() - timedelta(seconds=1)  # its retry time has come
    settings.websub_hub_url = ""  # the hub setting removed: nothing left to announce
    assert pipeline.run("tick")["publishing"] == 1
    assert [m.step for m in pipeline.queue] == ["publish_changes"]
    pipeline.drain()
    with database.session() as session:
        assert changes.list_changes(session) == []
    assert pipeline.run("tick")["publishing"] == 0


def test_publish_rolled_back_leaves_no_public_files(
    pipeline: Inline, mailbox: MemorySender, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If publishing's transaction rolls back, no feed or archive file shows the edition."""
    send_now(pipeline)
    pipeline.run("tick")
    pipeline.drain(drop=lambda m: m.step == "publish")
    real = steps_module.publish_step

    def fails_before_commit(*args: Any, **kwargs: Any) -> Any:
        real(*args, **kwargs)
        raise RuntimeError("the commit failed")

    monkeypatch.setattr(steps_module, "publish_step", fails_before_commit)
    with pytest.raises(RuntimeError, match="the commit failed"):
        pipeline.run("publish", digest_of(pipeline).id)
    public = runtime_of(pipeline).settings.data_dir / "public"
    assert [p for p in public.rglob("*") if p.is_file()] == []
    assert digest_of(pipeline).state is DigestState.RENDERED
    monkeypatch.undo()
    assert pipeline.run("publish", digest_of(pipeline).id) is True
    assert (public / "p" / "morning" / "feeds" / "editions" / "rss.xml").exists()


def test_a_change_recorded_during_the_tick_is_published_in_that_tick(
    pipeline: Inline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A change recorded by the tick itself (an expiry) gets its publish_changes message at once."""
    from tasks import pipeline as tasks_pipeline

    def expire_one(session: Any, now: Any) -> list[int]:
        changes.record(session, "morning", [], "briefing expired")
        return [1]

    monkeypatch.setattr(tasks_pipeline, "expire_due", expire_one)
    result = pipeline.run("tick")
    assert (result["expired"], result["publishing"]) == (1, 1)
    assert [m.step for m in pipeline.queue] == ["publish_changes"]
    pipeline.drain()
    with runtime_of(pipeline).database.session() as session:
        [(_, change)] = changes.list_changes(session, finished=True)
        assert change.state is ChangeState.DONE


def test_the_tick_welcomes_and_catches_up_a_reader_who_confirmed_after_the_send(
    pipeline: Inline, mailbox: MemorySender
) -> None:
    """A confirmation whose welcome never left (its process died) is welcomed by the tick,
    which also queues today's edition for that reader, late; later ticks add nothing."""
    send_now(pipeline)
    pipeline.run("tick")
    pipeline.drain()
    assert digest_of(pipeline).state is DigestState.SENT
    with runtime_of(pipeline).database.session() as session:
        request = SignupRequest(
            email="newcomer@example.org",
            list_slug="morning",
            evidence=Evidence(ConsentSource.WEB),
            skip_opt_in=True,
        )
        subscriber_services.sign_up(session, request, confirmer=NoConfirmer())
    first = pipeline.run("tick")
    assert (first["late"], first["welcomed"]) == (1, 1)
    pipeline.drain()
    mails = sorted(e.subject for e in mailbox.to("newcomer@example.org"))
    assert len(mails) == 2
    assert mails[1] == "Welcome to The Morning Test"
    assert digest_of(pipeline).state is DigestState.SENT
    again = pipeline.run("tick")
    assert (again["late"], again["welcomed"]) == (0, 0)
    pipeline.drain()
    assert len(mailbox.to("newcomer@example.org")) == 2


class NoConfirmer:
    """A confirmer for sign-ups that never need one (single opt-in)."""

    def send(self, subscriptions: object) -> None:
        """Nothing to send."""
