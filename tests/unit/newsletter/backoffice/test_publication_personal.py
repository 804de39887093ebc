"""The personal-digest settings on the admin's publication form (issue 15)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from newsletter.backoffice.publication_views import FIELDS
from newsletter.content.edition import Cadence
from newsletter.db import Database
from newsletter.editors.models import AuditEntry, Role
from newsletter.publications.models import Publication, TopicMode
from subscribers import services
from subscribers.models import ConsentSource, SubscriptionState
from subscribers.services import SignupRequest
from subscribers.transitions import Evidence
from tests.factories import make_publication, publication_values

SignIn = Callable[[Role], str]


def _form(token: str, **changes: object) -> dict[str, object]:
    """The settings form as a browser posts it unchanged, with some fields changed."""
    values = publication_values()
    data: dict[str, object] = {"csrf_token": token, "language": "en", "max_briefings": "10"}
    for field in FIELDS:
        if isinstance(values.get(field), str):
            data[field] = values[field]
    data.update({"weekly_max": "10", "topic_mode": "only"})
    data.update(changes)
    return data


def test_admin_sets_local_delivery_roundup_days_and_topic_mode(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """The form shows the settings, saves them and audits which changed."""
    with db.session() as session:
        make_publication(session)
    token = signed_in(Role.ADMIN)
    page = client.get("/editor/publications/morning").text
    assert "Personal digests" in page
    assert 'name="weekly_days" value="sun"' in page
    assert 'name="local_delivery" value="yes"' in page
    data = _form(
        token, local_delivery="yes", weekly_days=["sun", "wed"], weekly_max="6", topic_mode="first"
    )
    saved = client.post("/editor/publications/morning", data=data)
    assert saved.status_code == 303, saved.text
    with db.session() as session:
        publication = session.query(Publication).one()
        assert publication.local_delivery is True
        assert publication.weekly_days == ["wed", "sun"]
        assert publication.weekly_max == 6
        assert publication.topic_mode is TopicMode.FIRST
        entry = session.query(AuditEntry).filter_by(action="publication.edit").one()
        assert {"local_delivery", "weekly_days", "weekly_max", "topic_mode"} <= set(
            entry.detail["changed"]
        )
    shown = client.get("/editor/publications/morning").text
    assert 'value="sun" checked' in shown
    assert '<option value="first" selected>' in shown


def test_bad_values_are_refused_naming_the_field(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """A forged day, a roundup size out of range, an unknown mode: 400, label named, no change."""
    with db.session() as session:
        make_publication(session)
    token = signed_in(Role.ADMIN)
    for changes, expected in (
        (
            {"weekly_days": ["sun", "caturday"]},
            "Weekly roundup days: unknown day &#39;caturday&#39;",
        ),
        ({"weekly_max": "500"}, "Briefings per roundup: Input should be less than or equal"),
        ({"topic_mode": "all"}, "Readers&#39; topics: expected one of only, first"),
    ):
        refused = client.post("/editor/publications/morning", data=_form(token, **changes))
        assert refused.status_code == 400
        assert expected in refused.text
    with db.session() as session:
        publication = session.query(Publication).one()
        assert (publication.weekly_days, publication.weekly_max) == ([], 10)
        assert publication.topic_mode is TopicMode.ONLY


def test_a_day_weekly_readers_chose_cannot_be_taken_away(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """Dropping Sunday while a weekly reader gets their roundup on Sunday is refused."""
    with db.session() as session:
        make_publication(session, weekly_days=["sat", "sun"])
        request = SignupRequest(
            email="ann@example.org",
            list_slug="morning",
            evidence=Evidence(ConsentSource.CLI, text="test"),
            cadence="weekly",
            weekly_day="sun",
            skip_opt_in=True,
        )
        result = services.sign_up(session, request, confirmer=None)  # type: ignore[arg-type]
        assert result.subscription is not None
        assert result.subscription.cadence is Cadence.WEEKLY
        assert result.subscription.state is SubscriptionState.CONFIRMED
    token = signed_in(Role.ADMIN)
    refused = client.post("/editor/publications/morning", data=_form(token, weekly_days=["sat"]))
    assert refused.status_code == 400
    assert "Weekly roundup days: 1 weekly reader(s) chose a day" in refused.text
    assert "1 on sun" in refused.text
    with db.session() as session:
        assert session.query(Publication).one().weekly_days == ["sat", "sun"]
        assert session.query(AuditEntry).filter_by(action="publication.edit").count() == 0
    kept = client.post("/editor/publications/morning", data=_form(token, weekly_days=["sun"]))
    assert kept.status_code == 303
