"""Render once, personalise cheaply: the shared ``Message`` of an edition and each ``Recipient``.

The edition's subject, HTML and text were rendered once (by the digest service)
with placeholders where personal links go. Here the ``Message`` is built once per
digest; per recipient only the placeholder values, the ``List-Unsubscribe`` header
and the subscriber id differ. Only the placeholders the message actually contains
travel as substitutions, which keeps a 1000-recipient request small.

``custom_args`` carry ids only, never personal data: SendGrid echoes them in every
event, which is how an event finds its delivery and a lost answer finds its batch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from newsletter import urls
from newsletter.content.edition import MailKind, mail_kind
from newsletter.digests.models import Digest, DigestVariant
from newsletter.digests.services import edition_url
from newsletter.errors import InvalidInputError
from newsletter.providers.interfaces import Message, Recipient, substitution_value
from newsletter.providers.webhook_protocol import BATCH_ID, EDITION_ID, SUBSCRIBER_ID
from newsletter.render import placeholders
from subscribers.links import Links, RecipientLinks
from subscribers.tokens import Purpose, Tokens

ONE_CLICK_POST = "List-Unsubscribe=One-Click"
TEST_SUBJECT_PREFIX = "[TEST] "


def edition_message(
    digest: Digest, *, test: bool = False, variant: DigestVariant | None = None
) -> Message:
    """The content every recipient of ``digest`` (or of its ``variant``) shares.

    Tracking, sender and reply-to come from its publication; subject, HTML and text
    from the edition, or from the topic variant its readers get. The unsubscribe
    group is the publication's group for the edition's kind of mail (none for a
    test send, which no reader's group choice should drop).
    """
    if digest.subject is None or digest.html is None or digest.text is None:
        raise InvalidInputError(f"{digest.label()} is not rendered yet (newsletter digest preview)")
    publication = digest.publication
    subject, html, text = digest.subject, digest.html, digest.text
    if variant is not None:
        subject, html, text = variant.subject, variant.html, variant.text
    if test:
        subject = TEST_SUBJECT_PREFIX + subject
    custom_args = {} if test else {EDITION_ID: str(digest.id)}
    list_id = urls.list_id_header(publication.name, publication.slug, publication.base_url)
    return Message(
        from_email=publication.from_email,
        from_name=publication.from_name,
        subject=subject,
        text=text,
        html=html,
        reply_to=publication.reply_to,
        headers={
            "List-Id": list_id,
            "List-Unsubscribe-Post": ONE_CLICK_POST,
        },
        categories=(publication.slug, "test" if test else "edition"),
        custom_args=custom_args,
        track_opens=publication.track_opens,
        track_clicks=publication.track_clicks,
        unsubscribe_group=None if test else unsubscribe_group(digest),
    )


def unsubscribe_group(digest: Digest) -> int | None:
    """The publication's provider unsubscribe group for the edition's kind of mail, if any."""
    publication = digest.publication
    if mail_kind(digest.cadence) is MailKind.ALERT:
        return publication.alert_group_id
    return publication.digest_group_id


def for_batch(message: Message, batch_id: int) -> Message:
    """The edition's message tagged with one batch id (shares every string with ``message``)."""
    custom_args = {**message.custom_args, BATCH_ID: str(batch_id)}
    return dataclasses.replace(message, custom_args=custom_args)


@dataclass(frozen=True)
class Personaliser:
    """Builds each recipient's substitutions, headers and ids from signed tokens.

    The links are ``Links.for_subscriber``'s, built inline: the tokens a recipient
    needs are signed together (``Tokens.make_each``) and everything that is the same
    for every recipient is worked out once, when the personaliser is made.
    """

    links: Links  # signs personal links under the web app, which serves their pages
    view_url: str  # the edition's archive page (the same for every recipient)
    mailto: str  # the address a mail client writes to for a mailto unsubscribe
    used: frozenset[str] = frozenset(placeholders.ALL)  # placeholders the message contains
    # The kind of mail: its unsubscribe links leave only that kind (None: the subscription).
    kind: MailKind | None = None
    # Derived from the fields above in ``__post_init__`` (again by ``dataclasses.replace``).
    _purposes: tuple[Purpose, ...] = field(init=False, repr=False, compare=False)
    _mailto_before_token: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Work out once what every recipient shares: which tokens, the mailto's start."""
        purposes: tuple[Purpose, ...] = (Purpose.UNSUBSCRIBE,)
        if placeholders.PREFERENCES_URL in self.used:
            purposes += (Purpose.PREFERENCES,)
        # The token ends the mailto (its subject), so everything before it is shared.
        mailto = RecipientLinks(token="", unsubscribe="", one_click="", preferences=None)
        object.__setattr__(self, "_purposes", purposes)
        object.__setattr__(self, "_mailto_before_token", mailto.mailto(self.mailto))

    @classmethod
    def for_digest(
        cls,
        digest: Digest,
        message: Message,
        *,
        base_url: str,
        tokens: Tokens,
        variant: DigestVariant | None = None,
    ) -> Personaliser:
        """A personaliser for ``digest`` that only fills placeholders ``message`` uses.

        "View in browser" shows what the reader received: the edition's page, or the
        page of their topic ``variant``. Unsubscribe links (the footer's, the
        ``List-Unsubscribe`` header's and its one-click POST) leave the edition's kind.
        """
        publication = digest.publication
        body = message.subject + message.text + message.html
        page = edition_url(digest)  # the date's page, its weekly roundup's or its alert's
        if variant is not None:
            page = urls.variant_page(page, variant.key)
        return cls(
            links=Links(base_url, tokens),
            view_url=page,
            mailto=publication.reply_to or publication.from_email,
            used=frozenset(marker for marker in placeholders.ALL if marker in body),
            kind=mail_kind(digest.cadence),
        )

    def recipient(self, subscriber_id: int, list_id: int, email: str, name: str) -> Recipient:
        """One subscriber's personal part of the request (a million times an edition)."""
        used = self.used
        base_url = self.links.base_url
        signed = self.links.tokens.make_each(self._purposes, subscriber_id, list_id, kind=self.kind)
        token = signed[0]
        substitutions: dict[str, str] = {}
        if placeholders.UNSUBSCRIBE_URL in used:
            substitutions[placeholders.UNSUBSCRIBE_URL] = urls.unsubscribe_page(base_url, token)
        if len(signed) > 1:
            substitutions[placeholders.PREFERENCES_URL] = urls.preferences_page(base_url, signed[1])
        if placeholders.VIEW_URL in used:
            substitutions[placeholders.VIEW_URL] = self.view_url
        if placeholders.NAME in used:
            # The name is the subscriber's own text: safe in subject, text and HTML alike.
            substitutions[placeholders.NAME] = substitution_value(placeholders.NAME, name)
        one_click = urls.one_click_unsubscribe(base_url, token)
        return Recipient(
            email=email,
            name=name,
            substitutions=substitutions,
            headers={"List-Unsubscribe": f"<{one_click}>, <{self._mailto_before_token}{token}>"},
            custom_args={SUBSCRIBER_ID: str(subscriber_id)},
        )

    def anonymous(self, email: str, signup_url: str) -> Recipient:
        """A test recipient who is not a subscriber: links lead to the edition and sign-up.

        The message says ``List-Unsubscribe-Post``, so the copy carries a
        ``List-Unsubscribe`` too (RFC 8058 wants both), with the sign-up page the
        copy's own unsubscribe link leads to: the editor sees what a reader's mail
        client shows, and a one-click POST there changes nobody's subscription.
        """
        values = {
            placeholders.UNSUBSCRIBE_URL: signup_url,
            placeholders.PREFERENCES_URL: signup_url,
            placeholders.VIEW_URL: self.view_url,
            placeholders.NAME: "",
        }
        return Recipient(
            email=email,
            substitutions={key: value for key, value in values.items() if key in self.used},
            headers={"List-Unsubscribe": f"<{signup_url}>"},
        )
