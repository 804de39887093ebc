"""Welcome and same-day catch-up on the production stack: PostgreSQL, Redis, real worker and
beat processes, the web app and the SendGrid test server.

Today's edition goes out; a reader who then signs up on the JSON API and confirms from
the link gets the welcome mail and today's edition once each, the edition counted as a
late recipient; a reader confirming once the edition's freshness window has closed gets
the welcome only. Nobody gets anything twice, however many ticks pass. The editions go
through the worker to the SendGrid test server; the web app (run in this process, as
``Stack`` does) sends its confirmation and welcome emails to its outbox.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from newsletter.db import utcnow
from newsletter.delivery.models import Delivery, SendBatch
from newsletter.delivery.report import delivery_report
from newsletter.digests.models import Digest, DigestState
from subscribers.links import Links
from subscribers.models import MailingList, Subscriber, Subscription
from subscribers.tokens import tokens_for
from tests.integration.pipeline_stack import Stack, redis_stack
from tests.unit.subscribers.factories import outbox_messages

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.slow]

READERS = 3
# Short enough to see the window close within the test, long enough for a loaded
# machine to start the edition in time.
FRESHNESS = 40


@pytest.fixture
def stack(tmp_path: Path, pg_url: str) -> Iterator[Stack]:
    """A deployment with a short freshness window on fresh PostgreSQL and Redis databases."""
    extra_env = {"NEWSLETTER_FRESHNESS_WINDOW": f"PT{FRESHNESS}S"}
    with redis_stack(tmp_path, pg_url, extra_env=extra_env) as deployment:
        yield deployment


def _join_and_confirm(stack: Stack, email: str) -> None:
    """Sign up on the JSON API (double opt-in), then confirm with the emailed link's token."""
    settings = stack.settings()
    with httpx.Client(base_url=settings.base_url, timeout=30) as http:
        answer = http.post("/api/subscribe", json={"email": email, "list": "morning"})
        assert answer.status_code == 202, answer.text
        with stack.session() as session:
            subscriber_id, list_id = session.execute(
                select(Subscription.subscriber_id, Subscription.list_id)
                .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
                .where(Subscriber.email == email)
            ).one()
        url = Links(settings.base_url, tokens_for(settings)).confirm_url(subscriber_id, list_id)
        confirmed = http.post(url.removeprefix(settings.base_url))
        assert confirmed.status_code == 200, confirmed.text
        assert "You are subscribed" in confirmed.text


# Signs one reader up (single opt-in, as the web form would) with a welcomer whose
# send kills the process: the confirmation is committed, the welcome never leaves.
DIES_AFTER_COMMIT = """
import os, sys
from newsletter.db import Database
from newsletter.providers.memory import MemorySender
from subscribers import services, welcome
from subscribers.links import Links
from subscribers.models import ConsentSource
from subscribers.services import SignupRequest
from subscribers.tokens import Tokens
from subscribers.transitions import Evidence

welcome.send_welcomes = lambda *args, **kwargs: os._exit(9)
database = Database(sys.argv[1])
welcomer = welcome.EmailWelcomer(MemorySender(), Links("http://x", Tokens("k")))
with database.session() as session:
    request = SignupRequest(
        email=sys.argv[2], list_slug="morning", evidence=Evidence(ConsentSource.WEB),
        skip_opt_in=True,
    )
    services.sign_up(session, request, confirmer=None, welcomer=welcomer)
sys.exit(0)
"""


def _dies_after_commit(stack: Stack, email: str) -> None:
    """A process confirms ``email`` and is killed before its welcome leaves."""
    done = subprocess.run(
        [sys.executable, "-c", DIES_AFTER_COMMIT, stack.database_url, email],
        env={**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", "")},
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 9, done.stderr.decode(errors="replace")


def _welcomes(stack: Stack) -> list[str]:
    """The addresses the web app sent a welcome to, one entry per welcome, sorted."""
    return sorted(
        str(message["To"])
        for message in outbox_messages(stack.settings().outbox_dir)
        if str(message["Subject"]).startswith("Welcome to ")
    )


def _deadline(stack: Stack, digest_id: int) -> object:
    with stack.session() as session:
        return session.scalar(
            select(func.max(SendBatch.deliver_by)).where(SendBatch.digest_id == digest_id)
        )


def _late_rows(stack: Stack, digest_id: int) -> list[str]:
    with stack.session() as session:
        return list(
            session.scalars(
                select(Subscriber.email)
                .join(Delivery, Delivery.subscriber_id == Subscriber.id)
                .where(Delivery.digest_id == digest_id, Delivery.late.is_(True))
            )
        )


def test_a_reader_confirming_after_the_send_gets_the_welcome_and_the_edition_once(
    stack: Stack,
) -> None:
    """Welcome and late edition once each while fresh; the welcome only after the window."""
    stack.seed(READERS)
    stack.start("worker")
    stack.start("beat")
    stack.send_now()
    stack.wait(
        lambda: stack.digest_state() is DigestState.SENT, timeout=90, what="today's edition sent"
    )
    with stack.session() as session:
        digest_id = session.scalar(select(Digest.id))
        assert digest_id is not None
        assert session.scalar(select(func.count()).select_from(MailingList)) == 1

    # Within the window: confirmation email, welcome, and today's edition, late.
    _join_and_confirm(stack, "late@example.org")
    # One more confirms in a process that dies right after its commit: the tick sends
    # the welcome it owes (through the worker, to the SendGrid test server) and the
    # late edition.
    _dies_after_commit(stack, "crashed@example.org")
    stack.wait(
        lambda: stack.copies()["late@example.org"] == 1,
        timeout=60,
        what="the late edition for late@example.org",
    )
    stack.wait(
        lambda: stack.copies()["crashed@example.org"] == 2,
        timeout=60,
        what="the welcome and the late edition for crashed@example.org",
    )
    stack.wait(
        lambda: stack.digest_state() is DigestState.SENT, timeout=60, what="the edition settled"
    )
    assert sorted(_late_rows(stack, digest_id)) == ["crashed@example.org", "late@example.org"]

    # After the window: the confirmation and the welcome, never the edition.
    deadline = _deadline(stack, digest_id)
    stack.wait(lambda: utcnow() > deadline, timeout=FRESHNESS + 30, what="the window to close")
    _join_and_confirm(stack, "toolate@example.org")
    stack.wait(
        lambda: "toolate@example.org" in _welcomes(stack),
        timeout=60,
        what="the welcome for toolate@example.org",
    )
    # Every event applied (ticks go on meanwhile, one a second): still one of each.
    stack.assert_events_delivered()
    copies = stack.copies()
    expected = {f"reader{n}@example.org": 1 for n in range(1, READERS + 1)}
    expected.update({"late@example.org": 1, "crashed@example.org": 2})
    assert dict(copies) == expected, stack.logs()
    # The web app's mail (confirmation, then welcome) goes to its outbox: one welcome each.
    assert _welcomes(stack) == ["late@example.org", "toolate@example.org"]
    assert sorted(_late_rows(stack, digest_id)) == ["crashed@example.org", "late@example.org"]
    with stack.session() as session:
        report = delivery_report(session, digest_id)
        assert (report.late, report.late_sent, report.sent) == (2, 2, READERS + 2)
        welcomed = session.scalars(
            select(Subscriber.email)
            .join(Subscription, Subscription.subscriber_id == Subscriber.id)
            .where(Subscription.welcomed_at.is_not(None))
            .order_by(Subscriber.email)
        ).all()
        assert welcomed == ["crashed@example.org", "late@example.org", "toolate@example.org"]
