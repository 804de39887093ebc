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
from typing import Protocol, runtime_checkable

MAX_RECIPIENTS_PER_BATCH = 1000


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


@dataclass(frozen=True)
class Batch:
    """One provider request: a message and its recipients (unique addresses, at most 1000)."""

    key: str
    message: Message
    recipients: tuple[Recipient, ...]

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
