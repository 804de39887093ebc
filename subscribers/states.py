"""Subscription states, suppression reasons and consent sources, without the tables: the
command line offers them without SQLAlchemy."""

from __future__ import annotations

from enum import StrEnum


class SubscriptionState(StrEnum):
    """Where a subscription stands; only ``confirmed`` receives editions."""

    PENDING = "pending"
    CONFIRMED = "confirmed"
    UNSUBSCRIBED = "unsubscribed"
    EXPIRED = "expired"


class SuppressionReason(StrEnum):
    """Why an address must never be mailed (dispatch honours every reason)."""

    HARD_BOUNCE = "hard_bounce"
    SPAM_REPORT = "spam_report"
    GLOBAL_UNSUBSCRIBE = "global_unsubscribe"
    MANUAL = "manual"
    ERASED = "erased"


class ConsentSource(StrEnum):
    """Where a consent (or its withdrawal) came from."""

    WEB = "web"
    API = "api"
    IMPORT = "import"
    CLI = "cli"
    EMAIL = "email"  # a link in an email: confirm, preferences, unsubscribe
    ONE_CLICK = "one_click"  # RFC 8058 POST from a mail client
    BACK_OFFICE = "back_office"  # an admin in the editors' app (the text names them)
