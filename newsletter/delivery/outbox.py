"""The local outbox: every message written as one RFC 5322 ``.eml`` file per recipient.

This is the embedded default provider. Each file is what that recipient's mail
client would receive: placeholders substituted, per-recipient headers (such as
``List-Unsubscribe``) added, text before HTML in a ``multipart/alternative``. Files are
written to a temporary name and renamed, so a reader never sees half a message, and
named ``<nanoseconds>-<counter>-<random>.eml`` so they sort in the order sent.

Addresses go in as ``Address`` objects, never through ``formataddr`` (which refuses
anything non-ASCII): an ASCII address gets the usual 7-bit headers, and a message to
or from an internationalised address (RFC 6531/6532) is written with a UTF-8 policy,
so the outbox can store whatever the sender was given. The outbox is personal data:
``remove_messages_to`` deletes every file addressed to one person.
"""

from __future__ import annotations

import itertools
import os
import secrets
import threading
import time
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import HeaderParser
from email.utils import format_datetime, make_msgid
from pathlib import Path

from newsletter.db import utcnow
from newsletter.delivery.interfaces import Batch, Recipient, SendResult, personalise
from newsletter.errors import PermanentError

_counter = itertools.count()
# Fold only past RFC 5322's hard limit: the default (78) re-encodes a long header word,
# and a List-Unsubscribe URL written as an RFC 2047 encoded-word is one no mail client
# can use (RFC 2369 wants the URLs as they are, in angle brackets).
_ASCII = policy.default.clone(max_line_length=998)
# RFC 6532: raw UTF-8 headers, needed only when an address itself is not ASCII.
_UTF8 = _ASCII.clone(utf8=True)
_counter_lock = threading.Lock()


def _file_name() -> str:
    with _counter_lock:
        number = next(_counter)
    return f"{time.time_ns():020d}-{number:06d}-{secrets.token_hex(4)}.eml"


def _address(name: str, addr_spec: str) -> Address:
    """An address header value; ``ValueError`` for CR/LF or a missing @."""
    local, at, domain = addr_spec.rpartition("@")
    if not at or not local or not domain:
        raise ValueError(f"{addr_spec!r} is not an address")
    return Address(display_name=name, username=local, domain=domain)


def build_message(batch: Batch, recipient: Recipient) -> EmailMessage:
    """The complete email one recipient of ``batch`` receives."""
    message = batch.message
    subs = recipient.substitutions
    ascii_only = message.from_email.isascii() and recipient.email.isascii()
    email = EmailMessage(policy=_ASCII if ascii_only else _UTF8)
    domain = message.from_email.rpartition("@")[2] or "localhost"
    try:
        email["From"] = _address(message.from_name, message.from_email)
        email["To"] = _address(recipient.name, recipient.email)
        if message.reply_to:
            email["Reply-To"] = message.reply_to
        email["Subject"] = personalise(message.subject, subs)
        email["Date"] = format_datetime(utcnow())
        email["Message-ID"] = make_msgid(domain=domain)
        for name, value in {**message.headers, **recipient.headers}.items():
            email[name] = personalise(value, subs)
        email.set_content(personalise(message.text, subs))
        email.add_alternative(personalise(message.html, subs), subtype="html")
    except ValueError as exc:  # header injection (CR/LF) or an unusable address
        raise PermanentError(
            f"outbox: cannot build a message to {recipient.email!r}: {exc}"
        ) from exc
    return email


class OutboxSender:
    """Writes each recipient's message into ``directory`` as an ``.eml`` file."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def send_batch(self, batch: Batch) -> SendResult:
        """Write one file per recipient; all messages are built before any is written."""
        messages = [build_message(batch, recipient) for recipient in batch.recipients]
        self.directory.mkdir(parents=True, exist_ok=True)
        for message in messages:
            name = _file_name()
            temporary = self.directory / f".{name}.tmp"
            temporary.write_bytes(bytes(message))
            os.replace(temporary, self.directory / name)
        return SendResult(provider_id=f"outbox-{batch.key}")

    def files(self) -> list[Path]:
        """Every written message, oldest first."""
        if not self.directory.is_dir():
            return []
        return sorted(self.directory.glob("*.eml"))


def remove_messages_to(directory: Path, email: str) -> int:
    """Delete every outbox file addressed to ``email`` (case-insensitive); returns how many."""
    wanted = email.strip().lower()
    parser = HeaderParser(policy=policy.default)
    removed = 0
    for path in OutboxSender(directory).files():
        # Decoded as UTF-8 (RFC 6532 headers are, ASCII ones too): the bytes parser would
        # turn a non-ASCII address into surrogates that never match.
        headers = parser.parsestr(path.read_bytes().decode("utf-8", "replace"))
        to = headers.get("To")
        addresses = getattr(to, "addresses", ())
        if any(address.addr_spec.lower() == wanted for address in addresses):
            path.unlink(missing_ok=True)  # a concurrent erase may have removed it first
            removed += 1
    return removed
