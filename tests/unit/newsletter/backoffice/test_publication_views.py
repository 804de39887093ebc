"""Admin pages for publication settings and mailing lists: forms, errors, roles, audit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from newsletter.backoffice.publication_views import FIELDS, changes_from_form, field_label
from newsletter.db import Database
from newsletter.editors.models import AuditEntry, Role
from newsletter.publications.models import Publication
from subscribers.models import MailingList
from tests.factories import make_publication, publication_values

SignIn = Callable[[Role], str]


def _publication(db: Database) -> None:
    with db.session() as session:
        make_publication(session)


def _audit(db: Database) -> list[tuple[str, str]]:
    with db.session() as session:
        entries = session.query(AuditEntry).filter(AuditEntry.action != "login")
        return [(e.action, e.target) for e in entries.order_by(AuditEntry.id)]


def _settings_form(token: str, **changes: str) -> dict[str, str]:
    """The settings form as the browser posts it unchanged, with some fields changed."""
    values = publication_values()
    data = {"csrf_token": token, "language": "en", "max_briefings": "10"}
    for field in FIELDS:
        if isinstance(values.get(field), str):
            data[field] = values[field]
    data.update(changes)
    return data


def test_admin_edits_publication_settings(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """An admin changes settings through the form; the change is saved and audited."""
    _publication(db)
    token = signed_in(Role.ADMIN)
    listing = client.get("/editor/publications").text
    assert 'href="/editor/publications/morning"' in listing
    assert 'href="/editor/lists?publication=morning">1</a>' in listing
    form = client.get("/editor/publications/morning").text
    assert "Settings of" in form
    assert 'name="track_opens" value="yes"' in form
    data = _settings_form(
        token, tagline="Five things before nine", topics="City\nTransport\n\n", track_clicks="yes"
    )
    saved = client.post("/editor/publications/morning", data=data)
    assert saved.status_code == 303
    assert saved.headers["location"] == "/editor/publications/morning?done=publication-saved"
    assert "Publication saved." in client.get(saved.headers["location"]).text
    with db.session() as session:
        publication = session.query(Publication).one()
        assert publication.tagline == "Five things before nine"
        assert list(publication.topics) == ["City", "Transport"]
        assert publication.track_clicks is True
        assert publication.track_opens is False
        entry = session.query(AuditEntry).filter_by(action="publication.edit").one()
        assert "tagline" in entry.detail["changed"]
        assert "track_clicks" in entry.detail["changed"]


def test_bad_settings_are_shown_on_the_form_and_change_nothing(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """A value that fails validation re-renders the form as typed, naming the field by label."""
    _publication(db)
    token = signed_in(Role.ADMIN)
    data = _settings_form(
        token, tagline="Kept as typed <b>", from_email="not-an-address", max_briefings="many"
    )
    refused = client.post("/editor/publications/morning", data=data)
    assert refused.status_code == 400
    assert 'role="alert">Not saved: publication' in refused.text
    assert "Sender email: expected an email address" in refused.text
    assert "Briefings per edition: Input should be a valid integer" in refused.text
    assert 'value="Kept as typed &lt;b&gt;"' in refused.text
    assert 'value="not-an-address"' in refused.text
    with db.session() as session:
        assert session.query(Publication).one().from_email == "morning@example.org"
    assert _audit(db) == []


def test_admin_adds_lists_and_switches_opt_in(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """An admin sees each publication's lists, adds one and makes it single opt-in."""
    _publication(db)
    token = signed_in(Role.ADMIN)
    page = client.get("/editor/lists").text
    assert "Mailing lists" in page
    assert "default list" in page
    assert "double opt-in" in page
    added = client.post(
        "/editor/lists",
        data={
            "csrf_token": token,
            "publication": "morning",
            "slug": "weekend",
            "name": "Weekend edition",
            "double_opt_in": "yes",
        },
    )
    assert added.headers["location"] == "/editor/lists?publication=morning&done=list-added"
    assert "Weekend edition" in client.get(added.headers["location"]).text
    switched = client.post(
        "/editor/lists/weekend/opt-in", data={"csrf_token": token, "double_opt_in": "no"}
    )
    assert switched.headers["location"].endswith("done=opt-in-single")
    assert "single opt-in" in client.get("/editor/lists?publication=morning").text
    client.post("/editor/lists/weekend/opt-in", data={"csrf_token": token, "double_opt_in": "yes"})
    assert _audit(db) == [
        ("list.add", "weekend"),
        ("list.single_opt_in", "weekend"),
        ("list.double_opt_in", "weekend"),
    ]


def test_a_refused_list_is_shown_on_the_form(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """A bad slug or a taken one re-renders the page with the message and adds nothing."""
    _publication(db)
    token = signed_in(Role.ADMIN)
    data = {"csrf_token": token, "publication": "morning", "slug": "Bad Slug", "name": "Extra"}
    refused = client.post("/editor/lists", data=data)
    assert refused.status_code == 400
    assert 'role="alert">Not added: slug:' in refused.text
    assert 'value="Bad Slug"' in refused.text
    assert 'name="double_opt_in" value="yes">' in refused.text  # unticked as posted
    taken = client.post("/editor/lists", data={**data, "slug": "morning"})
    assert "already exists" in taken.text
    ghost = client.post("/editor/lists", data={**data, "publication": "ghost", "slug": "x"})
    assert ghost.status_code == 400
    with db.session() as session:  # nothing stored: showing the page creates no list
        assert [m.slug for m in session.query(MailingList)] == []
    assert _audit(db) == []


@pytest.mark.parametrize("role", [Role.EDITOR, Role.PUBLISHER])
def test_lists_and_settings_are_for_admins(
    client: TestClient, db: Database, signed_in: SignIn, role: Role
) -> None:
    """Editors and publishers get 403 on every page and form, and nothing changes."""
    _publication(db)
    token = signed_in(role)
    assert "/editor/lists" not in client.get("/editor/briefings").text
    for path in ("/editor/lists", "/editor/publications", "/editor/publications/morning"):
        assert client.get(path).status_code == 403
    posts = {
        "/editor/lists": {"publication": "morning", "slug": "extra", "name": "Extra"},
        "/editor/lists/morning/opt-in": {"double_opt_in": "no"},
        "/editor/publications/morning": {"name": "Taken over"},
    }
    for path, data in posts.items():
        assert client.post(path, data={"csrf_token": token, **data}).status_code == 403
    with db.session() as session:
        assert session.query(Publication).one().name == "The Morning Test"
        assert session.query(MailingList).count() == 0
    assert _audit(db) == []


def test_admin_forms_need_the_csrf_token(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """Without the session's CSRF token an admin's list and settings forms are 403."""
    _publication(db)
    signed_in(Role.ADMIN)
    assert (
        client.post("/editor/lists/morning/opt-in", data={"double_opt_in": "no"}).status_code == 403
    )
    assert (
        client.post(
            "/editor/publications/morning", data={"csrf_token": "0" * 64, "name": "X"}
        ).status_code
        == 403
    )
    assert _audit(db) == []


def test_form_values_become_changes() -> None:
    """Counts become numbers, topics one per line, ticked boxes true; labels name fields."""
    values = dict.fromkeys(
        (
            "name",
            "tagline",
            "from_name",
            "from_email",
            "reply_to",
            "base_url",
            "postal_address",
            "language",
            "accent_color",
            "logo_url",
        ),
        "",
    )
    changes = changes_from_form(
        {**values, "max_briefings": " 7 ", "topics": " City \n\nSport"}, {"track_opens"}
    )
    assert changes["max_briefings"] == 7
    assert changes["topics"] == ["City", "Sport"]
    assert (changes["track_opens"], changes["track_clicks"]) == (True, False)
    assert (
        changes_from_form({**values, "max_briefings": "ten", "topics": ""}, set())["max_briefings"]
        == "ten"
    )
    assert field_label("from_email") == "Sender email"
    assert field_label("slug") == "slug"


def _new_publication(token: str, **changes: str) -> dict[str, str]:
    data = {
        "csrf_token": token,
        "slug": "evening",
        "name": "The Evening Briefing",
        "from_name": "Evening desk",
        "from_email": "evening@news.example.org",
        "base_url": "https://news.example.org",
        "postal_address": "1 Press Street, Springfield",
        "timezone": "Europe/Berlin",
        "language": "de",
    }
    data.update(changes)
    return data


def test_admin_creates_a_publication_in_the_app(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """The essentials make a publication (the rest its defaults); it opens on its settings."""
    token = signed_in(Role.ADMIN)
    assert "Add a publication" in client.get("/editor/publications").text
    created = client.post("/editor/publications", data=_new_publication(token))
    assert created.status_code == 303
    assert created.headers["location"] == "/editor/publications/evening?done=publication-created"
    with db.session() as session:
        publication = session.query(Publication).one()
        assert (publication.slug, publication.timezone, publication.language) == (
            "evening",
            "Europe/Berlin",
            "de",
        )
        assert publication.weekdays == ["mon", "tue", "wed", "thu", "fri"]
    assert ("publication.add", "evening") in _audit(db)
    assert "Publication added." in client.get(created.headers["location"]).text


def test_a_refused_publication_keeps_the_form_and_names_the_field(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    token = signed_in(Role.ADMIN)
    bad_zone = client.post(
        "/editor/publications", data=_new_publication(token, timezone="Mars/Olympus")
    )
    assert bad_zone.status_code == 400
    assert "Not added: Time zone" in bad_zone.text
    assert 'value="Mars/Olympus"' in bad_zone.text
    assert 'value="The Evening Briefing"' in bad_zone.text
    digits = client.post("/editor/publications", data=_new_publication(token, slug="2024"))
    assert digits.status_code == 400
    assert "Address name (slug)" in digits.text
    with db.session() as session:
        assert session.query(Publication).count() == 0
    assert client.post("/editor/publications", data=_new_publication(token)).status_code == 303
    again = client.post("/editor/publications", data=_new_publication(token, name="Other"))
    assert again.status_code == 400
    assert "Not added: Address name (slug): &#39;evening&#39; is another publication" in again.text
    signed_in(Role.PUBLISHER)
    assert client.post("/editor/publications", data=_new_publication(token)).status_code == 403


def test_the_forms_keep_their_length_limits(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """Each form field has its bound (500 characters; the postal address 2,000, topics
    10,000, weekly days 7): past it the post is refused as malformed and nothing is written."""
    _publication(db)
    token = signed_in(Role.ADMIN)
    edit = "/editor/publications/morning"
    for field, value in {
        "name": "x" * 501,
        "postal_address": "x" * 2001,
        "topics": "x" * 10_001,
    }.items():
        assert client.post(edit, data=_settings_form(token, **{field: value})).status_code == 422
    for field, value in {"slug": "x" * 501, "postal_address": "x" * 2001}.items():
        new = _new_publication(token, **{field: value})
        assert client.post("/editor/publications", data=new).status_code == 422
    eight: dict[str, Any] = {**_settings_form(token), "weekly_days": ["mon"] * 8}
    assert client.post(edit, data=eight).status_code == 422
    with db.session() as session:
        assert session.query(Publication).count() == 1
    assert _audit(db) == []
    # Within the bounds: a postal address longer than a one-line field is saved.
    address = "1 Long Road\n" + "y" * 600
    assert client.post(edit, data=_settings_form(token, postal_address=address)).status_code == 303
    with db.session() as session:
        assert session.query(Publication).one().postal_address == address
