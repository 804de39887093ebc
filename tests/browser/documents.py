"""Every email and page the third-party checkers look at, rendered from fixed test data.

``EMAILS`` maps a name to a function returning an email's HTML: a new kind of email
adds one entry here and the checker tests (``test_checkers.py``) cover it in light and
dark schemes. ``archive_pages`` renders the static archive's pages; ``app_pages``
walks the running app (sign-up to unsubscribe, the sign-in form, an error page, and
the editors' pages once signed in) and returns each page's HTML as served.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from newsletter.app.factory import create_app
from newsletter.content.edition import (
    Cadence,
    CorrectionNote,
    CorrectionNotice,
    Edition,
    ItemStatus,
)
from newsletter.delivery.models import GroupState, ProviderGroup
from newsletter.editors import services as accounts
from newsletter.editors.models import Role
from newsletter.publications.models import Publication
from newsletter.render.email import render_email, render_template_email
from newsletter.render.web import (
    ArchiveEntry,
    BriefingEntry,
    render_archive_index,
    render_briefing_page,
    render_edition_page,
    render_topic_page,
    render_topics_index,
)
from newsletter.settings import Settings
from subscribers.confirmation import TEMPLATE as CONFIRMATION
from subscribers.confirmation import confirmation_context
from subscribers.links import Links
from subscribers.models import MailingList
from subscribers.services import get_subscriber
from subscribers.tokens import Tokens
from subscribers.welcome import TEMPLATE as WELCOME
from subscribers.welcome import welcome_context
from tests.fixtures.editions import long_edition, make_publication, sample_edition
from tests.unit.newsletter.delivery.dispatch_factories import rendered_digest
from tests.unit.subscribers.factories import link_in, outbox_messages

AT = datetime(2026, 3, 9, 8, 0, tzinfo=UTC)
LONG_TOPIC = "Supercalifragilisticexpialidocious-infrastructure-procurement-rules" * 2
PASSWORD = "a long enough password"
_CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


def corrected_edition() -> Edition:
    """The sample edition with a correction notice, a corrected and a withdrawn briefing."""
    edition = replace(
        sample_edition(),
        topic_slugs=(("Edinburgh", "edinburgh"), ("Public transport", "public-transport")),
        corrections=(
            CorrectionNotice(
                kind="correction",
                slug="tram-line-vote",
                title="City council backs the harbour tram extension",
                note="The vote was 38 to 21, not 39 to 20.",
                at=AT,
                url="https://news.example.org/p/morning-brief/briefings/tram-line-vote/",
            ),
        ),
    )
    items = list(edition.items)
    items[0] = replace(items[0], corrections=(CorrectionNote(at=AT, note="Vote count fixed."),))
    items[1] = replace(items[1], status=ItemStatus.WITHDRAWN, updated_at=AT)
    return replace(edition, items=tuple(items))


def confirmation_email(accent: str = "#1a56db") -> str:
    """The confirmation email as ``EmailConfirmer`` renders it (a transient publication)."""
    info = make_publication(accent_color=accent)
    fields = {name: getattr(info, name) for name in PUBLICATION_FIELDS}
    publication = Publication(**fields)
    mailing_list = MailingList(slug=info.slug, name=info.name, publication=publication)
    context = confirmation_context(publication, mailing_list, timedelta(hours=48))
    return render_template_email(CONFIRMATION, context).html


def alert_edition() -> Edition:
    """An alert: the sample edition's first briefing, sent on its own."""
    edition = sample_edition()
    return replace(edition, cadence=Cadence.ALERT, items=edition.items[:1])


def alert_email() -> str:
    """The alert's email."""
    return render_email(alert_edition()).html


def welcome_email() -> str:
    """The built-in welcome email, as ``EmailWelcomer`` renders it (a transient publication)."""
    info = make_publication(accent_color="#1a56db")
    fields = {name: getattr(info, name) for name in PUBLICATION_FIELDS}
    publication = Publication(**fields, welcome_subject="", welcome_body="")
    mailing_list = MailingList(slug=info.slug, name=info.name, publication=publication)
    return render_template_email(WELCOME, welcome_context(publication, mailing_list)).html


def written_email(language: str) -> str:
    """The digest with its publication, first briefing and chrome in ``language``."""
    # Imported here: the email samples build on this module's corrected edition.
    from tests.unit.newsletter.render.email_samples import written_in

    return render_email(written_in(language)).html


PUBLICATION_FIELDS = (
    "slug",
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
)


# name -> the email's HTML. Add each new kind of email here.
EMAILS: dict[str, Callable[[], str]] = {
    "digest": lambda: render_email(sample_edition()).html,
    "digest-corrected": lambda: render_email(corrected_edition()).html,
    "digest-shortened": lambda: render_email(long_edition(12), budget_bytes=40_000).html,
    "confirmation": confirmation_email,
    "alert": alert_email,
    "welcome": welcome_email,
    # Right to left, and Korean: written in the language, chrome and briefing.
    "digest-ar": lambda: written_email("ar"),
    "digest-ko": lambda: written_email("ko"),
}


def emails() -> dict[str, str]:
    """Every email of ``EMAILS``, rendered."""
    return {name: render() for name, render in EMAILS.items()}


def archive_pages(language: str | None = None) -> dict[str, str]:
    """The static archive's pages: edition, briefings, topics, the index (in ``language``;
    ``None``: the publication's)."""
    edition = corrected_edition()
    publication = make_publication()
    entry = BriefingEntry(
        "A briefing", "https://news.example.org/b/", date(2026, 3, 4), "https://x.example/"
    )
    index = [
        ArchiveEntry(date(2026, 3, 4), "Tram vote", "https://news.example.org/p/m/2026-03-04/", 3),
        ArchiveEntry(date(2026, 3, 1), "Weekly", "https://news.example.org/p/m/w/", 9, weekly=True),
    ]
    lang = {"language": language}
    return {
        "edition": render_edition_page(edition, **lang),
        "briefing": render_briefing_page(edition, edition.items[0], **lang),
        "withdrawn": render_briefing_page(edition, edition.items[1], **lang),
        "topics": render_topics_index(
            publication, [(LONG_TOPIC, "long"), ("Climate", "climate")], **lang
        ),
        "topic": render_topic_page(publication, LONG_TOPIC, "long", [entry], **lang),
        "archive-index": render_archive_index(publication, index, **lang),
        "weekly": render_edition_page(replace(edition, cadence=Cadence.WEEKLY), **lang),
        "alert": render_edition_page(alert_edition(), **lang),
    }


def app_pages(data_dir: Path) -> tuple[dict[str, str], dict[str, str]]:
    """(public pages, editors' pages) of the running app, as served, with test data."""
    settings = Settings(data_dir=data_dir, base_url="https://news.example.org")
    app = create_app(settings)
    database = app.state.runtime.database
    with database.session() as session:
        digest_id, _ = rendered_digest(session)
        # A delivery instant with microseconds, as a real plan has.
        send_at = datetime(2026, 3, 2, 7, 0, 0, 123456, tzinfo=UTC)
        session.add(
            ProviderGroup(
                digest_id=digest_id,
                provider_batch_id="b-1",
                send_at=send_at,
                created_at=send_at - timedelta(minutes=15),
                state=GroupState.CANCELLED,
            )
        )
        accounts.create_editor(session, "Admin", "admin@example.org", Role.ADMIN, PASSWORD)
    public: dict[str, str] = {}
    editor: dict[str, str] = {}
    with TestClient(app, base_url=settings.base_url, follow_redirects=False) as client:

        def get(path: str, status: int = 200) -> str:
            response = client.get(path)
            assert response.status_code == status, (path, response.status_code)
            return response.text

        public["home"] = get("/")
        public["subscribe"] = get("/subscribe/morning")
        refused = client.post("/subscribe/morning", data={"email": "not an address"})
        public["subscribe-refused"] = refused.text
        public["check-inbox"] = client.post(
            "/subscribe/morning", data={"email": "ann@example.org", "name": "Ann"}
        ).text
        [message] = outbox_messages(settings.outbox_dir)
        confirm = link_in(message, "/confirm/").removeprefix(settings.base_url)
        public["confirm"] = get(confirm)
        public["confirmed"] = client.post(confirm).text
        with database.session() as session:
            subscription = get_subscriber(session, "ann@example.org").subscriptions[0]
            ids = (subscription.subscriber_id, subscription.list_id)
        public.update(_personal_pages(client, settings, ids))
        public["not-found"] = get("/subscribe/nope", 404)
        login = get("/editor/login")
        public["sign-in"] = login
        csrf = _CSRF.search(login)
        assert csrf is not None
        signed = client.post(
            "/editor/login",
            data={"name": "Admin", "password": PASSWORD, "csrf_token": csrf.group(1)},
        )
        assert signed.status_code == 303, signed.text
        for name, path in {
            "briefings": "/editor/briefings?state=all",
            "briefing": "/editor/briefings/story-1",
            "briefing-edit": "/editor/briefings/story-1/edit",
            "editions": "/editor/editions?publication=morning",
            "report": f"/editor/editions/{digest_id}",
            "preview": "/editor/preview?publication=morning",
            "publications": "/editor/publications",
            "publication": "/editor/publications/morning",
            "lists": "/editor/lists",
            "accounts": "/editor/accounts",
            "schedules": "/editor/schedules?publication=morning",
            "subscribers": "/editor/subscribers",
            "api-docs": "/api/docs",
        }.items():
            editor[name] = get(path)
    app.state.runtime.close()
    return public, editor


def _personal_pages(client: TestClient, settings: Settings, ids: tuple[int, int]) -> dict[str, str]:
    """The preferences and unsubscribe pages of a confirmed subscriber, then unsubscribed."""
    links = Links(settings.base_url, Tokens(settings.secret_key.get_secret_value()))
    preferences = links.preferences_url(*ids).removeprefix(settings.base_url)
    unsubscribe = links.for_subscriber(*ids).unsubscribe.removeprefix(settings.base_url)
    pages = {"preferences": client.get(preferences).text}
    pages["unsubscribe"] = client.get(unsubscribe).text
    pages["unsubscribed"] = client.post(unsubscribe, data={"List-Unsubscribe": "One-Click"}).text
    return pages
