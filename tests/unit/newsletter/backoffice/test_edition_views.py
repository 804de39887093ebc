"""Preview, test-send, edition history and the delivery report pages."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from newsletter.backoffice.reports import CHART_WIDTH, LABEL_WIDTH, bar_chart, rate
from newsletter.db import Database, utcnow
from newsletter.delivery.models import GroupState, ProviderGroup
from newsletter.digests.models import Digest
from newsletter.editors.models import Role
from newsletter.pipeline.steps import plan
from newsletter.providers.memory import MemorySender
from newsletter.publications.models import Publication
from tests.factories import make_briefing, make_publication
from tests.unit.newsletter.delivery.dispatch_factories import add_subscribers, rendered_digest

SignIn = Callable[[Role], str]


def _ready(db: Database) -> None:
    with db.session() as session:
        make_publication(session, weekdays=["mon", "tue", "wed", "thu", "fri", "sat", "sun"])
        make_briefing(
            session,
            slug="story",
            title="A <b>bold</b> story",
            approved_at=utcnow() - timedelta(hours=1),
        )


def test_preview_shows_both_widths_without_freezing(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """The preview renders the email at 375 and 800 px in sandboxed frames and stores nothing."""
    _ready(db)
    signed_in(Role.EDITOR)
    page = client.get("/editor/preview")
    assert page.status_code == 200
    assert 'width="375"' in page.text
    assert 'width="800"' in page.text
    assert 'sandbox=""' in page.text
    assert "A &lt;b&gt;bold&lt;/b&gt; story" in page.text
    assert "Not frozen yet" in page.text
    assert "Test sends need the publisher role" in page.text
    assert "frame-src" in page.headers["content-security-policy"]
    with db.session() as session:
        assert session.query(Digest).count() == 0


def test_preview_of_an_empty_edition_says_it_would_be_skipped(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """With nothing approved the page says the edition would be skipped."""
    with db.session() as session:
        make_publication(session)
    signed_in(Role.EDITOR)
    assert "would be skipped" in client.get("/editor/preview?publication=morning").text
    assert client.get("/editor/preview?publication=nope").status_code == 404


def test_no_publication_is_a_clear_404(client: TestClient, signed_in: SignIn) -> None:
    """Without publications the preview says how to add one."""
    signed_in(Role.EDITOR)
    response = client.get("/editor/preview")
    assert response.status_code == 404
    assert "newsletter publications add" in response.text


def test_test_send_needs_publisher_and_goes_to_one_address(
    client: TestClient, db: Database, signed_in: SignIn, mailbox: MemorySender
) -> None:
    """Editors get 403; a publisher's test copy reaches only the address given, audited."""
    _ready(db)
    token = signed_in(Role.EDITOR)
    refused = client.post(
        "/editor/preview/test-send", data={"csrf_token": token, "publication": "morning"}
    )
    assert refused.status_code == 403
    assert mailbox.sent == []
    token = signed_in(Role.PUBLISHER)
    assert "Send test" in client.get("/editor/preview").text
    bad = client.post(
        "/editor/preview/test-send",
        data={"csrf_token": token, "publication": "morning", "to": "nope"},
    )
    assert bad.status_code == 400
    sent = client.post(
        "/editor/preview/test-send",
        data={"csrf_token": token, "publication": "morning", "to": "desk@example.org"},
    )
    assert sent.headers["location"] == "/editor/preview?publication=morning&done=test-sent"
    assert [m.to for m in mailbox.sent] == ["desk@example.org"]
    assert "[TEST]" in mailbox.sent[0].subject


def test_editions_and_report_pages(client: TestClient, db: Database, signed_in: SignIn) -> None:
    """Edition history links to a report with state counts, rates and an SVG chart."""
    with db.session() as session:
        digest_id, list_id = rendered_digest(session)
        add_subscribers(session, list_id, 2)
    signed_in(Role.EDITOR)
    history = client.get("/editor/editions?publication=morning").text
    assert f"/editor/editions/{digest_id}" in history
    report = client.get(f"/editor/editions/{digest_id}").text
    assert "not been sent" in report
    assert "Tracking is off" in report
    assert "immediate: a lost answer is settled by the provider" in report
    assert client.get("/editor/editions/999").status_code == 404


def test_report_page_shows_the_delivery_time_of_a_send_ahead(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """An edition sent ahead shows its delivery instant and the stronger guarantee."""
    with db.session() as session:
        digest_id, _ = rendered_digest(session)
        session.add(
            ProviderGroup(
                digest_id=digest_id,
                provider_batch_id="b-1",
                # Microseconds, as a real plan's instant has: HTML allows three digits.
                send_at=datetime(2026, 3, 2, 7, 0, 0, 123456, tzinfo=UTC),
                created_at=datetime(2026, 3, 2, 6, 45, tzinfo=UTC),
                state=GroupState.CANCELLED,
            )
        )
    signed_in(Role.EDITOR)
    report = client.get(f"/editor/editions/{digest_id}").text
    assert '<time datetime="2026-03-02T07:00:00Z">2026-03-02 07:00 UTC</time>' in report
    assert "a lost answer is cancelled at the provider and sent again (1 batch id" in report


def test_report_chart_and_rates() -> None:
    """Bars scale to the largest value; rates are percentages or None without sends."""
    chart = bar_chart("t", {"delivered": 8, "bounced": 2})
    plot_width = CHART_WIDTH - LABEL_WIDTH - 60  # the rest holds labels and values
    assert chart.bars[0].length == plot_width
    assert chart.bars[1].length == round(plot_width / 4, 1)
    assert chart.bars[1].y > chart.bars[0].y
    assert rate(1, 4) == 25.0
    assert rate(1, 0) is None
    assert bar_chart("empty", {}).bars == ()


def test_publisher_resends_transient_failures_once_while_fresh(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """The report offers publishers a resend of transient failures; it queues them once, audited,
    and past the deadline the page says the edition can no longer be resent."""
    from sqlalchemy import select, update

    from newsletter.delivery.models import Delivery, DeliveryState, FailureKind, SendBatch
    from newsletter.digests.models import DigestState
    from newsletter.editors.models import AuditEntry

    with db.session() as session:
        digest_id, list_id = rendered_digest(session)
        add_subscribers(session, list_id, 2)
    plan(db, digest_id)
    with db.session() as session:  # what an outage past the deadline leaves
        session.execute(
            update(Delivery).values(
                state=DeliveryState.FAILED, failure=FailureKind.TRANSIENT, last_error="refused"
            )
        )
        session.execute(update(SendBatch).values(state="failed"))
        session.execute(update(Digest).values(state=DigestState.FAILED))
    token = signed_in(Role.EDITOR)
    page = client.get(f"/editor/editions/{digest_id}").text
    assert "2 reader(s) did not get this edition" in page
    assert "Resending needs the publisher role" in page
    refused = client.post(f"/editor/editions/{digest_id}/resend", data={"csrf_token": token})
    assert refused.status_code == 403
    token = signed_in(Role.PUBLISHER)
    assert "Resend to these 2 reader(s)" in client.get(f"/editor/editions/{digest_id}").text
    done = client.post(f"/editor/editions/{digest_id}/resend", data={"csrf_token": token})
    assert done.headers["location"] == f"/editor/editions/{digest_id}?done=resent"
    again = client.post(f"/editor/editions/{digest_id}/resend", data={"csrf_token": token})
    assert again.status_code == 303
    with db.session() as session:
        states = list(session.scalars(select(Delivery.state)))
        assert states == [DeliveryState.QUEUED, DeliveryState.QUEUED]
        audits = session.scalars(
            select(AuditEntry.detail).where(AuditEntry.action == "edition.resend")
        ).all()
        assert [a["readers"] for a in audits] == [2, 0]
        session.execute(
            update(Delivery).values(state=DeliveryState.FAILED, failure=FailureKind.TRANSIENT)
        )
        session.execute(update(SendBatch).values(deliver_by=utcnow() - timedelta(minutes=1)))
    late = client.get(f"/editor/editions/{digest_id}").text
    assert "past its deadline" in late
    assert "Resend to these" not in late
    refused_late = client.post(f"/editor/editions/{digest_id}/resend", data={"csrf_token": token})
    assert refused_late.status_code in (400, 409)
    assert "past its deadline" in refused_late.text


def test_a_publication_stored_with_control_characters_still_previews(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """A name stored before the text rules held (ESC) loses the character in the email;
    the preview renders instead of a 500 (issue 17 B4)."""
    _ready(db)
    with db.session() as session:
        session.scalars(select(Publication)).one().name = "Evil\x1b[31m"
    signed_in(Role.EDITOR)
    page = client.get("/editor/preview")
    assert page.status_code == 200
    assert 'width="800"' in page.text  # the email rendered
