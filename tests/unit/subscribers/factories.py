"""Test data for subscriber tests: publications, lists, subscribers, outbox reading."""

from __future__ import annotations

import email
import re
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

from sqlalchemy.orm import Session

from newsletter.db import Database
from newsletter.publications.models import Publication
from subscribers import services
from subscribers.models import ConsentSource, MailingList, Subscription
from subscribers.services import SignupRequest
from subscribers.transitions import Evidence

TOPICS = ["Politics", "Science", "Sport"]


def make_publication(session: Session, slug: str = "daily", **fields: object) -> Publication:
    """A stored publication with three topics."""
    values: dict[str, object] = {
        "slug": slug,
        "name": f"The {slug.title()} Briefing",
        "from_name": "Briefing desk",
        "from_email": "desk@example.org",
        "reply_to": "letters@example.org",
        "base_url": "https://news.example.org",
        "postal_address": "1 Example Street, Exampleton",
        "topics": list(TOPICS),
    }
    values.update(fields)
    publication = Publication(**values)
    session.add(publication)
    session.flush()
    return publication


def seed(database: Database, slug: str = "daily", **fields: object) -> int:
    """Store a publication and its default list; returns the list id."""
    with database.session() as session:
        publication = make_publication(session, slug, **fields)
        return services.ensure_default_list(session, publication).id


class NoConfirm:
    """A confirmer that remembers what it was asked to send."""

    def __init__(self) -> None:
        self.sent: list[int] = []

    def send(self, subscriptions: object) -> None:
        """Record the subscription ids."""
        self.sent.extend(s.id for s in subscriptions)  # type: ignore[attr-defined]


def web_evidence() -> Evidence:
    """Evidence of a web sign-up."""
    return Evidence(ConsentSource.WEB, ip="192.0.2.7", user_agent="TestBrowser/1.0")


def signup(
    session: Session,
    email: str = "ann@example.org",
    slug: str = "daily",
    confirmer: NoConfirm | None = None,
    **fields: object,
) -> services.SignupResult:
    """Sign ``email`` up on the web."""
    request = SignupRequest(email=email, list_slug=slug, evidence=web_evidence(), **fields)  # type: ignore[arg-type]
    return services.sign_up(session, request, confirmer=confirmer or NoConfirm())


def subscription(session: Session, email: str, mailing_list: MailingList) -> Subscription:
    """The subscription of ``email`` on ``mailing_list``."""
    subscriber = services.get_subscriber(session, email)
    return next(s for s in subscriber.subscriptions if s.list_id == mailing_list.id)


def outbox_messages(directory: Path) -> list[EmailMessage]:
    """Every message in an outbox folder, oldest first."""
    return [
        email.message_from_bytes(path.read_bytes(), policy=default)  # type: ignore[misc]
        for path in sorted(directory.glob("*.eml"))
    ]


def text_of(message: EmailMessage) -> str:
    """The text/plain part of a message."""
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def link_in(message: EmailMessage, path: str) -> str:
    """The first URL in the text part whose path starts with ``path``."""
    match = re.search(rf"https?://\S+?{re.escape(path)}\S+", text_of(message))
    assert match, f"no {path} link in message"
    return match.group(0)
