"""The personal links of one subscriber on one list, as dispatch and emails use them."""

from __future__ import annotations

from dataclasses import dataclass

from newsletter import urls
from newsletter.content.edition import MailKind
from subscribers.tokens import Purpose, Tokens, TokenSubject


@dataclass(frozen=True)
class RecipientLinks:
    """Every personal link of one subscriber on one list, sharing one unsubscribe token."""

    token: str  # the signed unsubscribe token, also the subject of a mailto unsubscribe
    unsubscribe: str  # the visible unsubscribe page for an email body
    one_click: str  # the RFC 8058 one-click URL for the ``List-Unsubscribe`` header
    preferences: str | None  # None when the caller did not ask for it

    def mailto(self, address: str) -> str:
        """A ``mailto:`` unsubscribe to ``address`` that carries the token in its subject."""
        # Tokens are URL-safe already, so only the space needs encoding.
        return f"mailto:{address}?subject=unsubscribe%20{self.token}"


@dataclass(frozen=True)
class Links:
    """Builds signed personal URLs under the web app's ``base_url``."""

    base_url: str
    tokens: Tokens

    def confirm_url(self, subscriber_id: int, list_id: int) -> str:
        """The double opt-in confirmation URL (expires)."""
        token = self.tokens.make(Purpose.CONFIRM, TokenSubject(subscriber_id, list_id))
        return urls.confirm_page(self.base_url, token)

    def for_subscriber(
        self,
        subscriber_id: int,
        list_id: int,
        *,
        preferences: bool = True,
        kind: MailKind | None = None,
    ) -> RecipientLinks:
        """All of a recipient's links from one signed unsubscribe token (and one preferences one).

        Dispatch signs these for every recipient of an edition: one unsubscribe token
        serves the page, the one-click URL and the mailto, and ``preferences=False``
        skips the second signature when the message has no preferences link. With a
        ``kind`` the unsubscribe links leave only that kind of mail.
        """
        subject = TokenSubject(subscriber_id, list_id, kind)
        token = self.tokens.make(Purpose.UNSUBSCRIBE, subject)
        return RecipientLinks(
            token=token,
            unsubscribe=urls.unsubscribe_page(self.base_url, token),
            one_click=urls.one_click_unsubscribe(self.base_url, token),
            preferences=self.preferences_url(subscriber_id, list_id) if preferences else None,
        )

    def unsubscribe_url(
        self, subscriber_id: int, list_id: int, *, kind: MailKind | None = None
    ) -> str:
        """The visible unsubscribe link for an email body (of one ``kind`` of mail)."""
        links = self.for_subscriber(subscriber_id, list_id, preferences=False, kind=kind)
        return links.unsubscribe

    def one_click_url(
        self, subscriber_id: int, list_id: int, *, kind: MailKind | None = None
    ) -> str:
        """The RFC 8058 one-click URL for the ``List-Unsubscribe`` header (of one ``kind``)."""
        links = self.for_subscriber(subscriber_id, list_id, preferences=False, kind=kind)
        return links.one_click

    def preferences_url(self, subscriber_id: int, list_id: int) -> str:
        """The preferences page of this subscriber, opened from this list's email."""
        token = self.tokens.make(Purpose.PREFERENCES, TokenSubject(subscriber_id, list_id))
        return urls.preferences_page(self.base_url, token)
