"""The subscriber pages in the publication's language, served by the app.

A reader walks the whole way (sign-up form, a refused sign-up, "check your inbox",
confirm, confirmed, preferences saved and paused, unsubscribe from one kind of mail,
then from the list) once per language. In the pseudo-locale no English word may be left
outside the marks but the test's own data; each shipped language shows its words,
its weekday names and its direction.
"""

from __future__ import annotations

import html as html_module
import re
from pathlib import Path

import pytest
from babel.dates import get_day_names, get_month_names
from fastapi.testclient import TestClient

from newsletter import i18n
from newsletter.app.factory import create_app
from newsletter.content.edition import MailKind
from newsletter.db import Database
from newsletter.publications.models import Publication
from newsletter.settings import Settings
from subscribers import services
from subscribers.choices import zone_options
from subscribers.links import Links
from subscribers.tokens import Tokens
from tests.pseudo import english_left
from tests.unit.subscribers.factories import link_in, outbox_messages, seed

BASE = "https://news.example.org"
# A validation refusal's message, at the top of the form and beside its field.
REFUSAL = re.compile(r'<p class="(?:error|field-error)"[^>]*>([^<]*)</p>')
TOPICS = ["Climate", "Science"]
# What the pages show that the test supplied or that is no catalog's: the publication,
# the address, topics, zone names, CLDR's day and month names.
DATA = [
    "The Daily Briefing",
    "ann@example.org",
    "Ann",
    "not an address",
    "Mars/Olympus",
    *TOPICS,
    *zone_options(""),
    *get_day_names("wide", locale="en").values(),
    *get_month_names("wide", locale="en").values(),
]


def walk(client: TestClient, settings: Settings, database: Database) -> dict[str, str]:
    """Every subscriber page, as served: name -> HTML."""
    pages = {"subscribe": client.get("/subscribe/daily").text}
    refused = client.post("/subscribe/daily", data={"email": "not an address"})
    pages["subscribe-refused"] = refused.text
    pages["check-inbox"] = client.post(
        "/subscribe/daily", data={"email": "ann@example.org", "name": "Ann"}
    ).text
    [message] = outbox_messages(settings.outbox_dir)
    confirm = link_in(message, "/confirm/").removeprefix(BASE)
    pages["confirm"] = client.get(confirm).text
    pages["confirmed"] = client.post(confirm).text
    pages["confirmed-again"] = client.get(confirm).text
    with database.session() as session:
        subscription = services.get_subscriber(session, "ann@example.org").subscriptions[0]
        ids = (subscription.subscriber_id, subscription.list_id)
    links = Links(settings.base_url, Tokens(settings.secret_key.get_secret_value()))
    preferences = links.preferences_url(*ids).removeprefix(BASE)
    pages["preferences"] = client.get(preferences).text
    form = {"list": str(ids[1]), f"kinds-{ids[1]}": "shown", f"digests-{ids[1]}": "yes"}
    saved = client.post(preferences, data={**form, "pause": "7"}, follow_redirects=True)
    pages["preferences-paused"] = saved.text
    refused_choice = client.post(preferences, data={**form, "timezone": "Mars/Olympus"})
    pages["preferences-refused"] = refused_choice.text
    one_kind = links.unsubscribe_url(*ids, kind=MailKind.DIGEST).removeprefix(BASE)
    pages["unsubscribe-kind"] = client.get(one_kind).text
    whole = links.for_subscriber(*ids).unsubscribe.removeprefix(BASE)
    pages["unsubscribe"] = client.get(whole).text
    pages["unsubscribed"] = client.post(whole, data={"List-Unsubscribe": "One-Click"}).text
    return pages


def served_pages(data_dir: Path, language: str) -> dict[str, str]:
    """Every subscriber page of a publication in ``language``, as a fresh app serves it."""
    settings = Settings(data_dir=data_dir, base_url=BASE)
    app = create_app(settings)
    database = app.state.runtime.database
    seed(database, topics=TOPICS, weekly_days=["fri"])
    with database.session() as session:
        # Set directly: the pseudo-locale is no language a publication may name.
        session.query(Publication).update({Publication.language: language})
    with TestClient(app, base_url=BASE) as client:
        pages = walk(client, settings, database)
    app.state.runtime.close()
    return pages


@pytest.fixture(scope="module")
def pages_by_language(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    """The pages of one publication in each language (the pseudo-locale included)."""
    return {
        language: served_pages(tmp_path_factory.mktemp(f"pages-{language}"), language)
        for language in (i18n.PSEUDO, *i18n.SHIPPED)
    }


PAGES = [
    "subscribe",
    "subscribe-refused",
    "check-inbox",
    "confirm",
    "confirmed",
    "confirmed-again",
    "preferences",
    "preferences-paused",
    "preferences-refused",
    "unsubscribe-kind",
    "unsubscribe",
    "unsubscribed",
]


@pytest.mark.parametrize("name", PAGES)
def test_pseudo_locale_leaves_no_english_on_a_subscriber_page(
    pages_by_language: dict[str, dict[str, str]], name: str
) -> None:
    """Every word of the page is marked for translation (or is the test's own data)."""
    html = pages_by_language[i18n.PSEUDO][name]
    data = list(DATA)
    if name == "preferences-refused":  # a forged choice: the rule's English words
        data += [html_module.unescape(text) for text in REFUSAL.findall(html)]
    assert english_left(html, data=data, html=True) == []


@pytest.mark.parametrize(
    ("language", "said"),
    [
        ("en", "email: 'not an address' is not a valid address"),
        ("de", "Geben Sie eine E-Mail-Adresse an, die Post empfangen kann"),
        ("fr", "Indiquez une adresse e-mail qui peut recevoir du courrier"),
        ("es", "Indique una dirección de correo electrónico que pueda recibir mensajes"),
        ("ar", "أدخل عنوان بريد إلكتروني يستقبل الرسائل"),
        ("ko", "메일을 받을 수 있는 이메일 주소를 입력하세요"),
    ],
)
def test_a_refused_sign_up_says_why_in_the_pages_language(
    pages_by_language: dict[str, dict[str, str]], language: str, said: str
) -> None:
    """A mistyped address: the form says what to do in its language, at the top and
    beside the field it marks, and keeps what the reader typed. English pages show the
    rule itself, as the API and the command line word it."""
    html = pages_by_language[language]["subscribe-refused"]
    shown = [html_module.unescape(text) for text in REFUSAL.findall(html)]
    assert len(shown) == 2
    assert all(said in text for text in shown), shown
    assert 'aria-invalid="true" aria-describedby="e-email"' in html
    assert 'value="not an address"' in html


@pytest.mark.parametrize("language", i18n.SHIPPED)
def test_each_language_renders_every_subscriber_page(
    pages_by_language: dict[str, dict[str, str]], language: str
) -> None:
    """Each page is in the publication's language and direction."""
    direction = i18n.direction(language)
    for name in PAGES:
        html = pages_by_language[language][name]
        assert f'<html lang="{language}" dir="{direction}">' in html, name


@pytest.mark.parametrize(
    ("language", "subscribe", "friday", "paused"),
    [
        ("en", "Subscribe to The Daily Briefing", "Friday", "Paused until"),
        ("de", "The Daily Briefing abonnieren", "Freitag", "Pausiert bis"),
        ("fr", "S’abonner à The Daily Briefing", "vendredi", "Suspendu jusqu’au"),
        ("es", "Suscribirse a The Daily Briefing", "viernes", "En pausa hasta el"),
        ("ar", "الاشتراك في The Daily Briefing", "الجمعة", "متوقف مؤقتًا حتى"),
        ("ko", "The Daily Briefing 구독하기", "금요일", "일시 중지됨"),
    ],
)
def test_translations_on_the_subscriber_pages(
    pages_by_language: dict[str, dict[str, str]],
    language: str,
    subscribe: str,
    friday: str,
    paused: str,
) -> None:
    """Spot checks: the sign-up heading, the roundup day's name, the pause line."""
    pages = pages_by_language[language]
    assert subscribe in pages["subscribe"]
    assert friday in pages["subscribe"]
    assert paused in pages["preferences-paused"]
