"""The double opt-in email, rendered once per list and personalised per recipient.

The confirmation link is a per-recipient placeholder, like the unsubscribe link of an
edition, so a CSV import of thousands of pending addresses renders the template once
and sends batches of up to 1000 recipients.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from newsletter.delivery.interfaces import (
    MAX_RECIPIENTS_PER_BATCH,
    Batch,
    EmailSender,
    Message,
    Recipient,
)
from newsletter.publications.models import Publication
from newsletter.publications.services import publication_info
from newsletter.render.email import RenderedMessage, base_context, render_template_email
from subscribers.links import Links
from subscribers.models import MailingList, Subscription

CONFIRM_URL = "%%confirm_url%%"
TEMPLATE = "confirm-subscription"

Render = Callable[[str, dict[str, Any]], RenderedMessage]


def confirmation_context(
    publication: Publication, mailing_list: MailingList, expires: timedelta
) -> dict[str, Any]:
    """Template context of the confirmation email of one list."""
    return {
        **base_context(publication_info(publication)),
        "preheader": "One click and you are in. If you did not ask for this, ignore it.",
        "list_name": mailing_list.name,
        "confirm_url": CONFIRM_URL,
        "expires_hours": max(1, int(expires.total_seconds() // 3600)),
    }


class EmailConfirmer:
    """Sends confirmation emails through an ``EmailSender``."""

    def __init__(
        self,
        sender: EmailSender,
        links: Links,
        *,
        expires: timedelta,
        render: Render = render_template_email,
    ) -> None:
        self.sender = sender
        self.links = links
        self.expires = expires
        self.render = render

    def send(self, subscriptions: Sequence[Subscription]) -> None:
        """Email each subscription's confirmation link, one render per list."""
        by_list: dict[int, list[Subscription]] = {}
        for subscription in subscriptions:
            by_list.setdefault(subscription.list_id, []).append(subscription)
        for group in by_list.values():
            mailing_list = group[0].mailing_list
            publication = mailing_list.publication
            context = confirmation_context(publication, mailing_list, self.expires)
            rendered = self.render(TEMPLATE, context)
            message = Message(
                from_email=publication.from_email,
                from_name=publication.from_name,
                subject=rendered.subject,
                text=rendered.text,
                html=rendered.html,
                reply_to=publication.reply_to,
                categories=("confirm-subscription",),
            )
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
