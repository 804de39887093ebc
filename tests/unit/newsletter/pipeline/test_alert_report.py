"""An alert sent through the usual steps (plan, batches, finalise) and its report: the
ledger holds exactly its readers, the mail is the alert's, and the edition report (CLI,
back office, API) names it an alert."""

from __future__ import annotations

from datetime import timedelta

from newsletter.db import Database, utcnow
from newsletter.digests.models import DigestState
from newsletter.pipeline.alerts import start_alert
from newsletter.pipeline.dispatch import dispatch
from newsletter.providers.memory import MemorySender
from subscribers.tokens import Tokens
from tests.cli import run
from tests.factories import make_briefing
from tests.unit.newsletter.pipeline import alert_seed
from tests.unit.newsletter.schedules import seed


def send_alert(database: Database, mailbox: MemorySender) -> tuple[int, set[str]]:
    """Alert "flood" (Climate) sent in process; its digest id and the addresses it must reach."""
    with database.session() as session:
        pub = seed.publication(session, briefings=0, created=utcnow() - timedelta(days=1))
        make_briefing(session, slug="flood", title="Flood warning", topics=["Climate"])
        everyone = alert_seed.alert_readers(session, pub, 3)
        on_topic = alert_seed.alert_readers(session, pub, 2, start=10, topics=["CLIMATE"])
        seed.readers(session, pub, 4, start=20)  # digest only
        alert_seed.alert_readers(session, pub, 2, start=30, topics=["Sport"])
    with database.session() as session:
        digest_id = start_alert(session, "flood", "morning", actor="Pat").digest_id
    report = dispatch(
        database, digest_id, mailbox, base_url="https://news.example.org", tokens=Tokens("k" * 32)
    )
    assert report.state == DigestState.SENT.value
    return digest_id, set(everyone) | set(on_topic)


def test_the_alert_goes_to_its_readers_only_and_reports_as_an_alert(
    database: Database, mailbox: MemorySender, cli_env: dict[str, str]
) -> None:
    """Five readers get the alert's mail once; the report counts them and says "alert"."""
    _, expected = send_alert(database, mailbox)
    assert sorted(email.to for email in mailbox.sent) == sorted(expected)
    email = mailbox.sent[0]
    assert email.subject == "Flood warning"
    assert "Read the full briefing:" in email.text
    assert "/p/morning/alerts/" in email.text
    result = run(cli_env, "digest", "report", "--publication", "morning", "--alert", "flood")
    assert result.exit_code == 0, result.output
    assert "morning alert" in result.output
    assert "5 sent, 0 failed" in result.output
    listed = run(cli_env, "digest", "list", "--publication", "morning")
    assert listed.exit_code == 0, listed.output
    assert " alert " in listed.output
    assert "Flood warning" in listed.output
    missing = run(cli_env, "digest", "report", "--publication", "morning", "--alert", "story-9")
    assert missing.exit_code == 2
