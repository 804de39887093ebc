"""What a provider's Event Webhook carries: its signature headers, its event kinds, our keys.

SendGrid signs each post with two headers and names each event's type; the keys in
``custom_args`` are ours: dispatch puts them in every message and SendGrid echoes them
in every event (the outbox names its files after them).
"""

from __future__ import annotations

from enum import StrEnum

from sendgrid.helpers.eventwebhook import EventWebhookHeader

SIGNATURE_HEADER: str = EventWebhookHeader.SIGNATURE
TIMESTAMP_HEADER: str = EventWebhookHeader.TIMESTAMP

# The keys dispatch puts in each message's ``custom_args``; SendGrid echoes them in every event.
EDITION_ID = "edition_id"
BATCH_ID = "batch_id"
SUBSCRIBER_ID = "subscriber_id"


class EventKind(StrEnum):
    """The SendGrid event types we act on; ``OTHER`` for any type added later."""

    PROCESSED = "processed"
    DELIVERED = "delivered"
    DEFERRED = "deferred"
    BOUNCE = "bounce"
    DROPPED = "dropped"
    SPAMREPORT = "spamreport"
    UNSUBSCRIBE = "unsubscribe"
    GROUP_UNSUBSCRIBE = "group_unsubscribe"
    GROUP_RESUBSCRIBE = "group_resubscribe"
    OPEN = "open"
    CLICK = "click"
    OTHER = "other"
