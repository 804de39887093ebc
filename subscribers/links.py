"""The personal links of one subscriber on one list, as dispatch and emails use them."""

from __future__ import annotations

from dataclasses import dataclass

from newsletter import urls
from subscribers.tokens import Purpose, Tokens, TokenSubject


@dataclass(frozen=True)
class Links:
    """Builds signed personal URLs under the web app's ``base_url``."""

    base_url: str
    tokens: Tokens

    def confirm_url(self, subscriber_id: int, list_id: int) -> str:
        """The double opt-in confirmation URL (expires)."""
        token = self.tokens.make(Purpose.CONFIRM, TokenSubject(subscriber_id, list_id))
        return urls.confirm_page(self.base_url, token)

    def unsubscribe_url(self, subscriber_id: int, list_id: int) -> str:
        """The visible unsubscribe link for an email body."""
        token = self.tokens.make(Purpose.UNSUBSCRIBE, TokenSubject(subscriber_id, list_id))
        return urls.unsubscribe_page(self.base_url, token)

    def one_click_url(self, subscriber_id: int, list_id: int) -> str:
        """The RFC 8058 one-click URL for the ``List-Unsubscribe`` header."""
        token = self.tokens.make(Purpose.UNSUBSCRIBE, TokenSubject(subscriber_id, list_id))
        return urls.one_click_unsubscribe(self.base_url, token)

    def preferences_url(self, subscriber_id: int, list_id: int) -> str:
        """The preferences page of this subscriber, opened from this list's email."""
        token = self.tokens.make(Purpose.PREFERENCES, TokenSubject(subscriber_id, list_id))
        return urls.preferences_page(self.base_url, token)
