"""Per-recipient placeholders written into a rendered email.

An edition is rendered once; these markers stand where each recipient's own links
and name go. The dispatch step passes their values as SendGrid substitutions (the
outbox and in-memory senders replace them the same way). The markers use only
characters that survive MJML, HTML attribute escaping and text wrapping unchanged.
"""

from __future__ import annotations

UNSUBSCRIBE_URL = "%%unsubscribe_url%%"
PREFERENCES_URL = "%%preferences_url%%"
VIEW_URL = "%%view_url%%"
NAME = "%%name%%"

ALL = (UNSUBSCRIBE_URL, PREFERENCES_URL, VIEW_URL, NAME)
