"""Sending a briefing as an alert: what is checked, what is frozen and made public, what is
refused with nothing changed, and the daily limit with its admin override."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsletter.briefings.models import BriefingState
from newsletter.briefings.services import get_briefing
from newsletter.content.edition import Cadence
from newsletter.db import Database, utcnow
from newsletter.delivery.audience import alert_readers
from newsletter.digests import alerts
from newsletter.digests.alerts import AlreadyAlerted, alerts_today
from newsletter.digests.models import Digest, DigestItem, DigestState
from newsletter.editors.models import AuditEntry
from newsletter.errors import InvalidInputError, NotFoundError, TransitionError
from newsletter.pipeline import tick
from newsletter.pipeline.alerts import check_alert, start_alert
from newsletter.publications.models import Publication
from newsletter.publications.services import get_publication
from newsletter.publishing.models import PublicChange
from newsletter.schedules.models import EditionKind, EditionState, ScheduledEdition
from subscribers.models import Subscriber, Subscription, SuppressionReason
from subscribers.suppression import suppress
from tests.factories import make_briefing
from tests.unit.newsletter.pipeline import alert_seed
from tests.unit.newsletter.schedules import seed

NOW = datetime(2026, 3, 4, 9, 30, tzinfo=UTC)


def seeded(database: Database, *, readers: int = 3, topics: tuple[str, ...] = ()) -> None:
    """A publication with one approved briefing on Climate ("flood") and alert readers."""
    with database.session() as session:
        pub = seed.publication(session, briefings=0, created=NOW - timedelta(days=1))
        make_briefing(session, slug="flood", title="Flood warning", topics=["Climate"])
        alert_seed.alert_readers(session, pub, readers, topics=topics)


def counts(database: Database) -> tuple[int, int, int, int]:
    """Alert digests, their items, scheduled editions and audit entries: all zero when refused."""
    with database.session() as session:
        return (
            session.scalar(select(func.count()).select_from(Digest)) or 0,
            session.scalar(select(func.count()).select_from(DigestItem)) or 0,
            session.scalar(select(func.count()).select_from(ScheduledEdition)) or 0,
            session.scalar(select(func.count()).select_from(AuditEntry)) or 0,
        )


def test_an_alert_is_frozen_rendered_public_started_and_audited(database: Database) -> None:
    """One briefing in an alert edition keyed by its id, rendered with the alert template
    (subject: the headline; a link to its page), public, its edition started, audited."""
    seeded(database)
    with database.session() as session:
        started = start_alert(session, "flood", "morning", actor="Pat", ip="10.0.0.1", now=NOW)
    with database.session() as session:
        digest = session.get(Digest, started.digest_id)
        assert digest is not None
        assert digest.cadence is Cadence.ALERT
        assert digest.state is DigestState.PUBLISHED
        assert digest.published_at is not None
        assert [item.content["slug"] for item in digest.items] == ["flood"]
        briefing_id = digest.items[0].briefing_id
        assert digest.slot == str(briefing_id)
        assert digest.subject == "Flood warning"
        page = f"https://news.example.org/p/morning/alerts/{briefing_id}/"
        assert started.url == page
        assert digest.text is not None
        assert page in digest.text
        assert digest.html is not None
        assert page in digest.html
        assert digest.web_html is not None
        assert ">Alert<" in digest.web_html
        assert f'<link rel="canonical" href="{page}">' in digest.web_html
        edition = session.get(ScheduledEdition, started.edition_id)
        assert edition is not None
        assert (edition.state, edition.kind, edition.digest_id) == (
            EditionState.STARTED,
            EditionKind.NOW,
            digest.id,
        )
        assert (edition.cadence, edition.slot) == (Cadence.ALERT, digest.slot)
        assert edition.label() == f"edition {edition.id} (morning 2026-03-04 alert {digest.slot})"
        entry = session.scalars(select(AuditEntry)).one()
        assert (entry.actor, entry.action, entry.ip) == ("Pat", "alert.send", "10.0.0.1")
        assert entry.detail["readers"] == 3
        assert entry.detail["over_limit"] is False
        assert session.scalar(select(func.count()).select_from(PublicChange)) == 1
        # Published, not yet planned: the tick's stalled-step pass plans it if the
        # worker's message was lost.
        later = utcnow() + timedelta(minutes=5)  # updated_at is the real clock's
        nudges = tick.stalled(session, later, timedelta(seconds=30))
        assert tick.Nudge("plan", digest.id) in nudges


def test_alerting_the_same_briefing_twice_is_refused(database: Database) -> None:
    """The second alert of a briefing in a publication is refused, naming the first."""
    seeded(database)
    with database.session() as session:
        first = start_alert(session, "flood", "morning", actor="Pat", now=NOW)
    before = counts(database)
    with database.session() as session, pytest.raises(AlreadyAlerted) as refused:
        start_alert(session, "flood", "morning", actor="Pat", now=NOW + timedelta(hours=1))
    assert f"digest {first.digest_id}" in str(refused.value)
    assert "already sent as an alert" in str(refused.value)
    assert counts(database) == before


@pytest.mark.parametrize(
    ("state", "approved_revision", "word"),
    [
        (BriefingState.DRAFT, None, "draft"),
        (BriefingState.WITHDRAWN, None, "withdrawn"),
        (BriefingState.REJECTED, None, "rejected"),
        # An approved briefing whose newer revision awaits approval: approve it first.
        (BriefingState.DRAFT, 1, "draft"),
    ],
)
def test_a_briefing_not_approved_is_refused(
    database: Database, state: BriefingState, approved_revision: int | None, word: str
) -> None:
    """Draft, withdrawn, rejected: refused naming the briefing and its state; nothing made."""
    with database.session() as session:
        pub = seed.publication(session, briefings=0)
        make_briefing(
            session, slug="raw", state=state, approved_revision=approved_revision, revisions=2
        )
        alert_seed.alert_readers(session, pub, 2)
    with database.session() as session, pytest.raises(TransitionError) as refused:
        start_alert(session, "raw", "morning", actor="Pat", now=NOW)
    assert f"is {word}: only an approved briefing" in str(refused.value)
    assert counts(database) == (0, 0, 0, 0)


def test_embargoed_taken_down_and_expired_briefings_are_refused(database: Database) -> None:
    """Under embargo, expired (by its Expires: or by the tick), taken down: refused."""
    with database.session() as session:
        pub = seed.publication(session, briefings=0)
        make_briefing(session, slug="later", embargo=NOW + timedelta(hours=2))
        make_briefing(session, slug="old", expires=NOW - timedelta(hours=1))
        gone = make_briefing(session, slug="gone")
        gone.taken_down_at = NOW - timedelta(hours=1)
        spent = make_briefing(session, slug="spent")
        spent.expired_at = NOW - timedelta(hours=1)
        alert_seed.alert_readers(session, pub, 2)
    messages = {
        "later": "under embargo until",
        "old": "expired at",
        "gone": "was taken down",
        "spent": "'spent' \\(id \\d+\\) expired: it cannot",
    }
    for slug, message in messages.items():
        with database.session() as session, pytest.raises(TransitionError, match=message):
            start_alert(session, slug, "morning", actor="Pat", now=NOW)
    assert counts(database) == (0, 0, 0, 0)


def test_unknown_briefing_or_publication_is_refused(database: Database) -> None:
    """Unknown names are 404s that name what was asked for."""
    seeded(database)
    with database.session() as session:
        with pytest.raises(NotFoundError, match="'nope'"):
            check_alert(session, "nope", "morning", now=NOW)
        with pytest.raises(NotFoundError, match="'evening'"):
            check_alert(session, "flood", "evening", now=NOW)


def test_a_publication_without_alert_readers_is_refused(database: Database) -> None:
    """Digest-only readers, readers whose alert topics miss the briefing's, suppressed and
    paused readers do not count: with only them the alert is refused, nothing made."""
    with database.session() as session:
        pub = seed.publication(session, briefings=0)
        make_briefing(session, slug="flood", topics=["Climate"])
        seed.readers(session, pub, 3)  # digest only
        alert_seed.alert_readers(session, pub, 2, start=10, topics=["Sport"])
        [suppressed] = alert_seed.alert_readers(session, pub, 1, start=20)
        suppress(session, suppressed, SuppressionReason.HARD_BOUNCE)
    with database.session() as session, pytest.raises(InvalidInputError) as refused:
        start_alert(session, "flood", "morning", actor="Pat", now=NOW)
    assert str(refused.value) == (
        "morning has no readers who opted into alerts on Climate: briefing 'flood' was not sent"
    )
    assert counts(database) == (0, 0, 0, 0)


def test_the_count_follows_kinds_topics_and_states(database: Database) -> None:
    """Alert readers on every topic and on a matching topic (any case) count; the rest not."""
    with database.session() as session:
        pub = seed.publication(session, briefings=0)
        seed.readers(session, pub, 4)  # digest only
        alert_seed.alert_readers(session, pub, 2, start=10)  # every topic
        alert_seed.alert_readers(session, pub, 3, start=20, topics=["climate", "Sport"])
        alert_seed.alert_readers(session, pub, 5, start=30, topics=["Sport"])
        alert_seed.alert_readers(session, pub, 1, start=40, digests=False)  # alerts only
        [paused] = alert_seed.alert_readers(session, pub, 1, start=50)
        session.flush()
        subscription = session.scalars(
            select(Subscription).join(Subscriber).where(Subscriber.email == paused)
        ).one()
        subscription.paused_until = NOW + timedelta(days=1)
        session.flush()
        assert alert_readers(session, pub, ["Climate"], NOW) == 2 + 3 + 1
        assert alert_readers(session, pub, ["Sport"], NOW) == 2 + 3 + 5 + 1
        assert alert_readers(session, pub, [], NOW) == 2 + 1
        assert alert_readers(session, pub, ["Climate"], NOW + timedelta(days=2)) == 7


def test_the_daily_limit_needs_an_admin_override(database: Database) -> None:
    """Past alerts_per_day: refused without the override, refused for a non-admin with it,
    sent for an admin with it, and the audit entry says so."""
    with database.session() as session:
        pub = seed.publication(session, briefings=0)
        pub.alerts_per_day = 1
        for slug in ("one", "two"):
            make_briefing(session, slug=slug)
        alert_seed.alert_readers(session, pub, 2)
    with database.session() as session:
        start_alert(session, "one", "morning", actor="Pat", now=NOW)
    with database.session() as session:
        check = check_alert(session, "two", "morning", now=NOW)
        assert (check.sent_today, check.limit, check.over_limit) == (1, 1, True)
    before = counts(database)
    with database.session() as session, pytest.raises(TransitionError) as refused:
        start_alert(session, "two", "morning", actor="Pat", now=NOW)
    assert "sent 1 alerts today; its limit is 1" in str(refused.value)
    assert "needs an admin's override" in str(refused.value)
    with database.session() as session, pytest.raises(TransitionError, match="only an admin"):
        start_alert(session, "two", "morning", actor="Pat", override=True, now=NOW)
    assert counts(database) == before
    with database.session() as session:
        started = start_alert(
            session, "two", "morning", actor="Ada", admin=True, override=True, now=NOW
        )
        assert started.over_limit
        entry = session.scalars(select(AuditEntry).where(AuditEntry.actor == "Ada")).one()
        assert entry.detail["over_limit"] is True
        # The next local day starts a new count.
        pub = get_publication(session, "morning")
        assert alerts_today(session, pub, NOW) == 2
        assert alerts_today(session, pub, NOW + timedelta(days=1)) == 0


def test_a_paused_publication_sends_no_alert(database: Database) -> None:
    """Paused means nothing goes out: the alert is refused naming the resume command."""
    seeded(database)
    with database.session() as session:
        get_publication(session, "morning").paused = True
    with database.session() as session, pytest.raises(InvalidInputError, match="is paused"):
        start_alert(session, "flood", "morning", actor="Pat", now=NOW)
    assert counts(database) == (0, 0, 0, 0)


def test_a_racing_second_alert_is_refused_by_the_unique_key(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two clicks that both pass the look-up: the database refuses the second item, and the
    loser is told which alert won, with nothing of its own left."""
    seeded(database)
    with database.session() as session:
        first = start_alert(session, "flood", "morning", actor="Pat", now=NOW)
    before = counts(database)
    with database.session() as session:
        pub, briefing = get_publication(session, "morning"), get_briefing(session, "flood")
        with pytest.raises(AlreadyAlerted):  # the look-up itself, first
            alerts.assemble_alert(session, pub, briefing, now=NOW)
    looked: list[int] = []
    real = alerts.find_alert

    def missed_once(session: Session, publication: Publication, briefing_id: int) -> Digest | None:
        looked.append(briefing_id)
        return None if len(looked) == 1 else real(session, publication, briefing_id)

    monkeypatch.setattr(alerts, "find_alert", missed_once)
    with database.session() as session:
        pub, briefing = get_publication(session, "morning"), get_briefing(session, "flood")
        with pytest.raises(AlreadyAlerted) as refused:
            alerts.assemble_alert(session, pub, briefing, now=NOW)
    assert refused.value.digest_id == first.digest_id
    assert len(looked) == 2
    assert counts(database) == before
