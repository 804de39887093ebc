"""The small protocol every email provider implements, and the values it takes.

A ``Batch`` is one provider request: one rendered message (subject, HTML, text,
rendered once per edition) and up to 1000 recipients. What differs per recipient
(unsubscribe / preferences / view-in-browser URLs, name) travels as
``substitutions``: placeholders such as ``{{unsubscribe_url}}`` written into the
rendered message, replaced by the provider for each recipient (SendGrid
``personalizations[].substitutions``; the outbox and the in-memory sender replace
them themselves). Per-recipient headers carry ``List-Unsubscribe``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

MAX_RECIPIENTS_PER_BATCH = 1000
# SendGrid: a send_at at most 72 hours ahead; a batch id can be cancelled or paused
# only until ten minutes before its send_at, and at most ten at one time.
MAX_SCHEDULE_AHEAD = timedelta(hours=72)
CANCEL_CUTOFF = timedelta(minutes=10)
CANCEL_LIMIT = 10
# We ask for a cancel no later than this before the provider's cutoff, so that a slow
# answer still lands in time: a request sent later than that cannot be cancelled.
SETTLE_MARGIN = timedelta(minutes=1)


@dataclass(frozen=True)
class Recipient:
    """One addressee of a batch, with what is personal to them."""

    email: str
    name: str = ""
    substitutions: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    custom_args: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Message:
    """The content shared by every recipient of a batch."""

    from_email: str
    from_name: str
    subject: str
    text: str
    html: str
    reply_to: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    categories: tuple[str, ...] = ()
    custom_args: dict[str, str] = field(default_factory=dict)
    track_opens: bool = False
    track_clicks: bool = False
    # The provider's unsubscribe group of this kind of mail (SendGrid ``asm.group_id``):
    # the provider drops recipients who left the group. None: no group.
    unsubscribe_group: int | None = None


@dataclass(frozen=True)
class Batch:
    """One provider request: a message and its recipients (unique addresses, at most 1000)."""

    key: str
    message: Message
    recipients: tuple[Recipient, ...]
    # Scheduled sending: the provider holds the mail until ``send_at``, under the
    # provider batch id ``provider_batch`` (which can cancel it until shortly before).
    send_at: datetime | None = None
    provider_batch: str = ""

    def __post_init__(self) -> None:
        if not self.recipients:
            raise ValueError("a batch needs at least one recipient")
        if len(self.recipients) > MAX_RECIPIENTS_PER_BATCH:
            raise ValueError(f"a batch holds at most {MAX_RECIPIENTS_PER_BATCH} recipients")
        addresses = [r.email.lower() for r in self.recipients]
        if len(set(addresses)) != len(addresses):
            raise ValueError("a batch must not name the same address twice")


@dataclass(frozen=True)
class SendResult:
    """What the provider said about an accepted batch."""

    provider_id: str = ""
    rejected: dict[str, str] = field(default_factory=dict)  # address -> reason, if any


@runtime_checkable
class EmailSender(Protocol):
    """Sends batches; raises ``RetryableError`` or ``PermanentError`` on failure."""

    def send_batch(self, batch: Batch) -> SendResult:
        """Hand one batch to the provider."""
        ...


@runtime_checkable
class ScheduledSender(EmailSender, Protocol):
    """A provider that holds mail until a ``send_at`` and can cancel it by batch id (SendGrid).

    Every method raises ``RetryableError`` (``OutcomeUnknownError`` when the answer
    was lost) or ``PermanentError`` as ``send_batch`` does.
    """

    def create_batch_id(self) -> str:
        """A new provider batch id to send a group of requests under."""
        ...

    def cancel_batch(self, batch_id: str) -> None:
        """Ask the provider to discard every message of ``batch_id`` at its send_at."""
        ...

    def batch_status(self, batch_id: str) -> str | None:
        """``"cancel"`` or ``"pause"`` if the batch id is held back, None if it is not."""
        ...

    def lift_batch(self, batch_id: str) -> None:
        """Remove a cancel or pause from ``batch_id`` (only safe once its send_at has passed)."""
        ...


def can_schedule(sender: EmailSender) -> bool:
    """Whether ``sender`` holds mail until a send_at and can cancel it (SendGrid)."""
    return isinstance(sender, ScheduledSender)


def resends_replace(sender: EmailSender | None) -> bool:
    """Whether sending a batch again replaces what an earlier attempt left (the outbox).

    Such a provider cannot make a second copy, so a batch whose outcome nobody
    recorded may simply be sent again, at once and as often as needed.
    """
    return bool(getattr(sender, "resends_replace", False))


def personalise(template: str, substitutions: dict[str, str]) -> str:
    """Replace each substitution key in ``template`` by its value (as SendGrid does)."""
    for key, value in substitutions.items():
        template = template.replace(key, value)
    return template


# A substitution value lands unchanged in the subject, the text and the HTML part, so
# it must mean the same in all three: HTML's special characters become look-alikes.
_HTML_SPECIAL = "&<>\"'"
_FIND_HTML_SPECIAL = re.compile(f"[{re.escape(_HTML_SPECIAL)}]")  # one C-level scan per value
_LOOKALIKES = str.maketrans({"&": "＆", "<": "‹", ">": "›", '"': "”", "'": "’"})


def has_html_special(value: str) -> bool:
    """Whether ``value`` holds any of ``& < > " '``."""
    return _FIND_HTML_SPECIAL.search(value) is not None


def substitution_value(key: str, value: str) -> str:
    """``value`` made safe to appear unchanged in both the HTML and the text part."""
    if not has_html_special(value):
        return value
    if key.strip("%").endswith("_url"):
        raise ValueError(f"{key} must not contain any of {_HTML_SPECIAL}: {value!r}")
    return value.translate(_LOOKALIKES)
