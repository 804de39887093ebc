"""``newsletter digest send | test-send | report`` as an editor runs them."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from email import message_from_bytes
from email.policy import default
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from newsletter.db import Database
from newsletter.pipeline.cli import send_now_command
from newsletter.runtime import Runtime
from subscribers.services import ensure_default_list
from tests.cli import run
from tests.factories import make_briefings, make_publication
from tests.unit.newsletter.delivery.dispatch_factories import add_subscribers
from tests.websubhub import running_hub

DATE = ("--publication", "morning", "--date", "2026-03-02")
BASE = "https://news.example.org"


@pytest.fixture
def morning(database: Database) -> None:
    """Publication 'morning' with two approved briefings and three confirmed readers."""
    with database.session() as session:
        publication = make_publication(session)
        make_briefings(session, 2, topics=["Science"])
        add_subscribers(session, ensure_default_list(session, publication).id, 3)


def outbox(data_dir: Path) -> list[Path]:
    return sorted((data_dir / "outbox").glob("*.eml"))


def test_send_then_report(cli_env: dict[str, str], morning: None, data_dir: Path) -> None:
    """Send mails each reader once via the outbox; sending again adds nothing; report counts."""
    first = run(cli_env, "digest", "send", *DATE)
    assert first.exit_code == 0, first.output
    assert "sent — 3 sent, 0 failed, 0 skipped" in first.output
    assert len(outbox(data_dir)) == 3
    again = run(cli_env, "digest", "send", *DATE)
    assert again.exit_code == 0
    assert len(outbox(data_dir)) == 3
    report = run(cli_env, "digest", "report", *DATE, "--json")
    data = json.loads(report.stdout)
    assert data["state"] == "sent"
    assert data["by_state"] == {"accepted": 3}
    assert data["deliver_at"] is None
    assert data["guarantee"].startswith("immediate")
    table = run(cli_env, "digest", "report", *DATE)
    assert "accepted" in table.output
    assert "Delivery: immediate" in table.output


def test_send_exports_and_pings_the_hub_once(
    cli_env: dict[str, str], morning: None, data_dir: Path
) -> None:
    """``send`` publishes as the pipeline does: the static export and one hub ping; again, none."""
    stale = data_dir / "public" / "p" / "morning" / "feeds" / "briefings" / "rss.xml"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"stale")
    with running_hub() as hub:
        env = {**cli_env, "NEWSLETTER_WEBSUB_HUB_URL": hub.url}
        first = run(env, "digest", "send", *DATE)
        assert first.exit_code == 0, first.output
        assert b"Story 1" in stale.read_bytes()
        assert (data_dir / "public" / "p" / "morning" / "2026-03-02" / "index.html").exists()
        assert "morning: exported" in first.output
        assert f"told the WebSub hub {hub.url}" in first.output
        told = hub.told()
        assert f"{BASE}/p/morning/feeds/briefings/rss.xml" in told
        assert f"{BASE}/p/morning/feeds/topics/science/atom.xml" in told
        assert run(env, "digest", "send", *DATE).exit_code == 0
        assert len(hub.pings) == 1
    assert len(outbox(data_dir)) == 3


def test_test_send_is_marked_and_not_counted(
    cli_env: dict[str, str], morning: None, data_dir: Path
) -> None:
    """A test send writes one [TEST] message and leaves the ledger empty."""
    result = run(cli_env, "digest", "test-send", *DATE, "--to", "Editor@Example.org")
    assert result.exit_code == 0, result.output
    (path,) = outbox(data_dir)
    message = message_from_bytes(path.read_bytes(), policy=default)
    assert str(message["Subject"]).startswith("[TEST] ")
    assert message["To"] == "editor@example.org"
    # RFC 8058: List-Unsubscribe-Post only beside a List-Unsubscribe (the copy once lacked it).
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert re.fullmatch(r"<https?://[^>]+/subscribe/morning>", message["List-Unsubscribe"])
    assert message["List-Id"] == '"The Morning Test" <morning.news.example.org>'
    body = path.read_bytes().partition(b"\n\n")[2]
    assert max(len(line) for line in body.splitlines()) <= 76
    report = json.loads(run(cli_env, "digest", "report", *DATE, "--json").stdout)
    assert report["recipients"] == 0


def test_bad_address_and_missing_edition_are_one_line(
    cli_env: dict[str, str], morning: None
) -> None:
    """A bad --to address or an edition that does not exist is one line with exit code 2."""
    bad = run(cli_env, "digest", "test-send", *DATE, "--to", "not-an-address")
    assert bad.exit_code == 2
    assert "--to" in bad.output
    missing = run(cli_env, "digest", "report", "--publication", "morning", "--date", "2020-01-01")
    assert missing.exit_code == 2
    assert "no edition for 2020-01-01" in missing.output


def test_resend_sends_transient_failures_then_refuses_after_the_deadline(
    cli_env: dict[str, str], morning: None, database: Database, data_dir: Path
) -> None:
    """digest resend queues transient failures once and sends them; past deliver_by it refuses."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    from newsletter.delivery.models import Delivery, FailureKind, SendBatch
    from newsletter.digests.models import Digest

    assert run(cli_env, "digest", "send", *DATE).exit_code == 0
    with database.session() as session:  # what an outage past the deadline leaves
        session.execute(
            update(Delivery)
            .where(Delivery.subscriber_id <= 2)
            .values(state="failed", failure=FailureKind.TRANSIENT, last_error="deadline passed")
        )
        session.execute(update(SendBatch).values(deliver_by=datetime.now(UTC) + timedelta(hours=1)))
        session.execute(update(Digest).values(state="partially_failed"))
    result = run(cli_env, "digest", "resend", *DATE)
    assert result.exit_code == 0, result.output
    assert "Sending again to 2 reader(s)" in result.output
    assert "sent — 3 sent, 0 failed" in result.output
    again = run(cli_env, "digest", "resend", *DATE)
    assert "Nothing to resend" in again.output
    with database.session() as session:
        session.execute(update(Delivery).values(state="failed", failure=FailureKind.TRANSIENT))
        session.execute(update(Digest).values(state="failed"))
        session.execute(update(SendBatch).values(deliver_by=datetime(2026, 3, 2, 10, tzinfo=UTC)))
    late = run(cli_env, "digest", "resend", *DATE)
    assert late.exit_code == 2
    assert "past its deadline (2026-03-02 10:00 UTC)" in late.output


def send_now(env: dict[str, str], wake: Callable[[Runtime], None]) -> Result:
    """``digest send-now`` with ``wake`` in place of the real scheduler wake-up."""
    group = click.Group("digest", commands={"send-now": send_now_command(wake)})
    return CliRunner().invoke(group, ["send-now", "--publication", "morning"], env=env)


def test_send_now_makes_today_due_and_wakes_the_scheduler(
    cli_env: dict[str, str], morning: None
) -> None:
    """send-now schedules today's edition at once and asks the scheduler for a tick."""
    woken: list[Runtime] = []
    result = send_now(cli_env, woken.append)
    assert result.exit_code == 0, result.output
    assert "is due now (the scheduler was woken" in " ".join(result.output.split())
    assert len(woken) == 1


def test_send_now_with_the_broker_down_leaves_it_to_the_next_tick(
    cli_env: dict[str, str], morning: None
) -> None:
    """A broker that cannot be reached is no failure: the beat's next tick starts the edition."""

    def broker_down(rt: Runtime) -> None:
        raise ConnectionError("connection refused")

    result = send_now(cli_env, broker_down)
    assert result.exit_code == 0, result.output
    assert "could not reach the broker: connection refused" in " ".join(result.output.split())
