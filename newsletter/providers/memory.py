"""An in-memory email sender, for tests and for code that embeds the publisher."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from newsletter.providers.interfaces import Batch, Message, Recipient, SendResult, personalise


@dataclass(frozen=True)
class SentEmail:
    """One message as one recipient would receive it, placeholders filled in."""

    to: str
    name: str
    subject: str
    text: str
    html: str
    headers: dict[str, str]
    custom_args: dict[str, str]
    batch_key: str


@dataclass
class MemorySender:
    """Keeps every sent message in ``sent``; thread-safe."""

    sent: list[SentEmail] = field(default_factory=list)
    batches: list[Batch] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def send_batch(self, batch: Batch) -> SendResult:
        """Record the batch and one ``SentEmail`` per recipient."""
        emails = [_expand(batch.key, batch.message, r) for r in batch.recipients]
        with self._lock:
            self.batches.append(batch)
            self.sent.extend(emails)
        return SendResult(provider_id=f"memory-{batch.key}")

    def to(self, address: str) -> list[SentEmail]:
        """Every message sent to ``address``."""
        return [email for email in self.sent if email.to.lower() == address.lower()]


def _expand(batch_key: str, message: Message, recipient: Recipient) -> SentEmail:
    subs = recipient.substitutions
    return SentEmail(
        to=recipient.email,
        name=recipient.name,
        subject=personalise(message.subject, subs),
        text=personalise(message.text, subs),
        html=personalise(message.html, subs),
        headers={**message.headers, **recipient.headers},
        custom_args={**message.custom_args, **recipient.custom_args},
        batch_key=batch_key,
    )
