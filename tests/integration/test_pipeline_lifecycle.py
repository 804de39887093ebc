"""An edition's other endings on the production stack: missed, cancelled, and sent on local time.

PostgreSQL, a Redis broker, real ``celery -A tasks worker`` and ``beat`` processes
and the SendGrid test server, as in ``test_pipeline_redis``; editors act through the
CLI (click's runner, on the same database) while the processes run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from newsletter.cli import app
from newsletter.db import utcnow
from newsletter.delivery.models import BatchState, Delivery, DeliveryState, SendBatch
from newsletter.digests.models import Digest, DigestState
from newsletter.pipeline.batches import CANCELLED_WHILE_SENDING
from newsletter.publications.services import get_publication
from newsletter.schedules import editions
from newsletter.schedules.models import EditionState, ScheduledEdition
from newsletter.sendgrid_testserver.server import Fault
from tests.integration.pipeline_stack import FINAL, Stack, redis_stack
from tests.unit.newsletter.schedules import seed

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.slow]

Deploy = Callable[..., Stack]


@pytest.fixture
def deploy(tmp_path: Path, pg_url: str) -> Iterator[Deploy]:
    """Start a deployment (fresh PostgreSQL database, empty Redis database) with options."""
    with ExitStack() as started:

        def start(**options: Any) -> Stack:
            return started.enter_context(redis_stack(tmp_path, pg_url, **options))

        yield start


def cli(stack: Stack, *args: str) -> Result:
    """Run ``newsletter ARGS`` in this process, configured exactly like the deployment."""
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("NEWSLETTER_")}
    env.update(stack.env())
    result = CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def listed(stack: Stack) -> dict[int, dict[str, Any]]:
    """``newsletter schedule list --json``'s editions, by id."""
    rows = json.loads(cli(stack, "schedule", "list", "--json").stdout)["editions"]
    return {row["id"]: row for row in rows}


def ticks(stack: Stack) -> int:
    """How many beat ticks the worker has finished so far (read from its log)."""
    path = stack.root / "worker.log"
    if not path.exists():
        return 0
    return sum(
        1
        for line in path.read_text(errors="replace").splitlines()
        if "tasks.pipeline.tick[" in line and " succeeded " in line
    )


def edition(stack: Stack, edition_id: int) -> ScheduledEdition:
    """A scheduled edition as it stands now (detached, attributes loaded)."""
    with stack.session() as session:
        row: ScheduledEdition | None = session.get(ScheduledEdition, edition_id)
        assert row is not None
        session.expunge(row)
        return row


def editions_of(stack: Stack, publication_id: int) -> list[ScheduledEdition]:
    """Every scheduled edition of a publication (detached)."""
    with stack.session() as session:
        rows = list(
            session.scalars(
                select(ScheduledEdition).where(ScheduledEdition.publication_id == publication_id)
            )
        )
        session.expunge_all()
        return rows


def digest_of(stack: Stack, edition_id: int) -> Digest | None:
    """The digest a scheduled edition started, if any (detached)."""
    with stack.session() as session:
        row = session.get(ScheduledEdition, edition_id)
        assert row is not None
        digest = session.get(Digest, row.digest_id) if row.digest_id else None
        if digest is not None:
            session.expunge(digest)
        return digest


def copies_of(stack: Stack, addresses: list[str]) -> int:
    """How many messages the test server accepted for any of ``addresses``."""
    wanted = set(addresses)
    return sum(n for address, n in stack.copies().items() if address in wanted)


def test_an_edition_past_the_freshness_window_is_marked_missed_and_not_sent(
    deploy: Deploy,
) -> None:
    """Beat and worker mark a one-off and a recurring edition due beyond the window missed,
    send nothing, and ``schedule list`` says missed with the reason."""
    # A one-hour window, read by the processes from their environment: with the
    # default three hours, editions due 90 minutes ago would be sent, not missed.
    stack = deploy(extra_env={"NEWSLETTER_FRESHNESS_WINDOW": "PT1H"})
    now = utcnow()
    late = now - timedelta(minutes=90)
    with stack.session() as session:
        local = late.astimezone(ZoneInfo("America/New_York")).replace(tzinfo=None)
        # Its recurring time is on the one-off's date, which replaces it.
        morning = seed.publication(
            session,
            slug="morning",
            timezone="America/New_York",
            send_time=f"{local:%H:%M}",
            created=now - timedelta(hours=3),
        )
        seed.readers(session, morning, 20)
        # Scheduled two hours ago for half an hour later, while nothing ran.
        once_id = editions.schedule_once(session, "morning", local, now=now - timedelta(hours=2)).id
        # A daily schedule whose time today was 90 minutes ago, set before that.
        evening = seed.publication(
            session,
            slug="evening",
            timezone="Asia/Kolkata",
            send_time=late.astimezone(ZoneInfo("Asia/Kolkata")).strftime("%H:%M"),
            briefings=0,
            created=now - timedelta(hours=2),
        )
        seed.readers(session, evening, 20, start=101)
        evening_id = evening.id
    stack.start("worker")
    stack.start("beat")
    try:
        stack.wait(
            lambda: edition(stack, once_id).state is EditionState.MISSED,
            timeout=30,
            what="the one-off edition to be marked missed",
        )
        recurring = stack.wait(
            lambda: editions_of(stack, evening_id), timeout=30, what="the recurring edition"
        )
        assert [e.state for e in recurring] == [EditionState.MISSED]
        recurring_id = recurring[0].id
        # Later ticks leave a missed edition alone: nothing is ever sent late.
        seen = ticks(stack)
        stack.wait(lambda: ticks(stack) >= seen + 2, timeout=30, what="two more ticks")
        assert stack.server is not None
        assert stack.server.accepted == []
        assert stack.server.rejected == []
        with stack.session() as session:
            assert session.scalar(select(Digest.id)) is None
        rows = listed(stack)
        for edition_id in (once_id, recurring_id):
            assert rows[edition_id]["state"] == "missed"
            assert rows[edition_id]["digest_state"] is None
            assert rows[edition_id]["reason"].startswith("not started within 1:00:00")
        assert "missed" in cli(stack, "schedule", "list").output
        stack.assert_events_delivered()
    except AssertionError:
        print(stack.logs())
        raise


def test_an_edition_cancelled_before_its_time_is_never_sent(deploy: Deploy) -> None:
    """``schedule cancel`` before the due time: beat and worker run past it and send nothing."""
    stack = deploy()
    due_in = utcnow().replace(microsecond=0) + timedelta(seconds=2)
    local = due_in.replace(tzinfo=None)
    # Both publications' recurring times fall on the one-offs' date, which replace them.
    send_time, created = f"{local:%H:%M}", utcnow() - timedelta(minutes=1)
    with stack.session() as session:
        morning = seed.publication(session, slug="morning", send_time=send_time, created=created)
        cancelled_readers = seed.readers(session, morning, 30)
        evening = seed.publication(
            session, slug="evening", send_time=send_time, created=created, briefings=0
        )
        control_readers = seed.readers(session, evening, 30, start=101)
        cancelled_id = editions.schedule_once(session, "morning", local).id
        # Due at the same instant: once the tick starts it, it has seen the other too.
        control_id = editions.schedule_once(session, "evening", local).id
    result = cli(stack, "schedule", "cancel", str(cancelled_id))
    assert f"Cancelled edition {cancelled_id} (morning " in result.output
    stack.start("worker")
    stack.start("beat")
    try:
        stack.wait(
            lambda: (d := digest_of(stack, control_id)) is not None and d.state in FINAL,
            timeout=45,
            what="the control edition due at the same time to be sent",
        )
        assert utcnow() > due_in
        assert copies_of(stack, control_readers) == len(control_readers)
        # Nothing for the cancelled date, neither the one-off nor its recurring time.
        assert copies_of(stack, cancelled_readers) == 0
        cancelled = edition(stack, cancelled_id)
        assert cancelled.state is EditionState.CANCELLED
        assert cancelled.digest_id is None
        with stack.session() as session:
            digests = session.scalars(select(Digest.publication_id)).all()
            assert digests == [get_publication(session, "evening").id]
        row = listed(stack)[cancelled_id]
        assert (row["state"], row["reason"]) == ("cancelled", "cancelled by an editor")
        stack.assert_events_delivered()
    except AssertionError:
        print(stack.logs())
        raise


def test_an_edition_cancelled_while_sending_stops_its_unsent_batches(deploy: Deploy) -> None:
    """Cancel mid-send: batches in flight finish, the rest fail as cancelled, nobody gets two,
    and the edition ends partially_failed."""
    readers, batch = 600, 30  # 20 batches, two at a time, each answered after 0.5 s
    stack = deploy(batch_size=batch)
    server = stack.server
    assert server is not None
    server.inject(Fault.SLOW(0.5), count=10_000)
    stack.seed(readers)
    edition_id = stack.send_now()
    stack.start("worker")
    stack.start("beat")
    try:
        stack.wait(lambda: len(server.accepted) >= 2, timeout=45, what="two accepted batches")
        result = cli(stack, "schedule", "cancel", str(edition_id))
        assert "Stopped " in result.output
        stack.wait(lambda: stack.digest_state() in FINAL, timeout=45, what="the final state")
        assert stack.digest_state() is DigestState.PARTIALLY_FAILED
        copies = stack.copies()
        assert set(copies.values()) == {1}, "somebody got two copies"
        assert 2 * batch <= len(copies) < readers
        with stack.session() as session:
            batches = session.execute(select(SendBatch.state, SendBatch.error, SendBatch.size))
            by_state: dict[BatchState, int] = {}
            for state, error, size in batches:
                by_state[state] = by_state.get(state, 0) + size
                if state is BatchState.FAILED:
                    assert error == CANCELLED_WHILE_SENDING
            assert set(by_state) == {BatchState.ACCEPTED, BatchState.FAILED}
            assert by_state[BatchState.ACCEPTED] == len(copies)
            failed = session.execute(
                select(Delivery.last_error).where(Delivery.state == DeliveryState.FAILED)
            ).all()
            assert len(failed) == readers - len(copies)
            assert {error for (error,) in failed} == {CANCELLED_WHILE_SENDING}
        row = listed(stack)[edition_id]
        assert (row["state"], row["digest_state"]) == ("cancelled", "partially_failed")
        stack.assert_events_delivered()
    except AssertionError:
        print(stack.logs())
        raise


def zone_observing_dst(now: datetime) -> str:
    """A zone on summer time at ``now``: New York (March-November) or Sydney (October-April)."""
    for name in ("America/New_York", "Australia/Sydney"):
        if now.astimezone(ZoneInfo(name)).dst():
            return name
    raise AssertionError(f"neither zone observes summer time at {now}")  # pragma: no cover


def test_a_one_off_at_local_summer_time_starts_at_its_utc_instant(deploy: Deploy) -> None:
    """A one-off given in local summer time is due, and cut off, at the right UTC instant.

    Real processes cannot move the clock to a transition day, so this checks what the
    worker adds on top of ``due.local_instant``: the instant it is handed is the one it
    waits for and cuts the edition off at, in a zone whose offset today includes summer
    time. The transition days themselves (a wall time skipped or repeated, 07:00 staying
    07:00 across the change) are pure functions of the date and the zone, covered by
    ``tests/unit/newsletter/schedules/test_due.py`` on fixed dates. No lead: with the
    SendGrid backend an edition would otherwise start up to 15 minutes before its time
    (sending ahead, ``test_pipeline_scheduled.py``), at the first tick.
    """
    stack = deploy(extra_env={"NEWSLETTER_SCHEDULE_LEAD": "PT0S"})
    instant = utcnow().replace(microsecond=0) + timedelta(seconds=3)
    name = zone_observing_dst(instant)
    summer = instant.astimezone(ZoneInfo(name))
    local = summer.replace(tzinfo=None)
    # Read with the zone's standard offset instead, the same wall time is an hour later.
    standard = instant + (summer.dst() or timedelta())
    with stack.session() as session:
        pub = seed.publication(
            session,
            timezone=name,
            send_time=f"{local:%H:%M}",  # on the one-off's date, which replaces it
            created=utcnow() - timedelta(minutes=1),
        )
        seed.readers(session, pub, 10)
        edition_id = editions.schedule_once(session, "morning", local).id
    scheduled = edition(stack, edition_id)
    assert scheduled.due_at == instant
    assert scheduled.due_at != standard  # the summer offset, not the zone's standard one
    assert scheduled.edition_date == local.date()
    stack.start("worker")
    stack.start("beat")
    try:
        stack.wait(
            lambda: (d := digest_of(stack, edition_id)) is not None and d.state in FINAL,
            timeout=45,
            what="the edition",
        )
        started = edition(stack, edition_id)
        digest = digest_of(stack, edition_id)
        assert digest is not None
        assert started.started_at is not None
        assert started.started_at >= instant
        assert digest.cutoff_at == instant
        assert digest.edition_date == local.date()
        row = listed(stack)[edition_id]
        assert row["due_local"] == summer.strftime("%Y-%m-%d %H:%M %Z")  # e.g. "... AEDT"
        assert row["due_utc"] == instant.isoformat()
        stack.assert_events_delivered()
    except AssertionError:
        print(stack.logs())
        raise
