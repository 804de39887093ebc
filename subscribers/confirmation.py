"""The double opt-in email, rendered once per list and personalised per recipient.

The confirmation link is a per-recipient placeholder, like the unsubscribe link of an
edition, so a CSV import of thousands of pending addresses renders the template once
and sends batches of up to 1000 recipients. The footer says how the address reached
us (our form, an import, an operator, another site through the API), so a reader
who never saw our form is not told they filled it in.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from newsletter import i18n, urls
from newsletter.providers.interfaces import (
    MAX_RECIPIENTS_PER_BATCH,
    Batch,
    EmailSender,
    Message,
    Recipient,
)
from newsletter.publications.models import Publication
from newsletter.publications.services import publication_info
from newsletter.render.context import language_of
from newsletter.render.context import marked as _
from newsletter.render.email import RenderedMessage, base_context, render_template_email
from subscribers.links import Links
from subscribers.models import ConsentSource, MailingList, Subscription

CONFIRM_URL = "%%confirm_url%%"
TEMPLATE = "confirm-subscription"

Render = Callable[[str, dict[str, Any]], RenderedMessage]
# The language a subscription's emails are written in (None: the publication's).
LanguageFor = Callable[[Subscription], str | None]

# The footer's sentence for each way a sign-up reaches us (translated when rendered).
REASONS: dict[ConsentSource, str] = {
    ConsentSource.WEB: _(
        "You received this email because this address was entered on our sign-up form."
    ),
    ConsentSource.API: _(
        "You received this email because this address was sent to us by a sign-up form "
        "on another site or app."
    ),
    ConsentSource.IMPORT: _(
        "You received this email because this address was in a subscriber list our team imported."
    ),
    ConsentSource.CLI: _(
        "You received this email because a member of our team added this address."
    ),
}
DEFAULT_REASON = _("You received this email because someone asked us to subscribe this address.")
PREHEADER = _("One click and you are in. If you did not ask for this, ignore it.")


def confirmation_context(
    publication: Publication,
    mailing_list: MailingList,
    expires: timedelta,
    source: ConsentSource = ConsentSource.WEB,
    *,
    language: str | None = None,
) -> dict[str, Any]:
    """Template context of the confirmation email of one list, for sign-ups from ``source``,
    in ``language`` (the publication's by default)."""
    info = publication_info(publication)
    tag = language_of(info, language)
    return {
        **base_context(info, language=tag),
        "preheader": i18n.gettext_for(tag, PREHEADER),
        "list_name": mailing_list.name,
        "confirm_url": CONFIRM_URL,
        "expires_hours": max(1, int(expires.total_seconds() // 3600)),
        "reason": i18n.gettext_for(tag, REASONS.get(source, DEFAULT_REASON)),
    }


class EmailConfirmer:
    """Sends confirmation emails through an ``EmailSender``, for sign-ups from ``source``."""

    def __init__(
        self,
        sender: EmailSender,
        links: Links,
        *,
        expires: timedelta,
        source: ConsentSource = ConsentSource.WEB,
        render: Render = render_template_email,
        language_for: LanguageFor | None = None,
    ) -> None:
        self.sender = sender
        self.links = links
        self.expires = expires
        self.source = source
        self.render = render
        self.language_for = language_for

    def send(self, subscriptions: Sequence[Subscription]) -> None:
        """Email each subscription's confirmation link, one render per list and language."""
        by_list: dict[tuple[int, str | None], list[Subscription]] = {}
        for subscription in subscriptions:
            language = self.language_for(subscription) if self.language_for else None
            by_list.setdefault((subscription.list_id, language), []).append(subscription)
        for (_list_id, language), group in by_list.items():
            mailing_list = group[0].mailing_list
            publication = mailing_list.publication
            context = confirmation_context(
                publication, mailing_list, self.expires, self.source, language=language
            )
            rendered = self.render(TEMPLATE, context)
            message = list_message(mailing_list, rendered, category="confirm-subscription")
            for start in range(0, len(group), MAX_RECIPIENTS_PER_BATCH):
                chunk = group[start : start + MAX_RECIPIENTS_PER_BATCH]
                recipients = tuple(self._recipient(subscription) for subscription in chunk)
                key = f"confirm-{mailing_list.id}-{secrets.token_hex(8)}"
                self.sender.send_batch(Batch(key=key, message=message, recipients=recipients))

    def _recipient(self, subscription: Subscription) -> Recipient:
        subscriber = subscription.subscriber
        url = self.links.confirm_url(subscriber.id, subscription.list_id)
        return Recipient(
            email=subscriber.email, name=subscriber.name, substitutions={CONFIRM_URL: url}
        )


def list_message(
    mailing_list: MailingList,
    rendered: RenderedMessage,
    *,
    category: str,
    headers: dict[str, str] | None = None,
) -> Message:
    """A rendered email to a list's readers, from its publication's sender, with its
    ``List-Id`` (and ``headers``): what the confirmation and the welcome share."""
    publication = mailing_list.publication
    list_id = urls.list_id_header(mailing_list.name, mailing_list.slug, publication.base_url)
    return Message(
        from_email=publication.from_email,
        from_name=publication.from_name,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        reply_to=publication.reply_to,
        headers={"List-Id": list_id, **(headers or {})},
        categories=(category,),
    )
