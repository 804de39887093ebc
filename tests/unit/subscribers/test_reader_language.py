"""A reader's language (``locale``) at every way in: profile rules, the sign-up form, the
JSON sign-up, the preferences page and the CSV import."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from newsletter.app.factory import create_app
from newsletter.db import Database
from newsletter.errors import InvalidInputError
from newsletter.settings import Settings
from subscribers import csvio, services
from subscribers.links import Links
from subscribers.profile import clean_profile
from subscribers.tokens import Tokens
from tests.unit.subscribers.factories import seed

BASE = "https://news.example.org"


@pytest.fixture
def settings(data_dir: Path) -> Settings:
    """Development settings with an outbox under the test's data directory."""
    return Settings(data_dir=data_dir, base_url=BASE)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """A German publication that also offers English and Korean; one in English only."""
    app = create_app(settings)
    seed(app.state.runtime.database, language="de", languages=["de", "en", "ko"])
    seed(app.state.runtime.database, "solo")
    with TestClient(app, base_url=BASE) as test_client:
        yield test_client


def _db(client: TestClient) -> Database:
    database: Database = client.app.state.runtime.database  # type: ignore[attr-defined]
    return database


def _locale(client: TestClient, email: str) -> str:
    with _db(client).session() as session:
        return services.get_subscriber(session, email).locale


@pytest.mark.parametrize(
    ("typed", "stored"),
    [("", ""), ("  ", ""), ("de", "de"), ("DE", "de"), ("pt_br", "pt-BR"), ("en-gb", "en-GB")],
)
def test_a_locale_is_kept_canonical_and_blank_means_not_chosen(typed: str, stored: str) -> None:
    """Tags come back as CLDR writes them; a blank one is "" (the publication's default)."""
    assert clean_profile(locale=typed).locale == stored


@pytest.mark.parametrize("typed", ["xx", "zz-ZZ", "english", "en-<b>", "a" * 40])
def test_an_unknown_locale_is_refused_naming_the_field(typed: str) -> None:
    """A tag CLDR does not know (even one shaped like a tag) is refused as ``locale``."""
    with pytest.raises(InvalidInputError) as caught:
        clean_profile(locale=typed)
    assert str(caught.value).startswith("locale: unknown language tag")


def test_the_form_offers_a_language_only_when_there_is_a_choice(client: TestClient) -> None:
    """Several languages: a select of their own names, the page's language chosen; one
    language: no select at all."""
    page = client.get("/subscribe/daily").text
    option = r'<option value="([\w-]+)" lang="[\w-]+"( selected)?>([^<]+)</option>'
    options = re.findall(option, page)
    assert options == [("de", " selected", "Deutsch"), ("en", "", "English"), ("ko", "", "한국어")]
    assert 'name="locale"' not in client.get("/subscribe/solo").text


def test_the_form_stores_the_language_chosen_and_refuses_an_unknown_one(
    client: TestClient,
) -> None:
    """Korean chosen is stored; 'xx' is a 400 at the field and nothing is stored."""
    ok = client.post("/subscribe/daily", data={"email": "ann@example.org", "locale": "ko"})
    assert ok.status_code == 200
    assert _locale(client, "ann@example.org") == "ko"
    bad = client.post("/subscribe/daily", data={"email": "bob@example.org", "locale": "xx"})
    assert bad.status_code == 400
    # A German page: the field is marked and the form says, in German, to check it.
    assert (
        '<p class="field-error" id="e-locale">'
        "Bitte prüfen Sie das markierte Feld und versuchen Sie es erneut.</p>"
    ) in bad.text
    with _db(client).session() as session:
        assert services.find_subscriber(session, "bob@example.org") is None


def test_the_json_sign_up_names_a_refused_locale(client: TestClient) -> None:
    """The API stores a valid tag canonical; an unknown one is a 422 naming ``locale``."""
    ok = client.post(
        "/api/subscribe", json={"email": "ann@example.org", "list": "daily", "locale": "en_GB"}
    )
    assert ok.status_code == 202
    assert _locale(client, "ann@example.org") == "en-GB"
    refused = client.post(
        "/api/subscribe", json={"email": "bob@example.org", "list": "daily", "locale": "xx"}
    )
    assert refused.status_code == 422
    assert refused.json()["fields"][0]["field"] == "locale"
    assert refused.json()["error"].startswith("locale: unknown language tag 'xx'")


def _preferences_url(client: TestClient, settings: Settings) -> str:
    with _db(client).session() as session:
        services.get_list(session, "daily").double_opt_in = False
    client.post("/subscribe/daily", data={"email": "ann@example.org"})
    with _db(client).session() as session:
        subscription = services.get_subscriber(session, "ann@example.org").subscriptions[0]
        links = Links(settings.base_url, Tokens(settings.secret_key.get_secret_value()))
        url = links.preferences_url(subscription.subscriber_id, subscription.list_id)
    return url.removeprefix(BASE)


def _save(client: TestClient, url: str, **fields: str) -> int:
    page = client.get(url).text
    found = re.search(r'name="list" value="(\d+)" checked', page)
    assert found is not None
    data = {"list": found.group(1), "pause": "", **fields}
    return client.post(url, data=data, follow_redirects=False).status_code


def test_preferences_change_the_language(client: TestClient, settings: Settings) -> None:
    """A reader who never chose sees the default selected and stays 'not chosen' when saving
    it; choosing English stores it; 'xx' is refused at the field, nothing changed."""
    url = _preferences_url(client, settings)
    assert _locale(client, "ann@example.org") == ""
    assert '<option value="de" lang="de" selected>Deutsch</option>' in client.get(url).text
    assert _save(client, url, locale="de") == 303
    assert _locale(client, "ann@example.org") == ""
    assert _save(client, url, locale="en") == 303
    assert _locale(client, "ann@example.org") == "en"
    assert '<option value="en" lang="en" selected>English</option>' in client.get(url).text
    page = client.get(url).text
    found = re.search(r'name="list" value="(\d+)" checked', page)
    assert found is not None
    refused = client.post(url, data={"list": found.group(1), "pause": "", "locale": "xx"})
    assert refused.status_code == 400
    assert '<p class="field-error" id="e-locale">locale: unknown language tag' in refused.text
    assert _locale(client, "ann@example.org") == "en"


def test_csv_import_checks_the_locale_column_by_row(any_database: Database, tmp_path: Path) -> None:
    """A ``locale`` column: valid tags stored canonical, blank ones not chosen, an unknown
    one reported with its row and column, the rest imported."""
    seed(any_database, language="de", languages=["de", "en"])
    path = tmp_path / "people.csv"
    path.write_text(
        "email,name,locale\n"
        "ann@example.org,Ann,en_gb\n"
        "bob@example.org,Bob,xx\n"
        "cid@example.org,Cid,\n",
        encoding="utf-8",
    )
    with any_database.session() as session:
        report = csvio.import_csv(
            session, path, list_slug="daily", confirmed=True, consent="At the fair"
        )
    assert [(p.row, p.reason) for p in report.problems] == [
        (3, "locale: unknown language tag 'xx'; use a tag such as en, de, fr-CA or pt-BR")
    ]
    with any_database.session() as session:
        assert services.get_subscriber(session, "ann@example.org").locale == "en-GB"
        assert services.get_subscriber(session, "cid@example.org").locale == ""
        assert services.find_subscriber(session, "bob@example.org") is None
