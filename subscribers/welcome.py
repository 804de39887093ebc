"""The welcome email: sent once per confirmation, after the commit that confirmed.

Who is welcomed: a subscription confirmed by the reader (the double opt-in link, a
single opt-in sign-up on the form or the API, joining on the preferences page) or by
an operator on the command line. An import never mails anyone, so a confirmation
whose consent record came from an import is not welcomed.

Exactly once, even if the process dies. The confirmation is committed first, with
``welcomed_at`` empty: that is the durable "a welcome is owed". Then, after the
commit (``aftercommit``, as the confirmation email), ``send_welcomes`` renders the
mail, *claims* it with one conditional UPDATE (``welcomed_at`` set where it is still
empty, for this very confirmation) and commits the claim, and only then calls the
provider. So:

* a process that dies before the claim leaves the welcome owed: the pipeline tick
  (``welcome_due``) sends it, as long as the confirmation is younger than
  ``Settings.welcome_window``;
* two senders racing (the web process and the tick) both try the claim; only one
  row changes, and only its holder sends;
* a process that dies after the claim has either sent or not: the welcome is never
  sent a second time (it is rendered before the claim, so only the provider call
  remains after it). The provider answering with an error that proves nothing left
  (a refused connection, 429, 5xx: ``RetryableError`` but not
  ``OutcomeUnknownError``) releases the claim, so the tick tries again.

The only way to lose a welcome is a crash between the committed claim and the
provider call, a window of one function call; it is the price of never sending two.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from newsletter import i18n
from newsletter.db import utcnow
from newsletter.errors import OutcomeUnknownError, PermanentError, RetryableError
from newsletter.providers.interfaces import Batch, EmailSender, Message, Recipient
from newsletter.publications.models import Publication
from newsletter.publications.services import publication_info
from newsletter.render import placeholders
from newsletter.render.context import language_of
from newsletter.render.context import marked as _
from newsletter.render.email import RenderedMessage, base_context, render_template_email
from subscribers.aftercommit import after_commit
from subscribers.confirmation import list_message
from subscribers.links import Links
from subscribers.models import (
    Consent,
    ConsentSource,
    MailingList,
    Subscription,
    SubscriptionState,
)

log = logging.getLogger(__name__)

TEMPLATE = "welcome"
CATEGORY = "welcome"
# An import never mails: its confirmations owe no welcome.
NOT_WELCOMED = frozenset({ConsentSource.IMPORT})
SUBJECT_MAX = 300
BODY_MAX = 5000
_PARAGRAPHS = re.compile(r"\n\s*\n")
ONE_CLICK_POST = "List-Unsubscribe=One-Click"

Render = Callable[[str, dict[str, Any]], RenderedMessage]
# The language a subscription's emails are written in (None: the publication's).
LanguageFor = Callable[[Subscription], str | None]
PREHEADER = _("You are subscribed to %(list)s.")
HEADING = _("Welcome to %(list)s")


class Welcomer(Protocol):
    """Makes and sends welcome emails (``send_welcomes`` decides who, and when)."""

    def batch(self, subscription: Subscription) -> Batch:
        """This subscription's welcome, rendered, as one provider request."""
        ...

    def send(self, batch: Batch) -> None:
        """Hand it to the provider (raises as ``EmailSender.send_batch`` does)."""
        ...


def paragraphs(text: str) -> list[str]:
    """A plain-text body as paragraphs: split on blank lines, each one's lines joined."""
    return [" ".join(part.split()) for part in _PARAGRAPHS.split(text.strip()) if part.strip()]


def clean_welcome(subject: str, body: str) -> tuple[str, str]:
    """A publication's welcome subject and body as typed, checked (``ValueError`` names the field).

    Plain text only: the subject is one line, the body paragraphs separated by blank
    lines; both are escaped where they are shown. Empty means the built-in text.
    """
    subject = " ".join(subject.split())
    body = "\n".join(line.rstrip() for line in body.strip().splitlines())
    if len(subject) > SUBJECT_MAX:
        raise ValueError(f"welcome_subject: at most {SUBJECT_MAX} characters, got {len(subject)}")
    if len(body) > BODY_MAX:
        raise ValueError(f"welcome_body: at most {BODY_MAX} characters, got {len(body)}")
    return subject, body


def welcome_context(
    publication: Publication, mailing_list: MailingList, *, language: str | None = None
) -> dict[str, Any]:
    """Template context of one list's welcome email (the publication's text, or the
    built-in) in ``language``, the publication's by default. The publication's own
    subject and text are its editors' words and stay as written."""
    info = publication_info(publication)
    tag = language_of(info, language)
    context = base_context(info, language=tag)
    subject = " ".join(publication.welcome_subject.split())
    names = {"list": mailing_list.name}
    return {
        **context,
        "preheader": i18n.gettext_for(tag, PREHEADER) % names,
        "list_name": mailing_list.name,
        "heading": subject or i18n.gettext_for(tag, HEADING) % names,
        "paragraphs": paragraphs(publication.welcome_body),
        "home_url": context["brand"]["home_url"],
    }


class EmailWelcomer:
    """Renders and sends welcome emails through an ``EmailSender``, one request per reader."""

    def __init__(
        self,
        sender: EmailSender,
        links: Links,
        *,
        render: Render = render_template_email,
        language_for: LanguageFor | None = None,
    ) -> None:
        self.sender = sender
        self.links = links
        self.render = render
        self.language_for = language_for

    def message(self, mailing_list: MailingList, *, language: str | None = None) -> Message:
        """The welcome of one list in ``language`` (the publication's by default), with
        placeholders for the reader's own links."""
        publication = mailing_list.publication
        context = welcome_context(publication, mailing_list, language=language)
        rendered = self.render(TEMPLATE, context)
        return list_message(
            mailing_list,
            rendered,
            category=CATEGORY,
            headers={"List-Unsubscribe-Post": ONE_CLICK_POST},
        )

    def recipient(self, subscription: Subscription) -> Recipient:
        """The reader's address, links and ``List-Unsubscribe`` header."""
        subscriber = subscription.subscriber
        links = self.links.for_subscriber(subscriber.id, subscription.list_id)
        assert links.preferences is not None
        return Recipient(
            email=subscriber.email,
            name=subscriber.name,
            substitutions={
                placeholders.UNSUBSCRIBE_URL: links.unsubscribe,
                placeholders.PREFERENCES_URL: links.preferences,
            },
            headers={"List-Unsubscribe": f"<{links.one_click}>"},
        )

    def batch(self, subscription: Subscription) -> Batch:
        """One welcome; its key names the confirmation, so logs tie it to the claim."""
        confirmed = subscription.confirmed_at
        stamp = f"{confirmed:%Y%m%dT%H%M%S%f}" if confirmed is not None else "none"
        return Batch(
            key=f"welcome-{subscription.id}-{stamp}",
            message=self.message(
                subscription.mailing_list,
                language=self.language_for(subscription) if self.language_for else None,
            ),
            recipients=(self.recipient(subscription),),
        )

    def send(self, batch: Batch) -> None:
        """Hand one welcome to the provider."""
        self.sender.send_batch(batch)


def _owed(now: datetime, window: timedelta) -> Any:
    """The WHERE clause of a subscription owed its welcome (see the module's docstring)."""
    confirming = (
        select(Consent.id)
        .where(
            Consent.subscriber_id == Subscription.subscriber_id,
            Consent.list_id == Subscription.list_id,
            Consent.to_state == SubscriptionState.CONFIRMED.value,
            Consent.at == Subscription.confirmed_at,
            Consent.source.not_in(list(NOT_WELCOMED)),
        )
        .exists()
    )
    return (
        (Subscription.state == SubscriptionState.CONFIRMED)
        & Subscription.welcomed_at.is_(None)
        & Subscription.confirmed_at.is_not(None)
        & (Subscription.confirmed_at >= now - window)
        & confirming
    )


def welcome_due(
    session: Session, *, now: datetime, window: timedelta, limit: int = 1000
) -> list[int]:
    """Subscriptions confirmed within ``window`` whose welcome was never claimed (oldest first)."""
    query = (
        select(Subscription.id)
        .where(_owed(now, window))
        .order_by(Subscription.confirmed_at, Subscription.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def _claim(session: Session, subscription: Subscription, now: datetime) -> bool:
    """Take this confirmation's welcome (commit before sending); False if it was taken."""
    taken = session.execute(
        update(Subscription)
        .where(
            Subscription.id == subscription.id,
            Subscription.state == SubscriptionState.CONFIRMED,
            Subscription.welcomed_at.is_(None),
            Subscription.confirmed_at == subscription.confirmed_at,
        )
        .values(welcomed_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(taken.rowcount == 1)  # type: ignore[attr-defined]


def _release(session: Session, subscription_id: int, claimed_at: datetime) -> None:
    """Give back a claim whose request provably never left (the tick tries again)."""
    session.execute(
        update(Subscription)
        .where(Subscription.id == subscription_id, Subscription.welcomed_at == claimed_at)
        .values(welcomed_at=None)
        .execution_options(synchronize_session=False)
    )


def send_welcomes(
    session_factory: Callable[[], Session],
    welcomer: Welcomer,
    subscription_ids: Iterable[int],
    *,
    window: timedelta,
    now: Callable[[], datetime] = utcnow,
) -> int:
    """Claim, commit, then send each owed welcome among ``subscription_ids``; how many were sent.

    Each in a transaction of its own: one reader's failure never holds back another's.
    """
    sent = 0
    for subscription_id in subscription_ids:
        with session_factory() as session:
            at = now()
            subscription = session.scalar(
                select(Subscription).where(Subscription.id == subscription_id, _owed(at, window))
            )
            if subscription is None:
                continue
            # Rendered before the claim: a template error must not cost the welcome.
            batch = welcomer.batch(subscription)
            if not _claim(session, subscription, at):
                session.rollback()
                continue
            session.commit()
            try:
                welcomer.send(batch)
            except OutcomeUnknownError as exc:
                log.warning("welcome %d: outcome unknown, not sent again: %s", subscription_id, exc)
                continue
            except RetryableError as exc:
                log.warning("welcome %d: not sent, the tick tries again: %s", subscription_id, exc)
                _release(session, subscription_id, at)
                session.commit()
                continue
            except PermanentError as exc:
                log.error("welcome %d: refused by the provider: %s", subscription_id, exc)
                continue
            sent += 1
    return sent


def welcome_after_commit(
    session: Session,
    welcomer: Welcomer | None,
    subscriptions: Sequence[Subscription],
    *,
    window: timedelta,
) -> None:
    """Send these subscriptions' welcomes once ``session`` commits (dropped on rollback).

    Without a welcomer (a caller that cannot send mail) the tick sends them instead.
    """
    if welcomer is None or not subscriptions:
        return
    session.flush()
    ids = [subscription.id for subscription in subscriptions]
    bind = session.get_bind()

    def send() -> None:
        try:
            send_welcomes(lambda: Session(bind), welcomer, ids, window=window)
        except Exception:  # the confirmation is committed: the tick sends what is left
            log.exception("welcome mail after confirmation failed; the tick will retry")

    after_commit(session, send)
