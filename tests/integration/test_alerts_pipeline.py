"""An alert on the production stack: PostgreSQL, Redis, a real worker and beat, the SendGrid
test server, started the way an editor starts it (``newsletter briefings alert`` in a
process of its own, which asks the worker to plan it through the broker).

The alert reaches exactly the readers who opted into alerts, on every topic or on the
briefing's topic, each once, and nobody else: not the digest-only readers, not the
readers whose alert topics miss it. A duplicated ``plan`` message during the send adds
nobody, and a second alert of the same briefing is refused with nothing sent. Its mail
is the alert's (subject the headline, a one-click unsubscribe that names the kind).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from newsletter.content.edition import Cadence
from newsletter.db import utcnow
from newsletter.digests.models import Digest, DigestState
from newsletter.editors.models import Role
from newsletter.editors.services import create_editor
from subscribers.models import Subscriber, Subscription
from tasks.app import make_celery
from tests.factories import make_briefing
from tests.integration.pipeline_stack import FINAL, Stack, redis_stack
from tests.unit.newsletter.pipeline import alert_seed
from tests.unit.newsletter.schedules import seed

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.slow]

BATCH = 20


@pytest.fixture
def stack(tmp_path: Path, pg_url: str) -> Iterator[Stack]:
    """A deployment on a fresh PostgreSQL database and an empty Redis database."""
    with redis_stack(tmp_path, pg_url, batch_size=BATCH) as deployment:
        yield deployment


def seed_readers(stack: Stack) -> tuple[set[str], set[str]]:
    """Briefing "flood" on Climate; readers of every kind; the addresses it must reach, and
    those of them who get the digest too."""
    with stack.session() as session:
        pub = seed.publication(session, briefings=0, created=utcnow())
        make_briefing(
            session, slug="flood", title="Flood warning for the valley", topics=["Climate"]
        )
        everything = alert_seed.alert_readers(session, pub, 30, start=1)
        on_topic = alert_seed.alert_readers(session, pub, 25, start=100, topics=["climate"])
        alerts_only = alert_seed.alert_readers(session, pub, 5, start=200, digests=False)
        seed.readers(session, pub, 40, start=300)  # the digest only
        alert_seed.alert_readers(session, pub, 15, start=400, topics=["Sport"])
        create_editor(session, "Pat", "pat@example.org", Role.EDITOR)  # --editor names it
    return set(everything) | set(on_topic) | set(alerts_only), set(everything)


def alert_command(stack: Stack) -> subprocess.CompletedProcess[str]:
    """``newsletter briefings alert flood`` as an editor runs it, in a process of its own."""
    argv = [sys.executable, "-m", "newsletter", "briefings", "alert", "flood"]
    argv += ["--publication", "morning", "--editor", "Pat", "--yes"]
    return subprocess.run(argv, env=stack.env(), capture_output=True, text=True, timeout=120)


def alert_state(stack: Stack) -> DigestState | None:
    with stack.session() as session:
        return session.scalar(select(Digest.state).where(Digest.cadence == Cadence.ALERT))


def test_an_alert_reaches_exactly_its_readers_once(stack: Stack) -> None:
    """60 of 115 readers opted in (every topic, Climate in another case, alerts only): each
    gets it once through the worker, despite a duplicated plan message; a second alert is
    refused; its one-click unsubscribe leaves alerts and keeps the digest."""
    expected, both = seed_readers(stack)
    stack.start("worker")
    stack.start("beat")
    try:
        started = alert_command(stack)
        assert started.returncode == 0, started.stdout + started.stderr
        assert "goes to 60 readers of morning" in " ".join(started.stdout.split())
        with stack.session() as session:
            digest_id = session.scalar(select(Digest.id).where(Digest.cadence == Cadence.ALERT))
        # A duplicated message (a redelivery, a second click's race) plans nobody twice.
        celery = make_celery(stack.settings())
        celery.send_task("tasks.pipeline.plan", args=(digest_id,))
        celery.close()
        stack.wait(lambda: alert_state(stack) in FINAL, timeout=120, what="the alert to finish")
        assert alert_state(stack) is DigestState.SENT
        stack.assert_events_delivered()
        copies = stack.copies()
        assert set(copies) == expected
        assert set(copies.values()) == {1}

        again = alert_command(stack)
        assert again.returncode == 2
        assert "was already sent as an alert in morning" in again.stderr
        assert "Traceback" not in again.stderr
        assert stack.copies() == copies

        # The mail is the alert's, and its one-click unsubscribe leaves alerts only.
        assert stack.server is not None
        personal, payload = next(
            (p, request.payload)
            for request in stack.server.accepted
            for p in request.payload["personalizations"]
            if p["to"][0]["email"] in both
        )
        assert payload["subject"] == "Flood warning for the valley"
        reader = personal["to"][0]["email"]
        one_click = personal["headers"]["List-Unsubscribe"].split(">")[0].lstrip("<")
        path = one_click[one_click.index("/u/") :]
        answer = httpx.post(
            f"http://127.0.0.1:{stack._web_port}{path}",
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert answer.status_code == 200, answer.text
        with stack.session() as session:
            subscription = session.scalars(
                select(Subscription).join(Subscriber).where(Subscriber.email == reader)
            ).one()
            assert (subscription.alerts, subscription.state.value) == (False, "confirmed")
    except AssertionError:
        print(stack.logs())
        raise
