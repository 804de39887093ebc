"""Languages in the editors' app: each publication's offer (form, list, API) and each
reader's language (search results, reader page)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from newsletter.db import Database
from newsletter.editors.models import Role
from newsletter.publications.models import Publication
from subscribers import services
from subscribers.models import ConsentSource, Subscriber
from subscribers.services import SignupRequest
from subscribers.transitions import Evidence
from tests.factories import make_publication, publication_values
from tests.unit.newsletter.backoffice.conftest import Accounts
from tests.unit.newsletter.backoffice.test_publication_personal import _form
from tests.unit.subscribers.factories import NoConfirm

SignIn = Callable[[Role], str]


def _offered(db: Database) -> tuple[str, list[str]]:
    with db.session() as session:
        publication = session.query(Publication).one()
        return publication.language, list(publication.languages)


def test_the_form_sets_the_languages_offered_and_refuses_an_unknown_tag(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """Typed tags (commas or spaces) are saved canonical; 'xx' is refused naming the field
    and its place, and nothing changes; the default is always offered; the publications
    page lists each one's languages."""
    with db.session() as session:
        make_publication(session)
    token = signed_in(Role.ADMIN)
    page = client.get("/editor/publications/morning").text
    assert 'name="languages" type="text" value="en"' in page
    saved = client.post("/editor/publications/morning", data=_form(token, languages="en, DE ko"))
    assert saved.status_code == 303, saved.text
    assert _offered(db) == ("en", ["en", "de", "ko"])
    refused = client.post("/editor/publications/morning", data=_form(token, languages="en, xx"))
    assert refused.status_code == 400
    assert "Languages offered[1]: unknown language tag &#39;xx&#39;" in refused.text
    assert _offered(db) == ("en", ["en", "de", "ko"])
    # The default is always offered, first: added when the list lacks it.
    moved = client.post(
        "/editor/publications/morning", data=_form(token, language="fr", languages="en, de")
    )
    assert moved.status_code == 303
    assert _offered(db) == ("fr", ["fr", "en", "de"])
    listing = client.get("/editor/publications").text
    assert '<span lang="fr">fr</span> <span class="muted">(default)</span>' in listing
    assert '<span lang="de">de</span>' in listing


def test_the_add_form_takes_languages(client: TestClient, db: Database, signed_in: SignIn) -> None:
    """A new publication may offer several languages at once; a bad one names the field."""
    token = signed_in(Role.ADMIN)
    data = {
        "csrf_token": token,
        "slug": "abend",
        "name": "Abend",
        "from_name": "Abend",
        "from_email": "abend@example.org",
        "base_url": "https://abend.example.org",
        "postal_address": "1 Strasse",
        "timezone": "Europe/Berlin",
        "language": "de",
        "languages": "de en-gb",
    }
    refused = client.post("/editor/publications", data={**data, "languages": "de zz"})
    assert refused.status_code == 400
    assert "Languages offered[1]: unknown language tag &#39;zz&#39;" in refused.text
    assert client.post("/editor/publications", data=data).status_code == 303
    assert _offered(db) == ("de", ["de", "en-GB"])


def test_the_api_sets_languages_and_names_the_field_it_refuses(
    client: TestClient, db: Database, accounts: Accounts
) -> None:
    """PATCH changes the offer; an unknown tag is refused naming languages[1], nothing kept;
    POST with a bad tag is a 422 naming it."""
    with db.session() as session:
        make_publication(session)
    admin = accounts.bearer(Role.ADMIN)
    changed = client.patch(
        "/api/publications/morning", json={"languages": ["en", "fr"]}, headers=admin
    )
    assert changed.status_code == 200
    assert changed.json()["languages"] == ["en", "fr"]
    refused = client.patch(
        "/api/publications/morning", json={"languages": ["en", "xx"]}, headers=admin
    )
    assert refused.status_code == 400
    assert "languages[1]: unknown language tag 'xx'" in refused.json()["error"]
    assert _offered(db) == ("en", ["en", "fr"])
    body = publication_values(slug="other", languages=["en", "qq"])
    added = client.post("/api/publications", json=body, headers=admin)
    assert added.status_code == 422
    assert "unknown language tag 'qq'" in added.text
    assert "languages" in added.text


def test_readers_language_shows_in_search_and_on_their_page(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """A reader who chose German shows 'de'; one who chose nothing shows the default; on the
    reader's page each subscription says which language that publication sends them."""
    evidence = Evidence(source=ConsentSource.CLI, text="test")
    with db.session() as session:
        publication = make_publication(session, language="en", languages=["en", "de"])
        services.ensure_default_list(session, publication)
        for email, locale in (("anna@example.org", "de-AT"), ("bob@example.org", "")):
            services.sign_up(
                session,
                SignupRequest(email=email, list_slug="morning", evidence=evidence, locale=locale),
                confirmer=NoConfirm(),
            )
        anna = session.query(Subscriber).filter_by(email="anna@example.org").one().id
        bob = session.query(Subscriber).filter_by(email="bob@example.org").one().id
    signed_in(Role.ADMIN)
    results = client.get("/editor/subscribers?q=example").text
    assert '<td class="hide-small">de-AT</td>' in results
    assert '<td class="hide-small">default</td>' in results
    page = client.get(f"/editor/subscribers/{anna}").text
    assert '<span lang="de-AT">de-AT</span>' in page
    assert "<td>de</td>" in page  # de-AT reads the German edition
    page = client.get(f"/editor/subscribers/{bob}").text
    assert "not chosen" in page
    assert "<td>en</td>" in page
